import { describe, expect, it } from 'vitest';
import { COUNTER_MODULUS } from './counter.js';
import { UnackedQueue } from './queue.js';

const MAX = COUNTER_MODULUS - 1;

function filled(count: number, start = 0): UnackedQueue<string> {
  const queue = new UnackedQueue<string>(start);
  for (let i = 1; i <= count; i++) queue.push(`s${i}`);
  return queue;
}

describe('the unacknowledged queue', () => {
  it('counts what was sent and drops what the peer acknowledges, oldest first', () => {
    const queue = filled(5);
    expect(queue.sent).toBe(5);
    expect(queue.length).toBe(5);
    expect(queue.ack(2)).toEqual({ ok: true, acked: ['s1', 's2'] });
    expect(queue.acked).toBe(2);
    expect(queue.pending()).toEqual(['s3', 's4', 's5']);
    // The same h again confirms nothing new.
    expect(queue.ack(2)).toEqual({ ok: true, acked: [] });
    expect(queue.ack(5)).toEqual({ ok: true, acked: ['s3', 's4', 's5'] });
    expect(queue.length).toBe(0);
    expect(queue.sent).toBe(5);
  });

  it('refuses an h above the send count, and one that goes backwards, leaving the queue as it was', () => {
    const queue = filled(3);
    expect(queue.ack(4)).toEqual({ ok: false, h: 4, sendCount: 3 });
    expect(queue.ack(2).ok).toBe(true);
    expect(queue.ack(1)).toEqual({ ok: false, h: 1, sendCount: 3 });
    expect(queue.pending()).toEqual(['s3']);
    expect(queue.acked).toBe(2);
  });

  it('keeps counting across the 2^32 wrap', () => {
    const queue = filled(4, MAX - 1);
    // Sent: MAX, 0, 1, 2.
    expect(queue.sent).toBe(2);
    expect(queue.ack(MAX)).toEqual({ ok: true, acked: ['s1'] });
    expect(queue.ack(1)).toEqual({ ok: true, acked: ['s2', 's3'] });
    expect(queue.ack(3)).toEqual({ ok: false, h: 3, sendCount: 2 });
    expect(queue.ack(2)).toEqual({ ok: true, acked: ['s4'] });
    expect(queue.length).toBe(0);
  });

  it('re-counts stanzas taken for resending from the last acknowledged value', () => {
    const queue = filled(5, MAX - 2);
    expect(queue.ack(MAX).ok).toBe(true);
    const resend = queue.takeForResend();
    expect(resend).toEqual(['s3', 's4', 's5']);
    expect(queue.sent).toBe(MAX);
    expect(queue.length).toBe(0);
    for (const item of resend) queue.push(item);
    expect(queue.sent).toBe(2);
    expect(queue.ack(2)).toEqual({ ok: true, acked: ['s3', 's4', 's5'] });
  });

  it('asks for an ack once the threshold is reached, then again only after as many more', () => {
    const queue = new UnackedQueue<number>();
    const asked: number[] = [];
    for (let i = 1; i <= 12; i++) {
      queue.push(i);
      if (queue.wantsAck(5)) {
        queue.requested();
        asked.push(i);
      }
    }
    expect(asked).toEqual([5, 10]);
    // An answer resets it: the next request waits for the queue to reach the threshold again.
    queue.ack(10);
    expect(queue.wantsAck(5)).toBe(false);
    for (let i = 13; i <= 15; i++) queue.push(i);
    expect(queue.wantsAck(5)).toBe(true);
  });

  it('hands everything over when the session ends', () => {
    const queue = filled(3);
    queue.ack(1);
    expect(queue.drain()).toEqual(['s2', 's3']);
    expect(queue.length).toBe(0);
  });

  it('stays correct over long runs of partial acks', () => {
    const queue = new UnackedQueue<number>();
    let next = 0;
    let acked = 0;
    for (let round = 0; round < 500; round++) {
      for (let i = 0; i < 7; i++) queue.push(next++);
      acked += 5;
      const result = queue.ack(acked);
      expect(result.ok && result.acked[0]).toBe(acked - 5);
    }
    expect(queue.pending()).toEqual(Array.from({ length: 1000 }, (_, i) => 2500 + i));
  });
});
