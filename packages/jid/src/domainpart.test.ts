import { describe, expect, it } from 'vitest';
import { JID, JidMalformedError, normalizeDomainpart } from './index.js';

describe('normalizeDomainpart', () => {
  it('accepts ordinary names as they are', () => {
    for (const domain of ['example.com', 'conference.example.com', 'localhost', 'a-b.c0.example', 'x1.io']) {
      expect(normalizeDomainpart(domain)).toBe(domain);
    }
  });

  it('accepts underscores, which deployed service names use', () => {
    expect(normalizeDomainpart('pubsub_1.example.com')).toBe('pubsub_1.example.com');
  });

  it('rejects labels that begin or end with a hyphen', () => {
    for (const domain of ['-a.example.com', 'a-.example.com', 'example.com-', 'example.-com']) {
      expect(() => normalizeDomainpart(domain), domain).toThrow(/hyphen/);
    }
  });

  it('rejects ASCII characters outside letters, digits, hyphen and underscore', () => {
    for (const domain of [
      'exa!mple.com',
      'example.com:5222',
      'a@b.com',
      'a/b.com',
      'a\\b.com',
      'a%20b.com',
    ]) {
      expect(() => normalizeDomainpart(domain), domain).toThrow(JidMalformedError);
    }
  });

  it('maps case, width and ideographic full stops (RFC 5895)', () => {
    expect(normalizeDomainpart('BÜCHER.Example')).toBe('bücher.example');
    expect(normalizeDomainpart('ＥＸＡＭＰＬＥ．ＣＯＭ')).toBe('example.com');
    expect(normalizeDomainpart('example\u3002com')).toBe('example.com');
    expect(normalizeDomainpart('example\uff61com\u3002')).toBe('example.com');
    expect(normalizeDomainpart('bu\u0308cher.example')).toBe('bücher.example');
  });

  it('converts A-labels to U-labels (RFC 7622 §3.2.1)', () => {
    expect(normalizeDomainpart('xn--mnchen-3ya.de')).toBe('münchen.de');
    expect(normalizeDomainpart('XN--MNCHEN-3YA.DE.')).toBe('münchen.de');
    expect(normalizeDomainpart('xn--zca.de')).toBe('ß.de');
    expect(JID.parse('juliet@xn--mnchen-3ya.de').equals(JID.parse('juliet@München.de'))).toBe(true);
  });

  it('rejects A-labels that do not decode to a valid U-label', () => {
    // xn--munchen-gie encodes "mu\u0308nchen", which is not in NFC.
    for (const domain of ['xn--zz.de', 'xn--a.de', 'xn--g6h.com', 'xn--munchen-gie.de']) {
      expect(() => normalizeDomainpart(domain), domain).toThrow(JidMalformedError);
    }
  });

  it('applies IDNA2008 rules to U-labels', () => {
    expect(normalizeDomainpart('παράδειγμα.δοκιμή')).toBe('παράδειγμα.δοκιμή');
    expect(normalizeDomainpart('例え.テスト')).toBe('例え.テスト');
    for (const domain of [
      '♥.com', // symbol
      'ﬁ.com', // compatibility character
      '\u0301a.com', // leading combining mark
      'üb--x.com', // hyphens in the third and fourth positions
      'ü-.com', // trailing hyphen
      'a\u200bb.ü', // default-ignorable
      'a\u00a0ü.com', // space
      'ü\u0378.com', // unassigned
    ]) {
      expect(() => normalizeDomainpart(domain), JSON.stringify(domain)).toThrow(JidMalformedError);
    }
  });

  it('applies the Bidi Rule to names with right-to-left labels', () => {
    expect(normalizeDomainpart('שלום.example')).toBe('שלום.example');
    expect(() => normalizeDomainpart('שa.example')).toThrow(JidMalformedError);
    expect(() => normalizeDomainpart('1ש.example')).toThrow(JidMalformedError);
    expect(() => normalizeDomainpart('aש.example')).toThrow(JidMalformedError);
    // Once one label is right-to-left, the others must satisfy the rule too.
    expect(() => normalizeDomainpart('שלום.a-')).toThrow(JidMalformedError);
    expect(() => normalizeDomainpart('שלום.123.example')).toThrow(JidMalformedError);
    expect(normalizeDomainpart('123.example')).toBe('123.example');
  });

  it('accepts IPv4 addresses and rejects other names ending in a numeric label', () => {
    expect(normalizeDomainpart('192.0.2.1')).toBe('192.0.2.1');
    expect(normalizeDomainpart('255.255.255.255')).toBe('255.255.255.255');
    expect(normalizeDomainpart('192.0.2.1.')).toBe('192.0.2.1');
    expect(normalizeDomainpart('123.example')).toBe('123.example');
    for (const domain of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', 'example.123', '42', 'bücher.123']) {
      expect(() => normalizeDomainpart(domain), domain).toThrow(JidMalformedError);
    }
  });

  it('accepts bracketed IPv6 addresses without zone identifiers', () => {
    expect(normalizeDomainpart('[::1]')).toBe('[::1]');
    expect(normalizeDomainpart('[2001:DB8::A]')).toBe('[2001:db8::a]');
    expect(normalizeDomainpart('[::ffff:192.0.2.1]')).toBe('[::ffff:192.0.2.1]');
    for (const domain of ['::1', '[::1', '[::1]x', '[]', '[g::1]', '[fe80::1%eth0]', '[192.0.2.1]']) {
      expect(() => normalizeDomainpart(domain), domain).toThrow(JidMalformedError);
    }
  });
});
