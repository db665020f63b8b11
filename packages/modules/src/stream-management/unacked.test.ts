import { parseElement, xml } from '@strom/xml';
import { describe, expect, it } from 'vitest';
import { delayedCopy, fateOf, NS_DELAY } from './unacked.js';

describe('unacknowledged stanzas of a session that is gone', () => {
  it('routes messages again, answers IQ requests and drops the rest', () => {
    expect(fateOf(xml('message', { type: 'chat' }))).toBe('reroute');
    expect(fateOf(xml('message', { type: 'groupchat' }))).toBe('reroute');
    expect(fateOf(xml('iq', { type: 'get' }))).toBe('bounce');
    expect(fateOf(xml('iq', { type: 'set' }))).toBe('bounce');
    expect(fateOf(xml('iq', { type: 'result' }))).toBe('drop');
    expect(fateOf(xml('iq', { type: 'error' }))).toBe('drop');
    expect(fateOf(xml('presence'))).toBe('drop');
    expect(fateOf(xml('presence', { type: 'subscribe' }))).toBe('drop');
  });

  it('adds a delay stamped with the first sending to a copy, leaving the shared original alone', () => {
    const original = parseElement('<message xmlns="jabber:client" to="a@x/r"><body>hi</body></message>');
    const at = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
    const copy = delayedCopy(original, 'x', at);
    expect(original.getChild('delay', NS_DELAY)).toBeUndefined();
    const delay = copy.getChild('delay', NS_DELAY);
    expect(delay?.attrs).toEqual({ xmlns: NS_DELAY, from: 'x', stamp: '2025-01-02T03:04:05Z' });
    expect(copy.getChildText('body')).toBe('hi');
  });

  it('keeps the delay this server added earlier (offline storage), and adds its own beside a foreign one', () => {
    const stored = parseElement(
      `<message><body>old</body><delay xmlns="${NS_DELAY}" from="x" stamp="2020-01-01T00:00:00Z"/></message>`,
    );
    expect(delayedCopy(stored, 'x', Date.now()).getChildren('delay', NS_DELAY)).toHaveLength(1);
    const foreign = parseElement(
      `<message><body>b</body><delay xmlns="${NS_DELAY}" from="elsewhere" stamp="2020-01-01T00:00:00Z"/></message>`,
    );
    expect(delayedCopy(foreign, 'x', Date.now()).getChildren('delay', NS_DELAY)).toHaveLength(2);
  });
});
