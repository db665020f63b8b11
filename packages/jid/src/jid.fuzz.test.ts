/**
 * Property-based tests of JID parsing (RFC 7622) against arbitrary input: it fails only with
 * JidMalformedError, its results are canonical (their string form parses to the same address),
 * and every part respects the length limit. `FUZZ_RUNS` scales the number of runs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JidMalformedError } from './errors.js';
import { JID } from './jid.js';
import { MAX_PART_BYTES } from './limits.js';

const SCALE = Number(process.env.FUZZ_RUNS ?? 1);
const runs = (n: number) => ({ numRuns: Math.max(1, Math.round(n * SCALE)) });

/** Characters that matter to JIDs: separators and their look-alikes, case, width, bidi, joiners. */
const SPECIAL = [
  '@',
  '/',
  '.',
  '＠',
  '／',
  '。',
  '．',
  '｡',
  ' ',
  '\u00A0',
  '\u3000',
  'A',
  'a',
  'Z',
  'ß',
  'İ',
  'ı',
  'Σ',
  'ς',
  'Ⅸ',
  'ﬁ',
  'é',
  'e\u0301',
  '\u0301',
  '\u200C',
  '\u200D',
  '\u200B',
  '\u05D0',
  '\u0627',
  '\u0661',
  '1',
  '-',
  'xn--',
  'xn--nxasmq6b',
  '\u0000',
  '\u007F',
  '\uD800',
  '\uDFFF',
  '😀',
  '\uFFFD',
  '"',
  '&',
  "'",
  ':',
  '<',
  '>',
  '[',
  ']',
  '::1',
  '127.0.0.1',
  'localhost',
  'example.com',
];

const piece = fc.oneof(
  fc.constantFrom(...SPECIAL),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.string({ minLength: 1, maxLength: 8 }),
);
const part = fc.array(piece, { maxLength: 6 }).map((pieces) => pieces.join(''));
/** A string that looks like a JID more often than not: local@domain/resource with odd parts. */
const jidLike = fc.oneof(
  fc
    .tuple(fc.option(part, { nil: undefined }), part, fc.option(part, { nil: undefined }))
    .map(
      ([local, domain, resource]) =>
        `${local === undefined ? '' : `${local}@`}${domain}${resource === undefined ? '' : `/${resource}`}`,
    ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  // Long parts, around the 1023-octet limit.
  fc
    .tuple(
      fc.constantFrom('a', 'é', '😀', 'ß'),
      fc.integer({ min: 200, max: 1100 }),
      fc.constantFrom('l', 'd', 'r'),
    )
    .map(([unit, times, where]) => {
      const long = unit.repeat(times);
      return where === 'l' ? `${long}@example.com` : where === 'd' ? long : `user@example.com/${long}`;
    }),
);

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function parseOutcome(input: string): JID | JidMalformedError {
  try {
    return JID.parse(input);
  } catch (error) {
    if (error instanceof JidMalformedError) return error;
    throw new Error(`JID.parse threw something else than JidMalformedError for ${JSON.stringify(input)}`, {
      cause: error,
    });
  }
}

describe('JID parsing under fuzzing', () => {
  it('fails only with JidMalformedError, and tryParse never throws', () => {
    fc.assert(
      fc.property(jidLike, (input) => {
        const outcome = parseOutcome(input);
        expect(JID.tryParse(input)?.toString()).toBe(outcome instanceof JID ? outcome.toString() : undefined);
      }),
      runs(5000),
    );
  });

  it('gives canonical addresses: the string form parses to the same address, and so do the parts', () => {
    fc.assert(
      fc.property(jidLike, (input) => {
        const jid = JID.tryParse(input);
        if (jid === undefined) return;
        const again = JID.parse(jid.toString());
        expect(again.equals(jid)).toBe(true);
        expect(again.toString()).toBe(jid.toString());
        expect(JID.of(jid.local, jid.domain, jid.resource).equals(jid)).toBe(true);
        expect(jid.bare().toString()).toBe(jid.bareString);
        expect(JID.parse(jid.bareString).equals(jid.bare())).toBe(true);
      }),
      runs(5000),
    );
  });

  it('keeps every part within 1023 octets and never leaves the domain empty', () => {
    fc.assert(
      fc.property(jidLike, (input) => {
        const jid = JID.tryParse(input);
        if (jid === undefined) return;
        expect(jid.domain.length).toBeGreaterThan(0);
        for (const value of [jid.local, jid.domain, jid.resource]) {
          expect(Buffer.byteLength(value, 'utf8')).toBeLessThanOrEqual(MAX_PART_BYTES);
          // Prepared parts are well-formed Unicode: no lone surrogates survive.
          expect(LONE_SURROGATE.test(value)).toBe(false);
        }
      }),
      runs(3000),
    );
  });
});
