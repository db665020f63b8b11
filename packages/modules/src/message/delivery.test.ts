import { describe, expect, it } from 'vitest';
import { type Candidate, routeBareMessage } from './delivery.js';

interface Entry extends Candidate {
  jid: string;
}

const entry = (jid: string, priority: number, available = true): Entry => ({ jid, priority, available });
const jids = (route: ReturnType<typeof routeBareMessage<Entry>>) =>
  route.action === 'deliver' ? route.to.map((e) => e.jid).sort() : route.action;

describe('routeBareMessage (RFC 6121 §8.5.2)', () => {
  const phone = entry('bob@x/phone', 1);
  const laptop = entry('bob@x/laptop', 5);
  const tablet = entry('bob@x/tablet', 5);
  const lurker = entry('bob@x/lurker', -1);
  const silent = entry('bob@x/silent', 10, false);

  it.each(['chat', 'normal'])('sends %s to the highest-priority available resource', (type) => {
    expect(jids(routeBareMessage(type, [phone, laptop, lurker]))).toEqual(['bob@x/laptop']);
  });

  it.each(['chat', 'normal'])('sends %s to every resource sharing the highest priority', (type) => {
    expect(jids(routeBareMessage(type, [phone, laptop, tablet]))).toEqual(['bob@x/laptop', 'bob@x/tablet']);
  });

  it('treats priority 0 as eligible', () => {
    expect(jids(routeBareMessage('chat', [entry('bob@x/zero', 0)]))).toEqual(['bob@x/zero']);
  });

  it.each(['chat', 'normal'])('hands %s to offline handling when no resource qualifies', (type) => {
    expect(routeBareMessage(type, [])).toEqual({ action: 'offline' });
    // Negative priority never gets bare-JID messages; a resource without presence is not available.
    expect(routeBareMessage(type, [lurker, silent])).toEqual({ action: 'offline' });
  });

  it('sends headlines to every available non-negative resource', () => {
    expect(jids(routeBareMessage('headline', [phone, laptop, lurker, silent]))).toEqual([
      'bob@x/laptop',
      'bob@x/phone',
    ]);
  });

  it('drops headlines when nobody can take them', () => {
    expect(routeBareMessage('headline', [lurker, silent])).toEqual({ action: 'drop' });
    expect(routeBareMessage('headline', [])).toEqual({ action: 'drop' });
  });

  it('bounces groupchat whatever the resources', () => {
    expect(routeBareMessage('groupchat', [phone, laptop])).toEqual({ action: 'bounce' });
    expect(routeBareMessage('groupchat', [])).toEqual({ action: 'bounce' });
  });

  it('silently ignores error messages to a bare JID', () => {
    expect(routeBareMessage('error', [phone, laptop])).toEqual({ action: 'drop' });
    expect(routeBareMessage('error', [])).toEqual({ action: 'drop' });
  });

  it('returns the directory entries themselves', () => {
    const route = routeBareMessage('chat', [laptop, tablet]);
    expect(route.action === 'deliver' && route.to[0]).toBe(laptop);
  });
});
