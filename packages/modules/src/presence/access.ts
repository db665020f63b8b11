import type { ModuleContext } from '@strom/core';
import type { JID } from '@strom/jid';
import { isBlocked } from '../blocking.js';
import { receivesPresenceFrom, sharesPresenceWith } from './rules.js';

function isLocalAccount(ctx: ModuleContext, jid: JID): boolean {
  return jid.local !== '' && ctx.hosts.isLocal(jid.domain);
}

/**
 * Whether `owner` (a local account) blocked `other`. Read through the calling module's own view of
 * the blocklists (`blocklists(ctx)` in blocking.ts), which the blocking module keeps current by
 * announcing every change; this works whether or not the blocking module is loaded.
 */
export function ownerBlocked(ctx: ModuleContext, owner: JID, other: JID): Promise<boolean> {
  return isBlocked(ctx, owner.bare(), other);
}

/**
 * Whether presence must not flow between two addresses in either direction: a user's presence never
 * reaches a JID the user blocked, and never comes to them from one (XEP-0191 §3.3).
 */
export async function presenceBlocked(ctx: ModuleContext, a: JID, b: JID): Promise<boolean> {
  const [aBlocksB, bBlocksA] = await Promise.all([
    isLocalAccount(ctx, a) ? isBlocked(ctx, a.bare(), b) : false,
    isLocalAccount(ctx, b) ? isBlocked(ctx, b.bare(), a) : false,
  ]);
  return aBlocksB || bBlocksA;
}

/**
 * Whether `viewer` may learn the presence (and so the availability or last activity) of the local
 * account `owner`: it is the owner, or the owner's roster item for it grants a subscription
 * (`from`/`both`) and neither side blocked the other. Anyone else learns nothing, not even whether
 * the account exists.
 */
export async function mayViewPresence(ctx: ModuleContext, owner: JID, viewer: JID): Promise<boolean> {
  if (viewer.bareString === owner.bareString) return true;
  const item = await ctx.storage.roster.getItem(owner.local, viewer.bareString);
  if (!sharesPresenceWith(item?.subscription)) return false;
  return !(await presenceBlocked(ctx, owner, viewer));
}

/** Whether the local account `owner` accepts presence broadcast by `sender` (a `to`/`both` subscription). */
export async function acceptsPresenceFrom(ctx: ModuleContext, owner: JID, sender: JID): Promise<boolean> {
  if (sender.bareString === owner.bareString) return true;
  const item = await ctx.storage.roster.getItem(owner.local, sender.bareString);
  if (!receivesPresenceFrom(item?.subscription)) return false;
  return !(await ownerBlocked(ctx, owner, sender));
}
