import type { Element } from '@strom/xml';
import { isChatStateOnly } from '../offline.js';

/**
 * What may wait while the client is inactive (XEP-0352 §3.2), and under which key: a newer stanza
 * with the same key replaces the one waiting.
 * - availability presence (available, unavailable): the latest per sender full JID;
 * - messages carrying only a chat state (XEP-0085): the latest per sender full JID.
 * Everything else goes at once (undefined): messages with a body or any other payload, IQs,
 * subscription presence (it asks the user something), errors, and the session's own presence
 * coming back to it (the answer to what the client just did).
 */
export function holdKey(stanza: Element, self: string): string | undefined {
  const from = stanza.attrs.from ?? '';
  switch (stanza.localName) {
    case 'presence': {
      const type = stanza.attrs.type;
      if (type !== undefined && type !== 'unavailable') return undefined;
      if (from === self) return undefined;
      return `presence ${from}`;
    }
    case 'message':
      if (stanza.attrs.type === 'error' || !isChatStateOnly(stanza)) return undefined;
      return `chatstate ${from}`;
    default:
      return undefined;
  }
}

/** The bare form of a JID string (what comes before the resource). */
export function bareOf(jid: string | undefined): string {
  if (jid === undefined) return '';
  const slash = jid.indexOf('/');
  return slash === -1 ? jid : jid.slice(0, slash);
}

/**
 * Stanzas held back while the client is inactive, in the order they (last) arrived. Holding one
 * under a key already held drops the older and puts the newer at the end.
 */
export class HeldStanzas<T> {
  private readonly items = new Map<string, { sender: string; item: T }>();

  get size(): number {
    return this.items.size;
  }

  hold(key: string, sender: string, item: T): void {
    this.items.delete(key);
    this.items.set(key, { sender, item });
  }

  /** Takes out what a sender (bare JID) has waiting, oldest first. */
  takeFrom(sender: string): T[] {
    const taken: T[] = [];
    for (const [key, held] of this.items) {
      if (held.sender !== sender) continue;
      taken.push(held.item);
      this.items.delete(key);
    }
    return taken;
  }

  /** Takes out everything, oldest first. */
  takeAll(): T[] {
    const taken = [...this.items.values()].map((held) => held.item);
    this.items.clear();
    return taken;
  }
}
