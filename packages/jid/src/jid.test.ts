import { describe, expect, it } from 'vitest';
import {
  JID,
  JidMalformedError,
  normalizeDomainpart,
  normalizeLocalpart,
  normalizeResourcepart,
  parseJID,
} from './index.js';

function parts(jid: JID): [string, string, string] {
  return [jid.local, jid.domain, jid.resource];
}

describe('RFC 7622 §3.5 examples', () => {
  it.each([
    ['juliet@example.com', ['juliet', 'example.com', '']],
    ['juliet@example.com/foo', ['juliet', 'example.com', 'foo']],
    ['juliet@example.com/foo bar', ['juliet', 'example.com', 'foo bar']],
    ['juliet@example.com/foo@bar', ['juliet', 'example.com', 'foo@bar']],
    ['foo\\20bar@example.com', ['foo\\20bar', 'example.com', '']],
    ['fussball@example.com', ['fussball', 'example.com', '']],
    ['fußball@example.com', ['fußball', 'example.com', '']],
    ['π@example.com', ['π', 'example.com', '']],
    ['Σ@example.com/foo', ['σ', 'example.com', 'foo']],
    ['σ@example.com/foo', ['σ', 'example.com', 'foo']],
    ['ς@example.com/foo', ['ς', 'example.com', 'foo']],
    ['ς@example.com', ['ς', 'example.com', '']],
    ['king@example.com/♚', ['king', 'example.com', '♚']],
    ['example.com', ['', 'example.com', '']],
    ['example.com/foobar', ['', 'example.com', 'foobar']],
    ['a.example.com/b@example.net', ['', 'a.example.com', 'b@example.net']],
  ])('accepts %s', (input, expected) => {
    expect(parts(JID.parse(input))).toEqual(expected);
  });

  it('keeps ß and ss apart, and the final sigma distinct from sigma', () => {
    expect(JID.parse('fußball@example.com').equals(JID.parse('fussball@example.com'))).toBe(false);
    expect(JID.parse('ς@example.com').equals(JID.parse('σ@example.com'))).toBe(false);
    expect(JID.parse('Σ@example.com').equals(JID.parse('σ@example.com'))).toBe(true);
  });

  it.each([
    ['"juliet"@example.com', 'quotes in the localpart'],
    ['foo bar@example.com', 'a space in the localpart'],
    ['henry\u2163@example.com', 'a compatibility character (ROMAN NUMERAL FOUR)'],
    ['♚@example.com', 'a symbol in the localpart'],
    ['juliet@', 'an empty domainpart'],
    ['/foobar', 'an empty domainpart before a resource'],
    ['@example.com', 'an empty localpart'],
    ['@example.com/', 'empty localpart and resourcepart'],
    ['juliet@example.com/', 'an empty resourcepart'],
  ])('rejects %s (%s)', (input) => {
    expect(() => JID.parse(input)).toThrow(JidMalformedError);
  });
});

describe('splitting (RFC 7622 §3.1)', () => {
  it('splits the resourcepart at the first slash, so it may hold further slashes and @', () => {
    expect(parts(JID.parse('juliet@example.com/a/b@c/d'))).toEqual(['juliet', 'example.com', 'a/b@c/d']);
    expect(parts(JID.parse('server/resource@foo/bar'))).toEqual(['', 'server', 'resource@foo/bar']);
  });

  it('ends the localpart at the first @, leaving any further @ to fail in the domainpart', () => {
    expect(() => JID.parse('user@host@example.com')).toThrow(/domainpart/);
  });

  it('splits before mapping, so fullwidth separators never act as separators', () => {
    // U+FF20 FULLWIDTH COMMERCIAL AT and U+FF0F FULLWIDTH SOLIDUS map to '@' and '/' inside the part.
    expect(() => JID.parse('juliet\uff20example.com')).toThrow(JidMalformedError);
    expect(() => JID.parse('juliet\uff0fx@example.com')).toThrow(/localpart/);
    expect(JID.parse('juliet@example.com/a\uff0fb').resource).toBe('a\uff0fb');
  });

  it('rejects the empty string and lone separators', () => {
    for (const input of ['', '@', '/', '@/', 'a@/b'])
      expect(() => JID.parse(input)).toThrow(JidMalformedError);
  });
});

describe('localpart preparation', () => {
  it('maps case to lower case', () => {
    expect(JID.parse('JuLiEt@example.com').local).toBe('juliet');
    expect(JID.parse('ÉLODIE@example.com').local).toBe('élodie');
    expect(normalizeLocalpart('ΠΑΝΟΣ')).toBe('πανος');
  });

  it('maps fullwidth and halfwidth forms to their ordinary counterparts', () => {
    expect(normalizeLocalpart('ｊｕｌｉｅｔ')).toBe('juliet');
    expect(normalizeLocalpart('ＪＵＬＩＥＴ')).toBe('juliet');
    // Halfwidth katakana KA + halfwidth voiced mark compose to GA once mapped and normalized.
    expect(normalizeLocalpart('\uff76\uff9e')).toBe('\u30ac');
  });

  it('normalizes to NFC', () => {
    expect(normalizeLocalpart('e\u0301lodie')).toBe('\u00e9lodie');
    expect(JID.parse('e\u0301lodie@example.com').equals(JID.parse('\u00e9lodie@example.com'))).toBe(true);
  });

  it('rejects the characters XMPP reserves, even though the IdentifierClass allows them', () => {
    for (const ch of ['"', '&', "'", '/', ':', '<', '>', '@']) {
      expect(() => normalizeLocalpart(`a${ch}b`), ch).toThrow(JidMalformedError);
    }
  });

  it('allows the other printable ASCII symbols', () => {
    expect(normalizeLocalpart('!#$%()*+,-.;=?[\\]^_`{|}~')).toBe('!#$%()*+,-.;=?[\\]^_`{|}~');
  });

  it('rejects spaces of any kind, controls, symbols and unassigned code points', () => {
    for (const input of [
      'a b',
      'a\u00a0b',
      'a\u3000b',
      'a\tb',
      'a\u0000b',
      'a\u007fb',
      'a\u0085b',
      '☃',
      'a\u0378',
    ]) {
      expect(() => normalizeLocalpart(input), JSON.stringify(input)).toThrow(JidMalformedError);
    }
  });

  it('rejects compatibility characters, default-ignorable code points and lone surrogates', () => {
    for (const input of ['ﬁ', '\u2163', 'a\u00adb', 'a\u200bb', 'a\ufe0f', '\ud800', 'a\udc00']) {
      expect(() => normalizeLocalpart(input), JSON.stringify(input)).toThrow(JidMalformedError);
    }
  });

  it('applies the Bidi Rule to right-to-left localparts', () => {
    for (const local of ['שלום', 'דוד2', 'علی۱۳۶۰', 'محمد_123', 'π']) {
      expect(normalizeLocalpart(local), local).toBe(local);
    }
    // Mixed directions, a digit first, a neutral last, and European next to Arabic-Indic digits.
    for (const local of ['aש', 'שa', '1ש', 'ש.', '\u06451\u0661']) {
      expect(() => normalizeLocalpart(local), local).toThrow(/Bidi/);
    }
  });

  it("rejects a '<' or '>' that NFC would fold into a symbol", () => {
    expect(() => normalizeLocalpart('<\u0338')).toThrow(JidMalformedError);
  });
});

describe('domainpart preparation', () => {
  it('lower-cases and strips one trailing dot', () => {
    expect(JID.parse('juliet@Example.COM').domain).toBe('example.com');
    expect(JID.parse('juliet@example.com.').domain).toBe('example.com');
    expect(JID.parse('juliet@example.com./balcony').toString()).toBe('juliet@example.com/balcony');
    expect(() => JID.parse('juliet@example.com..')).toThrow(JidMalformedError);
    expect(() => JID.parse('juliet@.')).toThrow(JidMalformedError);
  });

  it('accepts IP literals', () => {
    expect(JID.parse('juliet@[::1]').domain).toBe('[::1]');
    expect(JID.parse('juliet@[2001:DB8::1]/x').domain).toBe('[2001:db8::1]');
    expect(JID.parse('juliet@127.0.0.1').domain).toBe('127.0.0.1');
  });

  it('rejects spaces, controls, separators and empty labels', () => {
    for (const domain of [
      'exa mple.com',
      'exa\u0000mple.com',
      'exa\tmple.com',
      'a..b',
      '.example.com',
      'a@b',
      'a:5222',
    ]) {
      expect(() => normalizeDomainpart(domain), JSON.stringify(domain)).toThrow(JidMalformedError);
    }
  });
});

describe('resourcepart preparation', () => {
  it('keeps case, spaces, @ and / as they are', () => {
    expect(normalizeResourcepart('Balcony Door @ Home/2')).toBe('Balcony Door @ Home/2');
  });

  it('maps non-ASCII spaces to U+0020 and normalizes to NFC', () => {
    expect(normalizeResourcepart('a\u00a0b\u2003c\u3000d')).toBe('a b c d');
    expect(normalizeResourcepart('Cafe\u0301')).toBe('Caf\u00e9');
  });

  it('keeps fullwidth forms, symbols and compatibility characters (FreeformClass)', () => {
    expect(normalizeResourcepart('ＡＢ♚ﬁ\u2163')).toBe('ＡＢ♚ﬁ\u2163');
    expect(normalizeResourcepart('🍺')).toBe('🍺');
  });

  it('rejects controls, unassigned and default-ignorable code points', () => {
    for (const input of [
      'a\u0000',
      'a\nb',
      'a\u007f',
      'a\u0085',
      'a\u0378',
      'a\u200b',
      '\ufeffa',
      'a\ud800',
    ]) {
      expect(() => normalizeResourcepart(input), JSON.stringify(input)).toThrow(JidMalformedError);
    }
  });
});

describe('length limits (1023 octets of UTF-8 per part)', () => {
  it('applies to the localpart', () => {
    expect(normalizeLocalpart('a'.repeat(1023))).toHaveLength(1023);
    expect(() => normalizeLocalpart('a'.repeat(1024))).toThrow(/1023/);
    expect(normalizeLocalpart('é'.repeat(511))).toHaveLength(511); // 1022 octets
    expect(() => normalizeLocalpart('é'.repeat(512))).toThrow(/1023/); // 1024 octets
    expect(normalizeLocalpart('中'.repeat(341))).toHaveLength(341); // 1023 octets
    expect(() => normalizeLocalpart('中'.repeat(342))).toThrow(/1023/);
  });

  it('counts octets after preparation, not before', () => {
    // 1022 UTF-16 units of decomposed text compose into 511 characters of two octets each.
    expect(normalizeLocalpart('e\u0301'.repeat(511))).toBe('é'.repeat(511));
    // Fullwidth letters take three octets each until they are mapped to ASCII.
    expect(normalizeLocalpart('ａ'.repeat(1000))).toBe('a'.repeat(1000));
  });

  it('applies to the domainpart, not counting a stripped trailing dot', () => {
    const domain1023 = `${'a'.repeat(62)}.`.repeat(16) + 'a'.repeat(15);
    expect(domain1023).toHaveLength(1023);
    expect(normalizeDomainpart(domain1023)).toBe(domain1023);
    expect(normalizeDomainpart(domain1023 + '.')).toBe(domain1023);
    expect(() => normalizeDomainpart(domain1023 + 'a')).toThrow(/1023/);
    expect(() => normalizeDomainpart(`${'ü'.repeat(500)}.${'ü'.repeat(20)}`)).toThrow(/1023/);
  });

  it('applies to the resourcepart', () => {
    expect(normalizeResourcepart('r'.repeat(1023))).toHaveLength(1023);
    expect(() => normalizeResourcepart('r'.repeat(1024))).toThrow(/1023/);
    expect(normalizeResourcepart('🍺'.repeat(255) + 'abc')).toHaveLength(513); // 1020 + 3 octets
    expect(() => normalizeResourcepart('🍺'.repeat(256))).toThrow(/1023/); // 1024 octets
  });

  it('allows every part at its maximum at once', () => {
    const jid = JID.parse(`${'l'.repeat(1023)}@${'d'.repeat(1023)}/${'r'.repeat(1023)}`);
    expect([jid.local.length, jid.domain.length, jid.resource.length]).toEqual([1023, 1023, 1023]);
  });

  it('rejects very long non-ASCII input', () => {
    expect(() => normalizeLocalpart('é'.repeat(100_000))).toThrow(/1023/);
    expect(() => normalizeResourcepart('é'.repeat(100_000))).toThrow(/1023/);
    expect(() => normalizeDomainpart('é'.repeat(100_000))).toThrow(/1023/);
  });
});

describe('JID.of', () => {
  it('prepares each part', () => {
    const jid = JID.of('Juliet', 'Example.COM.', 'Balcony');
    expect(parts(jid)).toEqual(['juliet', 'example.com', 'Balcony']);
    expect(jid.toString()).toBe('juliet@example.com/Balcony');
  });

  it('treats an empty localpart or resourcepart as absent', () => {
    expect(JID.of('', 'example.com').toString()).toBe('example.com');
    expect(JID.of('juliet', 'example.com', '').isBare).toBe(true);
  });

  it('does not split: separators inside a part are errors', () => {
    expect(() => JID.of('juliet@evil', 'example.com')).toThrow(JidMalformedError);
    expect(() => JID.of('juliet', 'example.com/x')).toThrow(JidMalformedError);
    expect(JID.of('juliet', 'example.com', 'a/b@c').resource).toBe('a/b@c');
  });

  it('rejects an empty domainpart', () => {
    expect(() => JID.of('juliet', '')).toThrow(JidMalformedError);
  });
});

describe('parseJID and JID.tryParse', () => {
  it('parseJID is JID.parse', () => {
    expect(parseJID('Juliet@Example.com/x').equals(JID.parse('juliet@example.com/x'))).toBe(true);
    expect(() => parseJID('juliet@')).toThrow(JidMalformedError);
  });

  it('tryParse returns undefined instead of throwing', () => {
    expect(JID.tryParse('juliet@')).toBeUndefined();
    expect(JID.tryParse('♚@example.com')).toBeUndefined();
    expect(JID.tryParse('juliet@example.com')?.local).toBe('juliet');
  });
});

describe('JID behaviour', () => {
  it('formats the canonical string form', () => {
    expect(JID.parse('Juliet@Example.com/Balcony').toString()).toBe('juliet@example.com/Balcony');
    expect(`${JID.parse('example.com/x')}`).toBe('example.com/x');
    expect(JSON.stringify({ to: JID.parse('JULIET@example.com') })).toBe('{"to":"juliet@example.com"}');
  });

  it('reports isBare and isDomain', () => {
    const full = JID.parse('juliet@example.com/balcony');
    expect([full.isBare, full.isDomain]).toEqual([false, false]);
    const bare = JID.parse('juliet@example.com');
    expect([bare.isBare, bare.isDomain]).toEqual([true, false]);
    const domain = JID.parse('example.com');
    expect([domain.isBare, domain.isDomain]).toEqual([true, true]);
    const domainWithResource = JID.parse('example.com/x');
    expect([domainWithResource.isBare, domainWithResource.isDomain]).toEqual([false, false]);
  });

  it('compares prepared parts: case-insensitive local and domain, case-sensitive resource', () => {
    const a = JID.parse('juliet@example.com/balcony');
    expect(a.equals(JID.parse('JULIET@EXAMPLE.COM./balcony'))).toBe(true);
    expect(a.equals(JID.parse('juliet@example.com/Balcony'))).toBe(false);
    expect(a.equals(JID.parse('juliet@example.com'))).toBe(false);
    expect(a.equals(JID.parse('romeo@example.com/balcony'))).toBe(false);
    expect(a.equals(JID.parse('juliet@example.net/balcony'))).toBe(false);
    expect(a.equals(a)).toBe(true);
    expect(a.equals(undefined)).toBe(false);
    // No localpart is not the same as a localpart equal to the domain.
    expect(JID.parse('example.com').equals(JID.parse('example.com@example.com'))).toBe(false);
  });

  it('bare() drops the resource, returns itself when already bare, and caches', () => {
    const full = JID.parse('Juliet@example.com/balcony');
    const bare = full.bare();
    expect(bare.toString()).toBe('juliet@example.com');
    expect(bare.isBare).toBe(true);
    expect(full.bare()).toBe(bare);
    expect(bare.bare()).toBe(bare);
    expect(bare.equals(JID.parse('juliet@example.com'))).toBe(true);
  });

  it('withResource() prepares the resource and shares the bare JID', () => {
    const bare = JID.parse('juliet@example.com');
    const full = bare.withResource('Chamber\u00a0Door');
    expect(full.toString()).toBe('juliet@example.com/Chamber Door');
    expect(full.bare()).toBe(bare);
    expect(bare.toString()).toBe('juliet@example.com');
    const other = full.withResource('orchard');
    expect(other.toString()).toBe('juliet@example.com/orchard');
    expect(other.bare()).toBe(bare);
    expect(() => bare.withResource('')).toThrow(JidMalformedError);
    expect(() => bare.withResource('a\u0000')).toThrow(JidMalformedError);
  });

  it('bareString is the routing key of the bare address', () => {
    expect(JID.parse('Juliet@Example.com/balcony').bareString).toBe('juliet@example.com');
    expect(JID.parse('example.com/x').bareString).toBe('example.com');
    expect(JID.parse('juliet@example.com').bareString).toBe('juliet@example.com');
  });

  it('caches its string forms', () => {
    const caches = (jid: JID) => jid as unknown as { cachedString?: string; cachedBareString?: string };
    // Canonical input needs no formatting at all: the input itself becomes the string form.
    expect(caches(JID.parse('juliet@example.com/balcony')).cachedString).toBe('juliet@example.com/balcony');
    const prepared = JID.parse('Juliet@example.com/balcony');
    expect(caches(prepared).cachedString).toBeUndefined();
    expect(caches(prepared).cachedBareString).toBeUndefined();
    expect(prepared.toString()).toBe('juliet@example.com/balcony');
    expect(caches(prepared).cachedString).toBe('juliet@example.com/balcony');
    expect(caches(prepared).cachedBareString).toBe('juliet@example.com');
  });
});
