import { NS, StanzaError } from '@strom/core';
import type { Subscription } from '@strom/storage';
import { type Element, xml } from '@strom/xml';

/** RFC 6121 §4.7.2.1: the only values `<show/>` may carry. */
const SHOW_VALUES = new Set(['away', 'chat', 'dnd', 'xa']);

/** Presence types that announce availability, as opposed to subscription management, probes and errors. */
export function isAvailabilityType(type: string): type is 'available' | 'unavailable' {
  return type === 'available' || type === 'unavailable';
}

/** The contact is subscribed to the owner's presence: the owner's item for it says so (RFC 6121 §3). */
export function sharesPresenceWith(subscription: Subscription | undefined): boolean {
  return subscription === 'from' || subscription === 'both';
}

/** The owner is subscribed to the contact's presence. */
export function receivesPresenceFrom(subscription: Subscription | undefined): boolean {
  return subscription === 'to' || subscription === 'both';
}

/** Who the owner's roster says gets the owner's presence, and whose presence the owner gets. */
export function presenceAudience(items: ReadonlyArray<{ jid: string; subscription: Subscription }>): {
  subscribers: string[];
  subscriptions: string[];
} {
  const subscribers: string[] = [];
  const subscriptions: string[] = [];
  for (const item of items) {
    if (sharesPresenceWith(item.subscription)) subscribers.push(item.jid);
    if (receivesPresenceFrom(item.subscription)) subscriptions.push(item.jid);
  }
  return { subscribers, subscriptions };
}

/**
 * The priority of an available presence (RFC 6121 §4.7.2.3), 0 when absent. Throws `bad-request`
 * for a malformed presence, which the client must hear about rather than see silently ignored.
 */
export function validatedPriority(stanza: Element): number {
  // Extensions may use the same local names in their own namespaces; only the stanza's own count.
  const ns = stanza.getNS();
  const priorities = stanza.getChildren('priority', ns);
  if (priorities.length > 1) throw new StanzaError('bad-request', 'At most one <priority/> is allowed');
  const shows = stanza.getChildren('show', ns);
  if (shows.length > 1) throw new StanzaError('bad-request', 'At most one <show/> is allowed');
  const show = shows[0]?.text().trim();
  if (show !== undefined && !SHOW_VALUES.has(show)) {
    throw new StanzaError('bad-request', '<show/> must be away, chat, dnd or xa');
  }
  const text = priorities[0]?.text().trim();
  if (text === undefined) return 0;
  if (!/^[+-]?\d{1,3}$/.test(text)) throw new StanzaError('bad-request', '<priority/> must be an integer');
  const priority = Number.parseInt(text, 10);
  if (priority < -128 || priority > 127) {
    throw new StanzaError('bad-request', '<priority/> must be between -128 and 127');
  }
  return priority;
}

/** A copy of a presence addressed to someone else; the original may be shared and stays untouched. */
export function addressedCopy(stanza: Element, to: string, from?: string): Element {
  const copy = stanza.clone();
  copy.attrs.to = to;
  if (from !== undefined) copy.attrs.from = from;
  copy.attrs.xmlns ??= NS.client;
  return copy;
}

export function unavailablePresence(from: string, to?: string): Element {
  return xml('presence', { xmlns: NS.client, type: 'unavailable', from, to });
}

/** RFC 6121 §4.3.1: a probe goes out from the user's bare JID. */
export function probePresence(fromBare: string, toBare: string): Element {
  return xml('presence', { xmlns: NS.client, type: 'probe', from: fromBare, to: toBare });
}

/** Splits JIDs into those on this server and those elsewhere (which need server-to-server routing). */
export function splitByDomain(
  jids: Iterable<string>,
  isLocal: (domain: string) => boolean,
): { local: string[]; remote: string[] } {
  const local: string[] = [];
  const remote: string[] = [];
  for (const jid of jids) (isLocal(domainOf(jid)) ? local : remote).push(jid);
  return { local, remote };
}

/** The domainpart of a prepared JID string. */
export function domainOf(jid: string): string {
  const slash = jid.indexOf('/');
  const bare = slash === -1 ? jid : jid.slice(0, slash);
  const at = bare.indexOf('@');
  return at === -1 ? bare : bare.slice(at + 1);
}
