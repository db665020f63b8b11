import { randomBytes } from 'node:crypto';
import type { Element } from '@strom/xml';

interface PendingIq {
  resolve(result: Element): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** IQ requests the server sent and is waiting on, matched to their responses by id. */
export class IqTracker {
  private readonly pending = new Map<string, PendingIq>();
  private counter = 0;
  private readonly prefix = randomBytes(4).toString('hex');

  constructor(private readonly timeoutMs: number) {}

  /** Gives the IQ a fresh id and resolves with the response (rejects on error or timeout). */
  track(iq: Element, send: (iq: Element) => void, timeoutMs = this.timeoutMs): Promise<Element> {
    const id = `${this.prefix}-${(++this.counter).toString(36)}`;
    iq.attrs.id = id;
    return new Promise<Element>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error('IQ timed out'));
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      send(iq);
    });
  }

  /** Resolves a pending request from its response; unknown ids are ignored. */
  settle(response: Element): void {
    const id = response.attrs.id;
    const pending = id === undefined ? undefined : this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id!);
    clearTimeout(pending.timer);
    if (response.attrs.type === 'result') pending.resolve(response);
    else pending.reject(Object.assign(new Error('IQ error'), { stanza: response }));
  }

  rejectAll(reason: string): void {
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new Error(reason));
    }
    this.pending.clear();
  }
}
