import type { XmppServer } from '@strom/core';
import type { JID } from '@strom/jid';
import { isBlocked } from '../blocking.js';
import { receivesPresenceFrom, sharesPresenceWith } from './rules.js';

function isLocalAccount(server: XmppServer, jid: JID): boolean {
  return jid.local !== '' && server.hosts(jid.domain);
}

/** Whether `owner` (a local account) blocked `other`. */
export function ownerBlocked(server: XmppServer, owner: JID, other: JID): Promise<boolean> {
  return isBlocked(server, owner.bare(), other);
}

/**
 * Whether presence must not flow between two addresses in either direction: a user's presence never
 * reaches a JID the user blocked, and never comes to them from one (XEP-0191 §3.3).
 */
export async function presenceBlocked(server: XmppServer, a: JID, b: JID): Promise<boolean> {
  const [aBlocksB, bBlocksA] = await Promise.all([
    isLocalAccount(server, a) ? isBlocked(server, a.bare(), b) : false,
    isLocalAccount(server, b) ? isBlocked(server, b.bare(), a) : false,
  ]);
  return aBlocksB || bBlocksA;
}

/**
 * Whether `viewer` may learn the presence (and so the availability or last activity) of the local
 * account `owner`: it is the owner, or the owner's roster item for it grants a subscription
 * (`from`/`both`) and neither side blocked the other. Anyone else learns nothing, not even whether
 * the account exists.
 */
export async function mayViewPresence(server: XmppServer, owner: JID, viewer: JID): Promise<boolean> {
  if (viewer.bareString === owner.bareString) return true;
  const item = await server.storage.roster.getItem(owner.local, viewer.bareString);
  if (!sharesPresenceWith(item?.subscription)) return false;
  return !(await presenceBlocked(server, owner, viewer));
}

/** Whether the local account `owner` accepts presence broadcast by `sender` (a `to`/`both` subscription). */
export async function acceptsPresenceFrom(server: XmppServer, owner: JID, sender: JID): Promise<boolean> {
  if (sender.bareString === owner.bareString) return true;
  const item = await server.storage.roster.getItem(owner.local, sender.bareString);
  if (!receivesPresenceFrom(item?.subscription)) return false;
  return !(await ownerBlocked(server, owner, sender));
}
