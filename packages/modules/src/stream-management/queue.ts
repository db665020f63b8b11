import { distance, increment } from './counter.js';

/** What an `<a h/>` (or the `h` of a `<resume/>`) did to the queue. */
export type AckResult<T> =
  /** `acked` are the stanzas the peer confirmed, oldest first (none for a repeated ack). */
  | { ok: true; acked: T[] }
  /** The peer claims more than was sent (`handled-count-too-high`); the queue is unchanged. */
  | { ok: false; h: number; sendCount: number };

/**
 * The outbound side of XEP-0198 for one stream: how many stanzas were sent, what the peer last
 * acknowledged, and a copy of every stanza in between, oldest first. Counters wrap at 2^32.
 *
 * The queue also decides when the server asks for an ack: once `threshold` stanzas wait
 * unacknowledged, one `<r/>`; another only when `threshold` more went out without an answer, so a
 * burst of stanzas costs one request rather than one each.
 */
export class UnackedQueue<T> {
  private sentCount: number;
  private ackedCount: number;
  private items: T[] = [];
  private head = 0;
  /** The send count when the last unanswered `<r/>` went out. */
  private requestedAt: number | undefined;

  /** `start` is where both counters begin (0 for a new stream; other values exercise the wrap). */
  constructor(start = 0) {
    this.sentCount = start;
    this.ackedCount = start;
  }

  /** Stanzas sent on this stream management session (mod 2^32): the peer's `h` is compared with it. */
  get sent(): number {
    return this.sentCount;
  }

  /** The last `h` the peer acknowledged. */
  get acked(): number {
    return this.ackedCount;
  }

  /** Stanzas sent and not yet acknowledged. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** A stanza went out: it is counted and kept until acknowledged. */
  push(item: T): void {
    this.items.push(item);
    this.sentCount = increment(this.sentCount);
  }

  /** The unacknowledged stanzas, oldest first. */
  pending(): T[] {
    return this.items.slice(this.head);
  }

  /** The peer handled every stanza up to `h`: those leave the queue. */
  ack(h: number): AckResult<T> {
    const count = distance(this.ackedCount, h);
    // A smaller h than before also lands here: across the wrap it reads as a huge count.
    if (count > this.length) return { ok: false, h, sendCount: this.sentCount };
    const acked = this.items.slice(this.head, this.head + count);
    this.head += count;
    this.ackedCount = h;
    this.requestedAt = undefined;
    this.compact();
    return { ok: true, acked };
  }

  /** Whether to send `<r/>` now, with `threshold` stanzas allowed to wait unacknowledged. */
  wantsAck(threshold: number): boolean {
    if (this.length < threshold) return false;
    return this.requestedAt === undefined || distance(this.requestedAt, this.sentCount) >= threshold;
  }

  /** An `<r/>` went out. */
  requested(): void {
    this.requestedAt = this.sentCount;
  }

  /**
   * Takes every unacknowledged stanza out to send it again on a resumed stream. The send count goes
   * back to the last ack, so each stanza is counted anew as it is re-sent (the peer's `h` did not
   * count them).
   */
  takeForResend(): T[] {
    const items = this.drain();
    this.sentCount = this.ackedCount;
    return items;
  }

  /** Takes every unacknowledged stanza out for good (the session is over). */
  drain(): T[] {
    const items = this.pending();
    this.items = [];
    this.head = 0;
    this.requestedAt = undefined;
    return items;
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
