import { describe, expect, it } from 'vitest';
import { type Element, serialize } from './element.js';
import type { XmlStreamError } from './errors.js';
import { DEFAULT_LIMITS, type XmlLimits } from './limits.js';
import { StreamParser, type StreamParserOptions } from './stream-parser.js';

/** Parses `chunks` and returns what the callbacks saw, as comparable strings. */
function run(
  chunks: string[],
  options: Partial<StreamParserOptions> = {},
  end = false,
): { events: string[]; elements: Element[]; errors: XmlStreamError[] } {
  const events: string[] = [];
  const elements: Element[] = [];
  const errors: XmlStreamError[] = [];
  const parser = new StreamParser({
    onStreamOpen: (root) => events.push(`open ${serialize(root)}`),
    onElement: (el) => {
      elements.push(el);
      events.push(`element ${serialize(el)}`);
    },
    onStreamClose: () => events.push('close'),
    onError: (err) => {
      errors.push(err);
      events.push(`error ${err.condition}`);
    },
    ...options,
  });
  for (const chunk of chunks) parser.write(chunk);
  if (end) parser.end();
  return { events, elements, errors };
}

/** Splits UTF-8 bytes at the given offsets and decodes them as a socket reader would. */
function decodeAtByteOffsets(text: string, offsets: number[]): string[] {
  const bytes = Buffer.from(text, 'utf8');
  const decoder = new TextDecoder('utf-8');
  const chunks: string[] = [];
  let previous = 0;
  for (const offset of [...offsets, bytes.length]) {
    chunks.push(decoder.decode(bytes.subarray(previous, offset), { stream: offset < bytes.length }));
    previous = offset;
  }
  return chunks;
}

const STREAM_HEADER =
  "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " +
  "xmlns:db='jabber:server:dialback' to='example.com' version='1.0'>";

const SAMPLE_STREAM =
  "<?xml version='1.0'?>\r\n" +
  STREAM_HEADER +
  "\n  <message to='a@b' type='chat'><body>h&amp;é 😀 <![CDATA[<x>]]> one\r\ntwo</body></message>" +
  ' \n \t ' +
  "<db:result from='a' to='b'>k</db:result>" +
  "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>" +
  "<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>\n" +
  '</stream:stream>';

const SAMPLE_EVENTS = [
  'open <stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams" ' +
    'xmlns:db="jabber:server:dialback" to="example.com" version="1.0"/>',
  'element <message to="a@b" type="chat" xmlns="jabber:client"><body>h&amp;é 😀 &lt;x&gt; one\ntwo</body></message>',
  'element <db:result from="a" to="b" xmlns:db="jabber:server:dialback">k</db:result>',
  'element <stream:features xmlns:stream="http://etherx.jabber.org/streams">' +
    '<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></stream:features>',
  'element <iq type="get" id="1" xmlns="jabber:client"><query xmlns="jabber:iq:roster"/></iq>',
  'close',
];

describe('StreamParser (RFC 6120 stream)', () => {
  it('reports the stream root, each stanza and the stream end', () => {
    const { events, elements } = run([SAMPLE_STREAM], {}, true);
    expect(events).toEqual(SAMPLE_EVENTS);
    for (const el of elements) expect(el.parent).toBeUndefined();
    expect(elements[0]!.getNS()).toBe('jabber:client');
    expect(elements[0]!.getChild('body')?.getNS()).toBe('jabber:client');
    expect(elements[1]!.is('result', 'jabber:server:dialback')).toBe(true);
    expect(elements[2]!.getChild('bind', 'urn:ietf:params:xml:ns:xmpp-bind')).toBeDefined();
  });

  it('passes the root without children and unchanged by later stanzas', () => {
    let root: Element | undefined;
    run([SAMPLE_STREAM], { onStreamOpen: (el) => (root = el) });
    expect(root?.children).toEqual([]);
    expect(root?.getNS()).toBe('http://etherx.jabber.org/streams');
  });

  it('gives the same result for the input split at every character position', () => {
    for (let i = 0; i <= SAMPLE_STREAM.length; i++) {
      const { events } = run([SAMPLE_STREAM.slice(0, i), SAMPLE_STREAM.slice(i)], {}, true);
      expect(events, `split at character ${i}`).toEqual(SAMPLE_EVENTS);
    }
  });

  it('gives the same result for the input split at every byte position', () => {
    const length = Buffer.byteLength(SAMPLE_STREAM);
    for (let i = 0; i <= length; i++) {
      const { events } = run(decodeAtByteOffsets(SAMPLE_STREAM, [i]), {}, true);
      expect(events, `split at byte ${i}`).toEqual(SAMPLE_EVENTS);
    }
  });

  it('gives the same result when fed one character or one byte at a time', () => {
    expect(run([...SAMPLE_STREAM.split('')], {}, true).events).toEqual(SAMPLE_EVENTS);
    const everyByte = Array.from({ length: Buffer.byteLength(SAMPLE_STREAM) - 1 }, (_, i) => i + 1);
    expect(run(decodeAtByteOffsets(SAMPLE_STREAM, everyByte), {}, true).events).toEqual(SAMPLE_EVENTS);
  });

  it('gives the same result for three-way splits', () => {
    const step = 7;
    for (let i = 0; i < SAMPLE_STREAM.length; i += step) {
      for (let j = i; j < SAMPLE_STREAM.length; j += step) {
        const chunks = [SAMPLE_STREAM.slice(0, i), SAMPLE_STREAM.slice(i, j), SAMPLE_STREAM.slice(j)];
        expect(run(chunks, {}, true).events, `split at ${i} and ${j}`).toEqual(SAMPLE_EVENTS);
      }
    }
  });

  it('delivers stanzas as soon as they are complete', () => {
    const events: string[] = [];
    const parser = new StreamParser({
      onStreamOpen: () => events.push('open'),
      onElement: (el) => events.push(el.name),
      onError: (err) => events.push(`error ${err.condition}`),
    });
    parser.write(STREAM_HEADER);
    expect(events).toEqual(['open']);
    parser.write('<presence/><message><body>');
    expect(events).toEqual(['open', 'presence']);
    parser.write('x</body></message>');
    expect(events).toEqual(['open', 'presence', 'message']);
  });

  it('rejects a stream root outside the streams namespace', () => {
    expect(run(["<stream:stream xmlns:stream='urn:wrong'>"]).events).toEqual(['error invalid-namespace']);
    expect(run(["<stream xmlns='jabber:client'>"]).events).toEqual(['error invalid-namespace']);
  });

  it('rejects a root that is not a stream', () => {
    expect(run(["<features xmlns='http://etherx.jabber.org/streams'>"]).events).toEqual(['error bad-format']);
  });

  it('rejects character data between stanzas but accepts whitespace keepalives', () => {
    expect(run([STREAM_HEADER, ' \n\t ', '<presence/>', '\n\n']).events).toHaveLength(2);
    expect(run([STREAM_HEADER, '<presence/>hello<presence/>']).events.slice(1)).toEqual([
      'element <presence xmlns="jabber:client"/>',
      'error bad-format',
    ]);
  });

  it('rejects text before the root as not well-formed', () => {
    expect(run([`hello${STREAM_HEADER}`]).events).toEqual(['error not-well-formed']);
  });

  it('does not deliver a stanza that is closed by a mismatched end tag', () => {
    const { events } = run([STREAM_HEADER, '<message><body>hi</body></stream:stream>']);
    expect(events.slice(1)).toEqual(['error not-well-formed']);
    expect(run([STREAM_HEADER, '<message></presence>']).events.slice(1)).toEqual(['error not-well-formed']);
  });

  it('rejects unbound prefixes in stanzas', () => {
    expect(run([STREAM_HEADER, '<message><x:y/></message>']).events.slice(1)).toEqual([
      'error not-well-formed',
    ]);
  });

  it.each([
    ['a DOCTYPE in the prolog', `<!DOCTYPE stream>${STREAM_HEADER}`],
    [
      'entity declarations in the prolog',
      `<!DOCTYPE s [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>${STREAM_HEADER}<message>&b;</message>`,
    ],
    ['a comment inside a stanza', `${STREAM_HEADER}<message><!-- hi --></message>`],
    ['a comment between stanzas', `${STREAM_HEADER}<presence/><!-- hi -->`],
    ['a processing instruction', `${STREAM_HEADER}<message><?pi data?></message>`],
    ['an undeclared entity', `${STREAM_HEADER}<message>&nbsp;</message>`],
  ])('rejects %s as restricted-xml', (_label, input) => {
    expect(run([input]).errors.map((err) => err.condition)).toEqual(['restricted-xml']);
  });

  it('ignores all input after an error and reports the error once', () => {
    const { events } = run(
      [STREAM_HEADER, '<presence/><!-- x -->', '<presence/>', '</stream:stream>'],
      {},
      true,
    );
    expect(events.slice(1)).toEqual(['element <presence xmlns="jabber:client"/>', 'error restricted-xml']);
  });

  it('reports an unfinished stream or stanza on end()', () => {
    expect(run([STREAM_HEADER, '<message>'], {}, true).events.slice(1)).toEqual(['error not-well-formed']);
    expect(run([STREAM_HEADER], {}, true).events.slice(1)).toEqual(['error not-well-formed']);
    expect(run([`${STREAM_HEADER}</stream:stream>`], {}, true).events.slice(1)).toEqual(['close']);
  });

  it('lets callbacks write more input and end the parser', () => {
    const events: string[] = [];
    const parser: StreamParser = new StreamParser({
      onStreamOpen: () => {
        events.push('open');
        parser.write('<presence/>');
      },
      onElement: (el) => {
        events.push(el.name);
        if (el.name === 'presence') parser.write('</stream:stream>');
      },
      onStreamClose: () => {
        events.push('close');
        parser.end();
      },
      onError: (err) => events.push(`error ${err.condition}`),
    });
    parser.write(`${STREAM_HEADER}<message/>`);
    expect(events).toEqual(['open', 'message', 'presence', 'close']);
    parser.write('<late/>');
    expect(events).toEqual(['open', 'message', 'presence', 'close']);
  });

  it("passes a callback's exception to the caller and stops parsing", () => {
    const seen: string[] = [];
    const parser = new StreamParser({
      onElement: (el) => {
        seen.push(el.name);
        if (el.name === 'boom') throw new Error('handler failed');
      },
      onError: () => seen.push('error'),
    });
    expect(() => parser.write(`${STREAM_HEADER}<a/><boom/><b/>`)).toThrow('handler failed');
    parser.write('<c/>');
    expect(seen).toEqual(['a', 'boom']);
  });
});

describe('StreamParser limits', () => {
  const limits = (overrides: Partial<XmlLimits>): XmlLimits => ({ ...DEFAULT_LIMITS, ...overrides });

  /**
   * A stanza of exactly `bytes` UTF-8 bytes: astral characters (a surrogate pair, four bytes) and
   * two-byte characters, so that a split can fall inside a character.
   */
  function stanzaOfBytes(bytes: number): string {
    const markup = '<message><body></body></message>';
    const padding = bytes - markup.length - 8;
    const text = '😀' + 'é'.repeat(Math.floor(padding / 2)) + 'a'.repeat(padding % 2) + '😀';
    const stanza = `<message><body>${text}</body></message>`;
    expect(Buffer.byteLength(stanza)).toBe(bytes);
    return stanza;
  }

  it('counts the bytes of each stanza, whitespace before it excluded, wherever the input splits', () => {
    const max = 80;
    const header = "<stream xmlns='http://etherx.jabber.org/streams'>";
    const accepted = `${header}\n    ${stanzaOfBytes(max)}\n  ${stanzaOfBytes(max)}`;
    const rejected = `${header}${stanzaOfBytes(max)}${stanzaOfBytes(max + 1)}`;
    for (let i = 0; i <= accepted.length; i++) {
      const { events } = run([accepted.slice(0, i), accepted.slice(i)], {
        limits: limits({ maxStanzaBytes: max }),
      });
      expect(
        events.map((event) => event.split(' ')[0]),
        `split at ${i}`,
      ).toEqual(['open', 'element', 'element']);
    }
    for (let i = 0; i <= rejected.length; i++) {
      const { events } = run([rejected.slice(0, i), rejected.slice(i)], {
        limits: limits({ maxStanzaBytes: max }),
      });
      expect(
        events.map((event) => event.split(' ')[0]),
        `split at ${i}`,
      ).toEqual(['open', 'element', 'error']);
    }
  });

  it('applies the size limit to the stream header too', () => {
    const { errors } = run([STREAM_HEADER], { limits: limits({ maxStanzaBytes: 100 }) });
    expect(errors.map((err) => err.condition)).toEqual(['policy-violation']);
  });

  it('stops an element that never ends once it passes the limit, written in small pieces', () => {
    const errors: XmlStreamError[] = [];
    const parser = new StreamParser({ onElement: () => {}, onError: (err) => errors.push(err) });
    parser.write(`${STREAM_HEADER}<message><body>`);
    let written = 0;
    const piece = 'a'.repeat(1000);
    while (errors.length === 0 && written < 10 * DEFAULT_LIMITS.maxStanzaBytes) {
      parser.write(piece);
      written += piece.length;
    }
    expect(errors.map((err) => err.condition)).toEqual(['policy-violation']);
    expect(written).toBeLessThanOrEqual(DEFAULT_LIMITS.maxStanzaBytes + piece.length);
  });

  it.each([
    ['an endless attribute value', "<message to='", 'a'],
    ['an endless element name', '<message', 'a'],
    ['endless whitespace between stanzas', '', ' '],
    ['an endless CDATA section', '<message><![CDATA[', 'x'],
  ])('stops %s', (_label, start, filler) => {
    const errors: XmlStreamError[] = [];
    const parser = new StreamParser({ onElement: () => {}, onError: (err) => errors.push(err) });
    parser.write(STREAM_HEADER + start);
    for (let i = 0; i < 100 && errors.length === 0; i++) parser.write(filler.repeat(16 * 1024));
    expect(errors.map((err) => err.condition)).toEqual(['policy-violation']);
  });

  it('rejects a 2 MiB stanza written at once, after delivering the ones before it', () => {
    const { events } = run([
      `${STREAM_HEADER}<presence/><message><body>${'a'.repeat(2 * 1024 * 1024)}</body></message>`,
    ]);
    expect(events.slice(1)).toEqual(['element <presence xmlns="jabber:client"/>', 'error policy-violation']);
  });

  it('accepts many small stanzas in one large write', () => {
    const stanza = "<message to='a@b'><body>hello</body></message>";
    const count = Math.ceil((2 * DEFAULT_LIMITS.maxStanzaBytes) / stanza.length);
    const { elements, errors } = run([STREAM_HEADER + stanza.repeat(count)]);
    expect(errors).toEqual([]);
    expect(elements).toHaveLength(count);
  });

  it('rejects nesting 1000 deep inside a stanza', () => {
    const { errors } = run([STREAM_HEADER + '<a>'.repeat(1000) + '</a>'.repeat(1000)]);
    expect(errors.map((err) => err.condition)).toEqual(['policy-violation']);
  });

  it('counts depth from the stanza, not from the stream root', () => {
    const depth = DEFAULT_LIMITS.maxDepth;
    const deepest = '<a>'.repeat(depth) + '</a>'.repeat(depth);
    expect(run([STREAM_HEADER + deepest]).elements).toHaveLength(1);
    const tooDeep = '<a>'.repeat(depth + 1) + '</a>'.repeat(depth + 1);
    expect(run([STREAM_HEADER + tooDeep]).errors.map((err) => err.condition)).toEqual(['policy-violation']);
  });

  it('rejects 10000 attributes on one element', () => {
    const attrs = Array.from({ length: 10_000 }, (_, i) => `a${i}='${i}'`).join(' ');
    const { errors } = run([`${STREAM_HEADER}<message ${attrs}/>`]);
    expect(errors.map((err) => err.condition)).toEqual(['policy-violation']);
  });

  it('limits character data per stanza when maxTextBytes is set', () => {
    const options = { limits: limits({ maxTextBytes: 4 }) };
    expect(run([`${STREAM_HEADER}<m>ab</m><m>cd<![CDATA[ef]]></m>`], options).elements).toHaveLength(2);
    expect(run([`${STREAM_HEADER}<m>abcde</m>`], options).errors.map((err) => err.condition)).toEqual([
      'policy-violation',
    ]);
  });
});

describe('StreamParser (framed)', () => {
  const FRAMES =
    "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>\n" +
    "<message xmlns='jabber:client' to='a@b'><body>héllo 😀</body></message>" +
    "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>";
  const FRAME_EVENTS = [
    'element <open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.com" version="1.0"/>',
    'element <message xmlns="jabber:client" to="a@b"><body>héllo 😀</body></message>',
    'element <close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>',
  ];

  it('delivers each top-level element', () => {
    expect(run([FRAMES], { framed: true }, true).events).toEqual(FRAME_EVENTS);
  });

  it('gives the same result for the input split at every character and byte position', () => {
    for (let i = 0; i <= FRAMES.length; i++) {
      const { events } = run([FRAMES.slice(0, i), FRAMES.slice(i)], { framed: true }, true);
      expect(events, `split at character ${i}`).toEqual(FRAME_EVENTS);
    }
    for (let i = 0; i <= Buffer.byteLength(FRAMES); i++) {
      const { events } = run(decodeAtByteOffsets(FRAMES, [i]), { framed: true }, true);
      expect(events, `split at byte ${i}`).toEqual(FRAME_EVENTS);
    }
  });

  it('rejects an XML declaration, which framed input has no place for', () => {
    expect(run(["<?xml version='1.0'?><a/>"], { framed: true }).events).toEqual(['error not-well-formed']);
  });

  it('rejects text between frames as not well-formed', () => {
    expect(run(['<a/>text<b/>'], { framed: true }).events).toEqual(['element <a/>', 'error not-well-formed']);
  });

  it('applies the restrictions and limits to each frame', () => {
    expect(run(['<a/><!-- c -->'], { framed: true }).events).toEqual([
      'element <a/>',
      'error restricted-xml',
    ]);
    expect(run(['<a/><b><c:d/></b>'], { framed: true }).events).toEqual([
      'element <a/>',
      'error not-well-formed',
    ]);
    const framedLimits = { ...DEFAULT_LIMITS, maxStanzaBytes: 12 };
    expect(run(['<a>12345</a> <b>123456</b>'], { framed: true, limits: framedLimits }).events).toEqual([
      'element <a>12345</a>',
      'error policy-violation',
    ]);
  });

  it('reports an unfinished frame on end() but accepts a clean end', () => {
    expect(run(['<a/>\n'], { framed: true }, true).events).toEqual(['element <a/>']);
    expect(run(['<a/><b>'], { framed: true }, true).events).toEqual([
      'element <a/>',
      'error not-well-formed',
    ]);
  });
});
