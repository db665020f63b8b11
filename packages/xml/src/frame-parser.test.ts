import { describe, expect, it } from 'vitest';
import { serialize } from './element.js';
import { XmlStreamError, type XmlStreamErrorCondition } from './errors.js';
import { parseElement, parseFrame } from './frame-parser.js';
import { DEFAULT_LIMITS, type XmlLimits } from './limits.js';

function failure(text: string, limits?: XmlLimits): XmlStreamError {
  try {
    parseFrame(text, limits);
  } catch (err) {
    expect(err).toBeInstanceOf(XmlStreamError);
    return err as XmlStreamError;
  }
  throw new Error(`parsed without error: ${text.slice(0, 80)}`);
}

function conditionOf(text: string, limits?: XmlLimits): XmlStreamErrorCondition {
  return failure(text, limits).condition;
}

const CHAT =
  "<message xmlns='jabber:client' to='juliet@capulet.lit/balcony' type='chat' id='m1'>" +
  '<body>Art thou not Romeo, and a Montague?</body>' +
  "<active xmlns='http://jabber.org/protocol/chatstates'/></message>";

describe('parseFrame', () => {
  it('keeps names and attributes exactly as written, namespace declarations included', () => {
    const el = parseFrame(
      "<p:iq xmlns:p='jabber:client' xmlns='urn:default' type='get' p:extra='1'><query/></p:iq>",
    );
    expect(el.name).toBe('p:iq');
    expect(el.attrs).toEqual({
      'xmlns:p': 'jabber:client',
      xmlns: 'urn:default',
      type: 'get',
      'p:extra': '1',
    });
    expect(Object.keys(el.attrs)).toEqual(['xmlns:p', 'xmlns', 'type', 'p:extra']);
    expect(el.getNS()).toBe('jabber:client');
    expect(el.getChild('query')?.getNS()).toBe('urn:default');
    expect(el.parent).toBeUndefined();
  });

  it('builds the tree with parents, text and self-closing children', () => {
    const el = parseFrame(CHAT);
    expect(el.getChildText('body')).toBe('Art thou not Romeo, and a Montague?');
    expect(el.getChild('active', 'http://jabber.org/protocol/chatstates')?.parent).toBe(el);
    expect(serialize(el)).toBe(
      '<message xmlns="jabber:client" to="juliet@capulet.lit/balcony" type="chat" id="m1">' +
        '<body>Art thou not Romeo, and a Montague?</body>' +
        '<active xmlns="http://jabber.org/protocol/chatstates"/></message>',
    );
  });

  it('decodes predefined and character entities', () => {
    const el = parseFrame(
      '<body a="&quot;&apos;&lt;&gt;&amp;&#65;&#x1F600;">&lt;b&gt; &amp;amp; &#x263A;</body>',
    );
    expect(el.attr('a')).toBe(`"'<>&A😀`);
    expect(el.text()).toBe('<b> &amp; ☺');
  });

  it('joins CDATA sections with the surrounding text into one text node', () => {
    const el = parseFrame('<body>a <![CDATA[<b> & <!-- not a comment --> <?no-pi?>]]> c</body>');
    expect(el.children).toEqual(['a <b> & <!-- not a comment --> <?no-pi?> c']);
  });

  it('normalizes line ends in text as XML requires', () => {
    expect(parseFrame('<body>a\r\nb\rc</body>').text()).toBe('a\nb\nc');
  });

  it('accepts surrounding whitespace and a leading XML declaration', () => {
    expect(parseFrame('\n  <presence/>\r\n\t').name).toBe('presence');
    expect(parseFrame("<?xml version='1.0' encoding='UTF-8'?>\n<presence/>").name).toBe('presence');
  });

  it('keeps whitespace-only text inside elements', () => {
    expect(parseFrame('<body> \n </body>').text()).toBe(' \n ');
  });

  describe('not-well-formed', () => {
    it.each([
      ['empty input', ''],
      ['whitespace only', ' \n\t '],
      ['an unclosed element', '<message><body>hi</body>'],
      ['a mismatched close tag', '<message></presence>'],
      ['an unbound element prefix', '<message><x:body/></message>'],
      ['an unbound attribute prefix', "<message x:type='chat'/>"],
      ['two root elements', '<message/><message/>'],
      ['text before the root', 'hi<message/>'],
      ['text after the root', '<message/>hi'],
      ['a duplicate attribute', "<message to='a' to='b'/>"],
      ['a raw ampersand', '<body>a & b</body>'],
      ['a raw less-than in an attribute', "<body a='<'/>"],
      ['an XML declaration after whitespace', " <?xml version='1.0'?><presence/>"],
      ['an XML declaration after the root', "<presence/><?xml version='1.0'?>"],
      ['a forbidden control character', '<body>\u0001</body>'],
      ['a bad character reference', '<body>&#0;</body>'],
      ['an unterminated tag', '<message to='],
      ['a broken CDATA section', '<body><![CDATA[ x </body>'],
    ])('rejects %s', (_label, text) => {
      expect(conditionOf(text)).toBe('not-well-formed');
    });
  });

  describe('restricted-xml', () => {
    it.each([
      ['a DOCTYPE', '<!DOCTYPE message><message/>'],
      ['a DOCTYPE with an entity declaration', '<!DOCTYPE m [<!ENTITY x "expanded">]><m>&x;</m>'],
      [
        'a billion laughs payload',
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' +
          Array.from(
            { length: 9 },
            (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`,
          ).join('') +
          ']><lolz>&lol9;</lolz>',
      ],
      ['an external entity', '<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><m>&xxe;</m>'],
      ['a DOCTYPE inside the element', '<message><!DOCTYPE x></message>'],
      ['a reference to an undeclared entity', '<body>&nbsp;</body>'],
      ['a comment inside the element', '<message><!-- hi --></message>'],
      ['a comment before the root', '<!-- hi --><message/>'],
      ['a comment after the root', '<message/><!-- hi -->'],
      ['a processing instruction inside the element', '<message><?php echo 1 ?></message>'],
      ['a processing instruction before the root', '<?xml-stylesheet href="a"?><message/>'],
    ])('rejects %s', (_label, text) => {
      expect(conditionOf(text)).toBe('restricted-xml');
    });
  });

  describe('policy-violation', () => {
    it('rejects a 2 MiB payload before parsing it', () => {
      const text = `<message><body>${'a'.repeat(2 * 1024 * 1024)}</body></message>`;
      expect(conditionOf(text)).toBe('policy-violation');
    });

    it('counts UTF-8 bytes, not UTF-16 code units', () => {
      const limits = { ...DEFAULT_LIMITS, maxStanzaBytes: 100 };
      const frame = (bodyBytes: number, unit: string, unitBytes: number) =>
        `<b>${unit.repeat(Math.floor(bodyBytes / unitBytes))}</b>`;
      // 7 bytes of markup + 93 bytes: 31 three-byte characters = 93.
      expect(parseFrame(frame(93, '€', 3), limits).text()).toHaveLength(31);
      expect(conditionOf(frame(96, '€', 3), limits)).toBe('policy-violation');
      // Astral characters: two UTF-16 units, four bytes each; 23 of them = 92 bytes.
      expect(parseFrame(frame(92, '😀', 4), limits).text()).toHaveLength(46);
      expect(conditionOf(frame(96, '😀', 4), limits)).toBe('policy-violation');
      expect(parseFrame(`<b>${'a'.repeat(93)}</b>`, limits).text()).toHaveLength(93);
      expect(conditionOf(`<b>${'a'.repeat(94)}</b>`, limits)).toBe('policy-violation');
    });

    it('rejects nesting 1000 deep', () => {
      const text = '<a>'.repeat(1000) + '</a>'.repeat(1000);
      expect(conditionOf(text)).toBe('policy-violation');
    });

    it('allows exactly maxDepth levels', () => {
      const depth = DEFAULT_LIMITS.maxDepth;
      const text = '<a>'.repeat(depth) + '</a>'.repeat(depth);
      let el = parseFrame(text);
      let levels = 1;
      while (el.firstElement()) {
        el = el.firstElement()!;
        levels++;
      }
      expect(levels).toBe(depth);
      expect(conditionOf('<a>'.repeat(depth + 1) + '</a>'.repeat(depth + 1))).toBe('policy-violation');
    });

    it('rejects 10000 attributes on one element', () => {
      const attrs = Array.from({ length: 10_000 }, (_, i) => `a${i}='${i}'`).join(' ');
      expect(conditionOf(`<message ${attrs}/>`)).toBe('policy-violation');
    });

    it('allows exactly maxAttributes attributes, namespace declarations counted', () => {
      const max = DEFAULT_LIMITS.maxAttributes;
      const attrs = (count: number) => Array.from({ length: count - 1 }, (_, i) => `a${i}='${i}'`).join(' ');
      expect(Object.keys(parseFrame(`<m xmlns='jabber:client' ${attrs(max)}/>`).attrs)).toHaveLength(max);
      expect(conditionOf(`<m><c xmlns='jabber:client' ${attrs(max + 1)}/></m>`)).toBe('policy-violation');
    });

    it('limits character data when maxTextBytes is set', () => {
      // 5 + 6 (two three-byte characters) + 1 = 12 bytes.
      const limits = { ...DEFAULT_LIMITS, maxTextBytes: 12 };
      expect(parseFrame('<m><b>12345</b><c>€€</c><![CDATA[x]]></m>', limits).getChildText('c')).toBe('€€');
      expect(conditionOf('<m><b>12345</b><c>€€</c><![CDATA[xy]]></m>', limits)).toBe('policy-violation');
    });

    it('applies custom limits to one call only', () => {
      expect(conditionOf('<a><b/></a>', { ...DEFAULT_LIMITS, maxDepth: 1 })).toBe('policy-violation');
      expect(parseFrame('<a><b/></a>').getChild('b')).toBeDefined();
    });
  });

  it('leaves the shared parser usable after every kind of error', () => {
    const bad = [
      '<message><body>unfinished',
      '<a x="1" y="2"',
      '<!DOCTYPE a><a/>',
      '<a><!-- c --></a>',
      '<a><b:c/></a>',
      '<a/><b/>',
      '<a>'.repeat(100),
      `<a ${Array.from({ length: 100 }, (_, i) => `x${i}='1'`).join(' ')}/>`,
      '<a><![CDATA[ open',
      '<a><?pi',
      '<a>&unknown;</a>',
      '',
    ];
    for (const text of bad) {
      expect(() => parseFrame(text)).toThrow(XmlStreamError);
      const el = parseFrame(CHAT);
      expect(serialize(el)).toBe(serialize(parseFrame(CHAT)));
      expect(el.parent).toBeUndefined();
      // Nothing of the failed parse (attributes, open elements, depth) leaks into the next one.
      expect(parseFrame('<b/>').attrs).toEqual({});
      expect(parseFrame('<c>x</c>').children).toEqual(['x']);
    }
  });

  it('returns independent trees from consecutive calls', () => {
    const first = parseFrame(CHAT);
    const second = parseFrame(CHAT);
    expect(first).not.toBe(second);
    first.getChild('body')!.children = ['changed'];
    expect(second.getChildText('body')).toBe('Art thou not Romeo, and a Montague?');
  });
});

describe('parseElement', () => {
  it('accepts stanzas beyond the network limits', () => {
    const big = `<message><body>${'a'.repeat(300 * 1024)}</body></message>`;
    expect(conditionOf(big)).toBe('policy-violation');
    expect(parseElement(big).getChildText('body')).toHaveLength(300 * 1024);
    const deep = '<a>'.repeat(100) + '</a>'.repeat(100);
    expect(parseElement(deep).name).toBe('a');
  });

  it('still enforces well-formedness and restricted XML', () => {
    expect(() => parseElement('<a>')).toThrow(XmlStreamError);
    expect(() => parseElement('<a><!-- c --></a>')).toThrow(
      expect.objectContaining({ condition: 'restricted-xml' }),
    );
  });
});
