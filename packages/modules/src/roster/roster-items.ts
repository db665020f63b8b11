import { NS, StanzaError } from '@strom/core';
import { JID } from '@strom/jid';
import type { RosterItem } from '@strom/storage';
import { type Element, xml } from '@strom/xml';
import type { SubscriptionState } from './subscription-state.js';

export const NS_ROSTER = 'jabber:iq:roster';
export const NS_ROSTER_VERSIONING = 'urn:xmpp:features:rosterver';
export const NS_PRE_APPROVAL = 'urn:xmpp:features:pre-approval';

/** Limits a roster set must respect (RFC 6121 §2.3.3 lets the server choose them). */
export const MAX_NAME_LENGTH = 1023;
export const MAX_GROUP_LENGTH = 1023;
export const MAX_GROUPS_PER_ITEM = 100;

export type RosterSetRequest =
  | { action: 'remove'; jid: string }
  | { action: 'update'; jid: string; name: string | undefined; groups: string[] };

/**
 * Checks a roster set from `owner` (RFC 6121 §2.3.3) and says what it asks for. Throws the
 * StanzaError the client must get. A `subscription` other than "remove" and any `ask` are
 * ignored: subscription state changes only through presence.
 */
export function parseRosterSet(query: Element, owner: JID): RosterSetRequest {
  const items = query.getChildren('item', NS_ROSTER);
  if (items.length !== 1 || query.elements().length !== 1) {
    throw new StanzaError('bad-request', 'A roster set carries exactly one item');
  }
  const item = items[0]!;
  const rawJid = item.attrs.jid;
  if (rawJid === undefined) throw new StanzaError('bad-request', 'The item has no jid');
  const jid = JID.tryParse(rawJid);
  if (jid === undefined) throw new StanzaError('jid-malformed', 'The item jid is not a valid JID');
  if (jid.resource !== '') throw new StanzaError('jid-malformed', 'Roster items are bare JIDs');
  if (jid.bareString === owner.bareString) {
    throw new StanzaError('not-allowed', 'An account cannot be in its own roster');
  }
  if (item.attrs.subscription === 'remove') return { action: 'remove', jid: jid.bareString };

  const rawName = item.attrs.name;
  // An empty name means "no name", as most clients use it.
  const name = rawName === undefined || rawName === '' ? undefined : rawName;
  if (name !== undefined && name.length > MAX_NAME_LENGTH) {
    throw new StanzaError('not-acceptable', `The item name is longer than ${MAX_NAME_LENGTH} characters`);
  }
  const groups: string[] = [];
  for (const group of item.getChildren('group', NS_ROSTER)) {
    const text = group.text();
    if (text === '') throw new StanzaError('not-acceptable', 'A group name cannot be empty');
    if (text.length > MAX_GROUP_LENGTH) {
      throw new StanzaError('not-acceptable', `A group name is longer than ${MAX_GROUP_LENGTH} characters`);
    }
    if (groups.includes(text)) throw new StanzaError('bad-request', `The group "${text}" is given twice`);
    groups.push(text);
  }
  if (groups.length > MAX_GROUPS_PER_ITEM) {
    throw new StanzaError('not-acceptable', `An item can be in at most ${MAX_GROUPS_PER_ITEM} groups`);
  }
  return { action: 'update', jid: jid.bareString, name, groups };
}

/** The `<item/>` for a roster result or push (RFC 6121 §2.1.2). */
export function itemElement(item: RosterItem): Element {
  const el = xml('item', { jid: item.jid });
  if (item.name !== undefined) el.attrs.name = item.name;
  el.attrs.subscription = item.subscription;
  if (item.askOut) el.attrs.ask = 'subscribe';
  if (item.approved) el.attrs.approved = 'true';
  for (const group of item.groups) el.c('group').t(group);
  return el;
}

export function removedItemElement(jid: string): Element {
  return xml('item', { jid, subscription: 'remove' });
}

export function rosterQuery(version: number | undefined, items: Element[]): Element {
  const query = xml('query', { xmlns: NS_ROSTER });
  if (version !== undefined) query.attrs.ver = formatVersion(version);
  for (const item of items) query.append(item);
  return query;
}

/** A roster push for one resource (RFC 6121 §2.1.6): no `from`, so it can only come from the server. */
export function rosterPush(to: string, id: string, version: number, item: Element): Element {
  return xml('iq', { xmlns: NS.client, type: 'set', id, to }, rosterQuery(version, [item]));
}

export function formatVersion(version: number): string {
  return String(version);
}

/** The version a client cached, or undefined for anything this server never handed out. */
export function parseVersion(ver: string): number | undefined {
  if (!/^\d{1,15}$/.test(ver)) return undefined;
  return Number(ver);
}

export function stateOf(item: RosterItem | undefined, pendingIn: boolean): SubscriptionState {
  return {
    subscription: item?.subscription ?? 'none',
    pendingOut: item?.askOut ?? false,
    pendingIn,
    approved: item?.approved ?? false,
  };
}
