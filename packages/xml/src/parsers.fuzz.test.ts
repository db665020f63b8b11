/**
 * Property-based tests of the two parsers against input an attacker chooses: they fail only with
 * XmlStreamError, never hang, enforce every limit exactly, and the shared frame parser is never
 * left in a state that affects the next frame. `FUZZ_RUNS` scales the number of runs (a longer
 * fuzz run outside CI); the defaults keep this file to a few seconds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Element, xml } from './element.js';
import { XmlStreamError } from './errors.js';
import { parseFrame } from './frame-parser.js';
import type { XmlLimits } from './limits.js';
import { StreamParser } from './stream-parser.js';

const SCALE = Number(process.env.FUZZ_RUNS ?? 1);
const runs = (n: number) => ({ numRuns: Math.max(1, Math.round(n * SCALE)) });

/** Pieces XML is made of, so random input reaches deep into the parser instead of failing at once. */
const TOKENS = [
  '<',
  '>',
  '/',
  '/>',
  '</',
  '=',
  '"',
  "'",
  ' ',
  '\n',
  '\t',
  '\r',
  'a',
  'b',
  'x:y',
  'xmlns',
  'xmlns:x',
  '="urn:a"',
  "='urn:b'",
  '&amp;',
  '&lt;',
  '&#60;',
  '&#x0;',
  '&#xD800;',
  '&nope;',
  '&',
  ';',
  '<!--',
  '-->',
  '<?xml version="1.0"?>',
  '<?pi x?>',
  '<![CDATA[',
  ']]>',
  '<!DOCTYPE a [<!ENTITY e "x">]>',
  '<message',
  '</message>',
  '<body>',
  '</body>',
  '<stream:stream xmlns:stream="http://etherx.jabber.org/streams">',
  '</stream:stream>',
  '\u0000',
  '\u0001',
  '\uFFFE',
  '\uD800',
  '\uDC00',
  '😀',
  'é',
  '\u200B',
];

const xmlish = fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }).map((parts) => parts.join(''));
/** Characters XML allows (the serializer escapes what would change: markup, CR, tabs in attributes). */
const safeChar = fc.oneof(
  fc.constantFrom('a', 'z', ' ', '\n', '\r', '\t', '<', '>', '&', '"', "'", ']]>', 'é', '😀', '\u200B'),
  fc.integer({ min: 0x20, max: 0xd7ff }).map((code) => String.fromCharCode(code)),
);
const safeText = fc.array(safeChar, { maxLength: 12 }).map((chars) => chars.join(''));
const name = fc.constantFrom('a', 'b', 'body', 'x-y', 'item_1', 'Ω');

/** Element trees with attributes, text and children (namespace declarations are attributes too). */
const tree: fc.Arbitrary<Element> = fc.letrec<{ node: Element }>((tie) => ({
  node: fc
    .tuple(
      name,
      fc.dictionary(fc.constantFrom('id', 'type', 'to', 'xml:lang', 'xmlns', 'k'), safeText, { maxKeys: 5 }),
      fc.array(fc.oneof({ depthSize: 'small', withCrossShrink: true }, safeText, tie('node')), {
        maxLength: 4,
      }),
    )
    // Empty text nodes are left out: they have no written form to read back.
    .map(([tag, attrs, children]) => xml(tag, attrs, ...children.filter((child) => child !== ''))),
})).node;

/** Any string at all, xml-looking strings, both mixed, and valid stanzas with a random edit. */
const anyInput = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  xmlish,
  fc.tuple(xmlish, fc.string({ unit: 'binary', maxLength: 20 }), xmlish).map((parts) => parts.join('')),
  fc.tuple(tree, fc.nat(), fc.constantFrom(...TOKENS), fc.nat({ max: 6 })).map(([el, at, token, cut]) => {
    const text = el.toString();
    const position = at % (text.length + 1);
    return text.slice(0, position) + token + text.slice(position + cut);
  }),
);

function depthOf(el: Element): number {
  let deepest = 0;
  for (const child of el.children) if (typeof child !== 'string') deepest = Math.max(deepest, depthOf(child));
  return deepest + 1;
}

function mostAttributes(el: Element): number {
  let most = Object.keys(el.attrs).length;
  for (const child of el.children)
    if (typeof child !== 'string') most = Math.max(most, mostAttributes(child));
  return most;
}

function parseOutcome(text: string, limits?: XmlLimits): Element | XmlStreamError {
  try {
    return parseFrame(text, limits);
  } catch (error) {
    if (error instanceof XmlStreamError) return error;
    throw new Error(`parseFrame threw something else than XmlStreamError for ${JSON.stringify(text)}`, {
      cause: error,
    });
  }
}

describe('parseFrame under fuzzing', () => {
  it('fails only with XmlStreamError, and the shared parser parses the next frame as if nothing happened', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        parseOutcome(input);
        expect(
          parseFrame('<message xmlns="jabber:client" id="after"><body>ok</body></message>').toString(),
        ).toBe('<message xmlns="jabber:client" id="after"><body>ok</body></message>');
      }),
      runs(3000),
    );
  });

  it('reads back what the serializer wrote', () => {
    fc.assert(
      fc.property(tree, (el) => {
        const text = el.toString();
        const parsed = parseOutcome(text, { maxStanzaBytes: 1 << 20, maxDepth: 64, maxAttributes: 64 });
        expect(parsed).not.toBeInstanceOf(XmlStreamError);
        // Adjacent text nodes come back joined, which serializes the same.
        expect((parsed as Element).toString()).toBe(text);
      }),
      runs(1000),
    );
  });

  it('accepts a tree exactly when it is within the size, depth and attribute limits', () => {
    const limits: XmlLimits = { maxStanzaBytes: 300, maxDepth: 3, maxAttributes: 2 };
    fc.assert(
      fc.property(tree, (el) => {
        const text = el.toString();
        const within =
          Buffer.byteLength(text, 'utf8') <= limits.maxStanzaBytes &&
          depthOf(el) <= limits.maxDepth &&
          mostAttributes(el) <= limits.maxAttributes;
        const outcome = parseOutcome(text, limits);
        if (within) expect(outcome).not.toBeInstanceOf(XmlStreamError);
        else expect(outcome).toMatchObject({ condition: 'policy-violation' });
      }),
      runs(1500),
    );
  });

  it('takes time in proportion to the input: no input of the largest size takes long', () => {
    const limits: XmlLimits = { maxStanzaBytes: 256 * 1024, maxDepth: 32, maxAttributes: 64 };
    const big = fc
      .tuple(
        fc.array(fc.constantFrom(...TOKENS), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1000, max: 20_000 }),
      )
      .map(([unit, times]) => unit.join('').repeat(times).slice(0, limits.maxStanzaBytes));
    fc.assert(
      fc.property(big, (input) => {
        const started = performance.now();
        parseOutcome(input, limits);
        // Generous for a loaded machine; a parser that backtracks or loops would take far longer.
        expect(performance.now() - started).toBeLessThan(1000);
      }),
      runs(40),
    );
  });
});

const STREAM_HEADER = `<stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams" to="example.test" version="1.0">`;

interface Collected {
  opened: number;
  elements: string[];
  closed: number;
  errors: XmlStreamError[];
}

function streamParser(limits?: XmlLimits): { parser: StreamParser; got: Collected } {
  const got: Collected = { opened: 0, elements: [], closed: 0, errors: [] };
  const parser = new StreamParser({
    ...(limits ? { limits } : {}),
    onStreamOpen: () => got.opened++,
    onElement: (el) => got.elements.push(el.toString()),
    onStreamClose: () => got.closed++,
    onError: (err) => got.errors.push(err),
  });
  return { parser, got };
}

/** Cuts `text` at the given fractions of its length. */
function chunks(text: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((cut) => Math.floor(cut * text.length)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let start = 0;
  for (const point of points) {
    pieces.push(text.slice(start, point));
    start = point;
  }
  pieces.push(text.slice(start));
  return pieces;
}

const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

describe('StreamParser under fuzzing', () => {
  it('delivers the same stanzas however the stream is cut into pieces', () => {
    fc.assert(
      fc.property(fc.array(tree, { maxLength: 5 }), cuts, (stanzas, at) => {
        const text = `${STREAM_HEADER}${stanzas.map((s) => s.toString()).join(' ')}</stream:stream>`;
        const whole = streamParser();
        whole.parser.write(text);
        const pieces = streamParser();
        for (const piece of chunks(text, at)) pieces.parser.write(piece);
        expect(pieces.got).toEqual(whole.got);
        expect(whole.got.errors).toEqual([]);
        expect(whole.got.elements.length).toBe(stanzas.length);
        expect(whole.got.closed).toBe(1);
      }),
      runs(600),
    );
  });

  it('never throws, reports at most one error (an XmlStreamError) and delivers nothing after it', () => {
    fc.assert(
      fc.property(fc.array(anyInput, { maxLength: 6 }), fc.boolean(), (inputs, framed) => {
        const got: Collected = { opened: 0, elements: [], closed: 0, errors: [] };
        let afterError = 0;
        const parser = new StreamParser({
          framed,
          limits: { maxStanzaBytes: 2048, maxDepth: 8, maxAttributes: 8 },
          onStreamOpen: () => {
            if (got.errors.length > 0) afterError++;
            got.opened++;
          },
          onElement: () => {
            if (got.errors.length > 0) afterError++;
          },
          onStreamClose: () => {
            if (got.errors.length > 0) afterError++;
          },
          onError: (err) => got.errors.push(err),
        });
        for (const input of [STREAM_HEADER, ...inputs]) parser.write(input);
        parser.end();
        expect(got.errors.length).toBeLessThanOrEqual(1);
        for (const error of got.errors) expect(error).toBeInstanceOf(XmlStreamError);
        expect(afterError).toBe(0);
      }),
      runs(2000),
    );
  });

  it('fails an element that never ends soon after it passes the size limit, whatever the pieces', () => {
    const limits: XmlLimits = { maxStanzaBytes: 4096, maxDepth: 8, maxAttributes: 8 };
    fc.assert(
      fc.property(
        fc.constantFrom('x', 'é', '😀', '<b>y</b>', ' '),
        fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 8 }),
        (unit, sizes) => {
          const { parser, got } = streamParser(limits);
          parser.write(`${STREAM_HEADER}<message><body>`);
          let fed = 0;
          // Feed until the parser gives up, with a hard stop far beyond where it must have.
          for (let i = 0; got.errors.length === 0 && fed < 1_000_000; i++) {
            const piece = unit.repeat(Math.ceil(sizes[i % sizes.length]! / unit.length));
            parser.write(piece);
            fed += Buffer.byteLength(piece, 'utf8');
          }
          expect(got.errors).toEqual([expect.objectContaining({ condition: 'policy-violation' })]);
          // Bounded memory: it never held much more than the limit, one piece and one saxes piece.
          expect(fed).toBeLessThanOrEqual(limits.maxStanzaBytes + 3 * 3000 + 16 * 1024 * 4);
        },
      ),
      runs(300),
    );
  });
});
