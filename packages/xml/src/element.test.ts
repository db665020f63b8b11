import { describe, expect, it } from 'vitest';
import { Element, escapeAttr, escapeText, serialize, XML_NAMESPACE, xml } from './element.js';
import { parseFrame } from './frame-parser.js';

describe('xml() builder', () => {
  it('builds nested elements with attributes and text', () => {
    const message = xml(
      'message',
      { xmlns: 'jabber:client', to: 'juliet@capulet.lit', type: 'chat' },
      xml('body', null, 'Wherefore art thou?'),
    );
    expect(message.name).toBe('message');
    expect(message.attrs).toEqual({ xmlns: 'jabber:client', to: 'juliet@capulet.lit', type: 'chat' });
    expect(message.getChildText('body')).toBe('Wherefore art thou?');
    expect(message.getChild('body')?.parent).toBe(message);
    expect(serialize(message)).toBe(
      '<message xmlns="jabber:client" to="juliet@capulet.lit" type="chat"><body>Wherefore art thou?</body></message>',
    );
  });

  it('skips undefined and null attributes and falsy children, and flattens arrays', () => {
    const to: string | undefined = undefined;
    const el = xml(
      'iq',
      { type: 'get', to, from: null },
      false,
      undefined,
      null,
      [xml('a'), false, xml('b')],
      'text',
    );
    expect(el.attrs).toEqual({ type: 'get' });
    expect(Object.hasOwn(el.attrs, 'to')).toBe(false);
    expect(el.children.map((child) => (typeof child === 'string' ? child : child.name))).toEqual([
      'a',
      'b',
      'text',
    ]);
  });

  it('supports the c()/t()/up()/root() chaining style', () => {
    const root = new Element('iq', { type: 'result' })
      .c('query', { xmlns: 'jabber:iq:roster' })
      .c('item', { jid: 'romeo@montague.lit' })
      .t('x')
      .up()
      .up()
      .root();
    expect(serialize(root)).toBe(
      '<iq type="result"><query xmlns="jabber:iq:roster"><item jid="romeo@montague.lit">x</item></query></iq>',
    );
  });

  it('serializes empty elements as self-closing', () => {
    expect(serialize(xml('presence'))).toBe('<presence/>');
    expect(xml('presence', { type: 'unavailable' }).toString()).toBe('<presence type="unavailable"/>');
  });
});

describe('element accessors', () => {
  const stanza = xml(
    'message',
    { xmlns: 'jabber:client' },
    'lead ',
    xml('body', null, 'hello'),
    xml('x', { xmlns: 'jabber:x:data', type: 'form' }),
    xml('x', { xmlns: 'jabber:x:oob' }),
    ' tail',
  );

  it('finds children by local name and namespace', () => {
    expect(stanza.getChild('x')?.attr('xmlns')).toBe('jabber:x:data');
    expect(stanza.getChild('x', 'jabber:x:oob')?.attr('xmlns')).toBe('jabber:x:oob');
    expect(stanza.getChild('x', 'urn:nope')).toBeUndefined();
    expect(stanza.getChildren('x')).toHaveLength(2);
    expect(stanza.getChildren(undefined, 'jabber:client').map((el) => el.name)).toEqual(['body']);
    expect(stanza.getChildByNS('jabber:x:oob')?.name).toBe('x');
    expect(stanza.elements().map((el) => el.name)).toEqual(['body', 'x', 'x']);
    expect(stanza.firstElement()?.name).toBe('body');
    expect(stanza.text()).toBe('lead  tail');
    expect(stanza.is('message', 'jabber:client')).toBe(true);
    expect(stanza.is('message', 'jabber:server')).toBe(false);
  });

  it('sets, removes and reads attributes', () => {
    const el = xml('presence', { type: 'unavailable' });
    expect(el.setAttr('to', 'a@b').setAttr('type', undefined).attrs).toEqual({ to: 'a@b' });
    expect(el.attr('type')).toBeUndefined();
  });

  it('removes children and clears their parent', () => {
    const body = xml('body');
    const thread = xml('thread');
    const delay = xml('delay', { xmlns: 'urn:xmpp:delay' });
    const message = xml('message', null, body, thread, delay);
    message.remove(thread);
    expect(thread.parent).toBeUndefined();
    message.removeChildren('delay', 'urn:xmpp:delay');
    expect(delay.parent).toBeUndefined();
    expect(message.elements()).toEqual([body]);
    expect(body.parent).toBe(message);
  });
});

describe('escaping', () => {
  it('escapes markup characters in text', () => {
    expect(escapeText('a < b && c > d')).toBe('a &lt; b &amp;&amp; c &gt; d');
    expect(escapeText('quotes " \' stay')).toBe('quotes " \' stay');
    expect(escapeText('plain')).toBe('plain');
  });

  it('escapes a carriage return in text, which a parser would otherwise turn into a line feed', () => {
    expect(escapeText('a\r\nb')).toBe('a&#xD;\nb');
  });

  it('escapes quotes and whitespace that attribute normalization would change', () => {
    expect(escapeAttr(`<"it's" & more>`)).toBe('&lt;&quot;it&apos;s&quot; &amp; more&gt;');
    expect(escapeAttr('a\tb\nc\rd')).toBe('a&#x9;b&#xA;c&#xD;d');
  });

  it('escapes text and attribute values when serializing', () => {
    const el = xml('body', { title: 'say "hi" & <wave>' }, '1 < 2 & ]]> done');
    expect(serialize(el)).toBe(
      '<body title="say &quot;hi&quot; &amp; &lt;wave&gt;">1 &lt; 2 &amp; ]]&gt; done</body>',
    );
  });

  const samples = [
    'plain',
    '<>&"\'',
    '&amp; is already escaped',
    ']]>',
    'tab\tnewline\ncarriage\rcrlf\r\nend',
    '  leading and trailing spaces  ',
    'Ünïcödé 日本語 русский عربى',
    'astral 😀🎉𝄞 plane',
    '\u00a0\u2028\u2029\ufeff\ufffd',
  ];

  it.each(samples)('round-trips %j through serialize and parseFrame', (sample) => {
    const built = xml(
      'message',
      { xmlns: 'jabber:client', id: sample },
      xml('body', { 'xml:lang': 'en' }, sample),
    );
    const wire = serialize(built);
    const parsed = parseFrame(wire);
    expect(parsed.attr('id')).toBe(sample);
    expect(parsed.getChildText('body')).toBe(sample);
    expect(parsed.getChild('body')?.attr('xml:lang')).toBe('en');
    expect(serialize(parsed)).toBe(wire);
  });
});

describe('namespaces', () => {
  it('resolves default and prefixed namespaces through ancestors on built trees', () => {
    const stream = xml(
      'stream:stream',
      { xmlns: 'jabber:client', 'xmlns:stream': 'http://etherx.jabber.org/streams' },
      xml(
        'stream:features',
        null,
        xml('bind', { xmlns: 'urn:ietf:params:xml:ns:xmpp-bind' }, xml('required')),
        xml('ver', { xmlns: 'urn:xmpp:features:rosterver' }),
      ),
      xml('message', null, xml('body')),
    );
    const features = stream.getChild('features')!;
    expect(stream.getNS()).toBe('http://etherx.jabber.org/streams');
    expect(features.getNS()).toBe('http://etherx.jabber.org/streams');
    expect(features.prefix).toBe('stream');
    expect(features.localName).toBe('features');
    expect(features.getChild('bind')?.getChild('required')?.getNS()).toBe('urn:ietf:params:xml:ns:xmpp-bind');
    expect(stream.getChild('message')?.getChild('body')?.xmlns).toBe('jabber:client');
    expect(stream.getChild('message', 'jabber:client')).toBeDefined();
  });

  it('resolves namespaces on parsed trees exactly as the sender scoped them', () => {
    const parsed = parseFrame(
      "<iq xmlns='jabber:client' xmlns:p='urn:example:p' type='get'>" +
        "<p:query><item/><p:item/><other xmlns='urn:example:other'><leaf/></other></p:query>" +
        "<unscoped xmlns=''/></iq>",
    );
    const query = parsed.getChild('query')!;
    expect(parsed.getNS()).toBe('jabber:client');
    expect(query.getNS()).toBe('urn:example:p');
    expect(query.getChildren('item').map((item) => item.getNS())).toEqual(['jabber:client', 'urn:example:p']);
    expect(query.getChild('other')?.getChild('leaf')?.getNS()).toBe('urn:example:other');
    expect(parsed.getChild('unscoped')?.getNS()).toBe('');
  });

  it('binds the xml prefix without a declaration', () => {
    expect(xml('xml:note').getNS()).toBe(XML_NAMESPACE);
  });

  it('reports no namespace when nothing declares one', () => {
    expect(xml('a', null, xml('b')).getChild('b')?.getNS()).toBeUndefined();
  });
});

describe('clone and detach', () => {
  const source = () =>
    parseFrame(
      "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " +
        "xmlns:db='jabber:server:dialback' xmlns:x='urn:example:x' xmlns:unused='urn:example:unused'>" +
        "<message to='a@b'><body x:hint='h'>hi</body><stream:error/></message>" +
        "<db:result from='a' to='b'>key</db:result>" +
        "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><plain/></stream:features>" +
        '</stream:stream>',
    );

  it('makes a deep copy that is detached from the original', () => {
    const root = source();
    const message = root.getChild('message')!;
    const copy = message.clone();
    expect(copy.parent).toBeUndefined();
    expect(copy).not.toBe(message);
    copy.getChild('body')!.children = ['changed'];
    copy.setAttr('to', 'c@d');
    expect(message.getChildText('body')).toBe('hi');
    expect(message.attr('to')).toBe('a@b');
  });

  it('copies the inherited declarations the subtree uses, and only those', () => {
    const message = source().getChild('message')!.clone();
    expect(message.attrs).toEqual({
      to: 'a@b',
      xmlns: 'jabber:client',
      'xmlns:x': 'urn:example:x',
      'xmlns:stream': 'http://etherx.jabber.org/streams',
    });
    expect(message.getNS()).toBe('jabber:client');
    expect(message.getChild('error', 'http://etherx.jabber.org/streams')).toBeDefined();
    const reparsed = parseFrame(serialize(message));
    expect(reparsed.getChild('body')?.getNS()).toBe('jabber:client');
  });

  it('keeps prefixed roots and their unprefixed descendants in their namespaces', () => {
    const root = source();
    const result = root.getChild('result', 'jabber:server:dialback')!.clone();
    expect(result.attrs['xmlns:db']).toBe('jabber:server:dialback');
    expect(result.getNS()).toBe('jabber:server:dialback');
    const features = root.getChild('features')!.clone();
    expect(features.getNS()).toBe('http://etherx.jabber.org/streams');
    expect(features.getChild('plain')?.getNS()).toBe('jabber:client');
    expect(features.getChild('starttls')?.getNS()).toBe('urn:ietf:params:xml:ns:xmpp-tls');
  });

  it('does not copy declarations onto a root element without a parent', () => {
    const root = source();
    const copy = root.clone();
    expect(copy.attrs).toEqual(root.attrs);
    expect(serialize(copy)).toBe(serialize(root));
  });

  it('detaches an element in place, keeping its namespaces', () => {
    const root = source();
    const message = root.getChild('message')!;
    expect(message.detach()).toBe(message);
    expect(message.parent).toBeUndefined();
    expect(root.getChild('message')).toBeUndefined();
    expect(message.getNS()).toBe('jabber:client');
    expect(message.getChild('body')?.attrs['x:hint']).toBe('h');
    expect(parseFrame(serialize(message)).getChild('error')?.getNS()).toBe(
      'http://etherx.jabber.org/streams',
    );
  });
});
