/** What the delivery rules need to know about one online resource (a session directory entry). */
export interface Candidate {
  available: boolean;
  priority: number;
}

/** What to do with a message addressed to an account's bare JID. */
export type BareRoute<E extends Candidate> =
  | { action: 'deliver'; to: E[] }
  /** Nobody can take it now: store it for later or, failing that, bounce it (XEP-0160). */
  | { action: 'offline' }
  /** Return `service-unavailable` to the sender. */
  | { action: 'bounce' }
  /** Discard without a word, as the RFC requires for this type. */
  | { action: 'drop' };

const OFFLINE = { action: 'offline' } as const;
const BOUNCE = { action: 'bounce' } as const;
const DROP = { action: 'drop' } as const;

/**
 * RFC 6121 §8.5.2 for a message to `localpart@domainpart`, given the account's online resources.
 * Only available resources with a non-negative priority ever receive such a message.
 * - chat, normal: the available resources with the highest priority (every one of them on a tie);
 *   with none, offline handling.
 * - headline: every available resource with a non-negative priority; with none, dropped.
 * - groupchat: never delivered to a bare JID; `service-unavailable`.
 * - error: silently ignored (§8.5.2.1.1, §8.5.2.2.1).
 */
export function routeBareMessage<E extends Candidate>(type: string, entries: readonly E[]): BareRoute<E> {
  switch (type) {
    case 'groupchat':
      return BOUNCE;
    case 'error':
      return DROP;
    case 'headline': {
      const to = entries.filter(eligible);
      return to.length > 0 ? { action: 'deliver', to } : DROP;
    }
    default: {
      let best = -1;
      let to: E[] = [];
      for (const entry of entries) {
        if (!eligible(entry)) continue;
        if (entry.priority > best) {
          best = entry.priority;
          to = [entry];
        } else if (entry.priority === best) {
          to.push(entry);
        }
      }
      return to.length > 0 ? { action: 'deliver', to } : OFFLINE;
    }
  }
}

function eligible(entry: Candidate): boolean {
  return entry.available && entry.priority >= 0;
}
