import { parseElement } from '@strom/xml';
import { describe, expect, it } from 'vitest';
import { MAX_PAGE, parseQuery, parseRetention } from './query.js';

const query = (fields: string, set = '') =>
  parseElement(
    `<query xmlns="urn:xmpp:mam:2"><x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE" type="hidden"><value>urn:xmpp:mam:2</value></field>${fields}</x>${set}</query>`,
  );

describe('archive queries', () => {
  it('reads the form fields and paging', () => {
    const parsed = parseQuery(
      query(
        '<field var="with"><value>Bob@Example.org/phone</value></field><field var="start"><value>2026-01-01T00:00:00Z</value></field>',
        '<set xmlns="http://jabber.org/protocol/rsm"><max>5</max><before/></set>',
      ),
    );
    expect(parsed.with).toBe('bob@example.org');
    expect(parsed.start?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(parsed.max).toBe(5);
    expect(parsed.before).toBe('');
    expect(parsed.after).toBeUndefined();
  });

  it('caps the page size and refuses unknown fields and bad dates', () => {
    expect(
      parseQuery(query('', `<set xmlns="http://jabber.org/protocol/rsm"><max>100000</max></set>`)).max,
    ).toBe(MAX_PAGE);
    expect(() => parseQuery(query('<field var="{urn:example}search"><value>x</value></field>'))).toThrow(
      /Unsupported/,
    );
    expect(() => parseQuery(query('<field var="start"><value>yesterday</value></field>'))).toThrow(
      /DateTime/,
    );
  });

  it('reads retention periods', () => {
    expect(parseRetention('off')).toEqual({ ms: 0 });
    expect(parseRetention('30d')).toEqual({ ms: 30 * 86_400_000 });
    expect(parseRetention('2s')).toEqual({ ms: 2000 });
    expect(parseRetention('soon')).toHaveProperty('error');
  });
});
