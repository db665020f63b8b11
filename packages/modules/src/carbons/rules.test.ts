import { parseFrame, serialize } from '@strom/xml';
import { describe, expect, it } from 'vitest';
import { carbonEligible, hasCarbon, isCopyFor, NS_CARBONS, NS_FORWARD, wrapCarbon } from './rules.js';

const message = (inner: string, attrs = '') =>
  parseFrame(
    `<message xmlns="jabber:client" from="juliet@x/balcony" to="romeo@x/garden"${attrs}>${inner}</message>`,
  );
const both = (inner: string, attrs = '') => [
  carbonEligible(message(inner, attrs), 'sent'),
  carbonEligible(message(inner, attrs), 'received'),
];

describe('carbonEligible (XEP-0280 §6)', () => {
  it('copies chat messages, with or without a body', () => {
    expect(both('<body>hi</body>', ' type="chat"')).toEqual([true, true]);
    expect(both('<active xmlns="http://jabber.org/protocol/chatstates"/>', ' type="chat"')).toEqual([
      true,
      true,
    ]);
  });

  it('copies normal messages (also without a type) only with a body or an IM payload', () => {
    expect(both('<body>hi</body>')).toEqual([true, true]);
    expect(both('<body>hi</body>', ' type="normal"')).toEqual([true, true]);
    expect(both('<subject>no body</subject>')).toEqual([false, false]);
    expect(both('')).toEqual([false, false]);
    expect(both('<received xmlns="urn:xmpp:receipts" id="m1"/>')).toEqual([true, true]);
    expect(both('<displayed xmlns="urn:xmpp:chat-markers:0" id="m1"/>')).toEqual([true, true]);
    expect(both('<composing xmlns="http://jabber.org/protocol/chatstates"/>')).toEqual([true, true]);
  });

  it('does not count a body in another namespace', () => {
    expect(both('<body xmlns="urn:example:other">x</body>')).toEqual([false, false]);
  });

  it('never copies groupchat or headline messages', () => {
    expect(both('<body>room</body>', ' type="groupchat"')).toEqual([false, false]);
    expect(both('<body>news</body>', ' type="headline"')).toEqual([false, false]);
    expect(
      both('<x xmlns="jabber:x:conference" jid="room@muc.x"/><body>join</body>', ' type="groupchat"'),
    ).toEqual([false, false]);
  });

  it('copies errors that carry back an IM message, not bare errors', () => {
    const error =
      '<error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>';
    expect(both(`<body>lost</body>${error}`, ' type="error"')).toEqual([true, true]);
    expect(both(`<gone xmlns="http://jabber.org/protocol/chatstates"/>${error}`, ' type="error"')).toEqual([
      true,
      true,
    ]);
    expect(both(error, ' type="error"')).toEqual([false, false]);
  });

  it('excludes <private/> and the no-copy hint', () => {
    expect(both(`<body>secret</body><private xmlns="${NS_CARBONS}"/>`, ' type="chat"')).toEqual([
      false,
      false,
    ]);
    expect(both('<body>secret</body><no-copy xmlns="urn:xmpp:hints"/>', ' type="chat"')).toEqual([
      false,
      false,
    ]);
    // Other hints do not matter, and `private` in another namespace is not the carbons one.
    expect(both('<body>x</body><no-store xmlns="urn:xmpp:hints"/>', ' type="chat"')).toEqual([true, true]);
    expect(both('<body>x</body><private xmlns="urn:example"/>', ' type="chat"')).toEqual([true, true]);
  });

  it('never copies a message that carries a carbon, genuine or forged', () => {
    for (const kind of ['sent', 'received']) {
      const inner = `<${kind} xmlns="${NS_CARBONS}"><forwarded xmlns="${NS_FORWARD}"><message xmlns="jabber:client" type="chat"><body>x</body></message></forwarded></${kind}>`;
      expect(both(inner, ' type="chat"')).toEqual([false, false]);
    }
  });

  it('copies MUC invitations, direct and mediated', () => {
    expect(both('<x xmlns="jabber:x:conference" jid="room@muc.x"/>')).toEqual([true, true]);
    expect(
      both(
        '<x xmlns="http://jabber.org/protocol/muc#user"><invite from="juliet@x/balcony"><reason>come</reason></invite></x>',
      ),
    ).toEqual([true, true]);
  });

  it('copies private MUC messages sent to a participant, not those received from one', () => {
    const pm = '<body>psst</body><x xmlns="http://jabber.org/protocol/muc#user"/>';
    expect(carbonEligible(message(pm, ' type="chat"'), 'sent')).toBe(true);
    expect(carbonEligible(message(pm, ' type="chat"'), 'received')).toBe(false);
    expect(carbonEligible(message(pm), 'received')).toBe(false);
  });

  it('applies the same rules to stanzas built inside the server (no namespace)', () => {
    const internal = parseFrame('<message from="a@x" to="b@x" type="normal"><body>x</body></message>');
    expect(carbonEligible(internal, 'received')).toBe(true);
  });
});

describe('carbon copies', () => {
  const original = message('<body>Neither, fair saint</body><thread>t1</thread>', ' type="chat" id="m1"');

  it('wraps the original per XEP-0280 §7/§8 and XEP-0297', () => {
    const copy = wrapCarbon('sent', original, 'juliet@x', 'juliet@x/chamber');
    expect(copy.attrs).toEqual({ from: 'juliet@x', to: 'juliet@x/chamber', type: 'chat' });
    const forwarded = copy.getChild('sent', NS_CARBONS)?.getChild('forwarded', NS_FORWARD);
    const inner = forwarded?.getChild('message', 'jabber:client');
    expect(inner?.attrs).toMatchObject({ from: 'juliet@x/balcony', to: 'romeo@x/garden', id: 'm1' });
    expect(inner?.getChildText('body', 'jabber:client')).toBe('Neither, fair saint');
    // Serialized and parsed again (as over the cluster bus), the forwarded message keeps its namespace.
    const again = parseFrame(serialize(copy));
    expect(
      again
        .getChild('sent', NS_CARBONS)
        ?.getChild('forwarded', NS_FORWARD)
        ?.getChild('message', 'jabber:client')
        ?.getChildText('body', 'jabber:client'),
    ).toBe('Neither, fair saint');
  });

  it('leaves the original alone and keeps an absent type absent', () => {
    const plain = parseFrame('<message from="a@x/r" to="b@x"><body>x</body></message>');
    const copy = wrapCarbon('received', plain, 'b@x', 'b@x/other');
    expect(copy.attrs.type).toBeUndefined();
    expect(copy.getChild('received', NS_CARBONS)).toBeDefined();
    expect(plain.attrs.xmlns).toBeUndefined();
    expect(plain.parent).toBeUndefined();
  });

  it('tells its own copies from carbon-looking messages of anyone else', () => {
    const copy = wrapCarbon('received', original, 'romeo@x', 'romeo@x/home');
    expect(hasCarbon(copy)).toBe(true);
    expect(isCopyFor(copy, 'romeo@x')).toBe(true);
    expect(isCopyFor(copy, 'juliet@x')).toBe(false);
    // A contact (or another resource: clients always have a full JID) cannot write one.
    const forged = parseFrame(serialize(copy));
    forged.attrs.from = 'tybalt@x/home';
    expect(isCopyFor(forged, 'romeo@x')).toBe(false);
    forged.attrs.from = 'romeo@x/home';
    expect(isCopyFor(forged, 'romeo@x')).toBe(false);
    expect(isCopyFor(original, 'juliet@x')).toBe(false);
    expect(hasCarbon(original)).toBe(false);
  });
});
