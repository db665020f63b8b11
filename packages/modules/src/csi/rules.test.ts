import { parseElement } from '@strom/xml';
import { describe, expect, it } from 'vitest';
import { bareOf, HeldStanzas, holdKey } from './rules.js';

const SELF = 'me@x/phone';
const el = (text: string) => parseElement(text);

describe('what an inactive client is spared', () => {
  it('holds availability presence and chat-state-only messages, keyed by sender full JID', () => {
    expect(holdKey(el('<presence from="a@x/1"/>'), SELF)).toBe('presence a@x/1');
    expect(holdKey(el('<presence from="a@x/1" type="unavailable"/>'), SELF)).toBe('presence a@x/1');
    expect(
      holdKey(
        el(
          '<message from="a@x/1" type="chat"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>',
        ),
        SELF,
      ),
    ).toBe('chatstate a@x/1');
  });

  it('lets everything else go at once', () => {
    const now = [
      '<message from="a@x/1"><body>hi</body></message>',
      '<message from="a@x/1"><body>hi</body><active xmlns="http://jabber.org/protocol/chatstates"/></message>',
      '<message from="a@x/1" type="error"><gone xmlns="http://jabber.org/protocol/chatstates"/></message>',
      '<message from="a@x/1"><x xmlns="jabber:x:conference" jid="room@muc.x"/></message>',
      '<presence from="a@x" type="subscribe"/>',
      '<presence from="a@x" type="unsubscribed"/>',
      '<presence from="a@x/1" type="error"/>',
      '<iq from="a@x/1" type="get" id="1"><ping xmlns="urn:xmpp:ping"/></iq>',
      // The client's own presence coming back: the answer to what it just did.
      `<presence from="${SELF}"/>`,
    ];
    for (const text of now) expect(holdKey(el(text), SELF), text).toBeUndefined();
  });

  it('takes the bare JID of a sender', () => {
    expect(bareOf('a@x/r/with/slash')).toBe('a@x');
    expect(bareOf('a@x')).toBe('a@x');
    expect(bareOf('x')).toBe('x');
    expect(bareOf(undefined)).toBe('');
  });
});

describe('held stanzas', () => {
  it('keep the latest per key, in the order of arrival', () => {
    const held = new HeldStanzas<string>();
    held.hold('presence a@x/1', 'a@x', 'a away');
    held.hold('presence b@x/1', 'b@x', 'b online');
    held.hold('presence a@x/1', 'a@x', 'a online');
    expect(held.size).toBe(2);
    expect(held.takeAll()).toEqual(['b online', 'a online']);
    expect(held.size).toBe(0);
  });

  it('give out one sender’s stanzas (every resource of it) and keep the others', () => {
    const held = new HeldStanzas<string>();
    held.hold('presence a@x/1', 'a@x', 'a1');
    held.hold('presence b@x/1', 'b@x', 'b1');
    held.hold('chatstate a@x/2', 'a@x', 'a2 composing');
    expect(held.takeFrom('a@x')).toEqual(['a1', 'a2 composing']);
    expect(held.takeFrom('a@x')).toEqual([]);
    expect(held.takeAll()).toEqual(['b1']);
  });
});
