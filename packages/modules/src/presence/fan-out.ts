import { type DeliveryItem, type ModuleContext, NS, type SessionEntry } from '@strom/core';
import type { JID } from '@strom/jid';
import { type Element, parseElement, xml } from '@strom/xml';
import { addressedCopy, splitByDomain } from './rules.js';
/** Resources by bare JID, as the session directory returned them. */
export type Directory = Map<string, SessionEntry[]>;

export interface Broadcast {
  /** The presence to send, `from` already set to the sender's full JID. */
  stanza: Element;
  /** The sender's account: its own available resources get a copy too (RFC 6121 §4.2.2, §4.5.2). */
  owner: JID;
  /** Bare JIDs of the contacts allowed to see it, on this server or elsewhere. */
  contacts: readonly string[];
}

export function availableEntries(entries: readonly SessionEntry[] | undefined): SessionEntry[] {
  return entries === undefined ? [] : entries.filter((entry) => entry.available);
}

/**
 * Sends presence broadcasts to every available resource of the contacts and of the sender's own
 * account. However many broadcasts and contacts there are, the directory is asked once (together
 * with `alsoLookUp`, so callers can reuse the answer) and local delivery is one batched call, since a
 * user with hundreds of contacts must not cost hundreds of round trips. Contacts on other domains get
 * theirs routed one by one; errors coming back for them are acceptable (RFC 6121 §4.4.2).
 */
export async function broadcast(
  ctx: ModuleContext,
  broadcasts: readonly Broadcast[],
  alsoLookUp: readonly string[] = [],
): Promise<Directory> {
  const lookups = new Set<string>(alsoLookUp);
  const plans = broadcasts.map(({ stanza, owner, contacts }) => {
    const { local, remote } = splitByDomain(contacts, (domain) => ctx.hosts.isLocal(domain));
    const targets = [...local, owner.bareString];
    for (const target of targets) lookups.add(target);
    return { stanza, targets, remote };
  });
  const directory = lookups.size > 0 ? await ctx.sessions.resourcesMany([...lookups]) : new Map();

  const deliveries: DeliveryItem[] = [];
  for (const { stanza, targets } of plans) {
    for (const target of new Set(targets)) {
      const entries = availableEntries(directory.get(target));
      if (entries.length > 0) deliveries.push({ stanza: addressedCopy(stanza, target), entries });
    }
  }
  if (deliveries.length > 0) await ctx.deliverMany(deliveries);

  for (const { stanza, remote } of plans) {
    for (const contact of remote) await routeQuietly(ctx, addressedCopy(stanza, contact));
  }
  return directory;
}

/** Routes a presence the server generated; a failure for one recipient must not stop the others. */
export async function routeQuietly(ctx: ModuleContext, stanza: Element): Promise<void> {
  try {
    await ctx.route(stanza);
  } catch (err) {
    ctx.log.warn({ err }, 'presence routing failed');
  }
}

/**
 * The last broadcast presence of a resource from its directory entry, addressed to `to`. An entry
 * without one falls back to the session itself when it is on this node, then to plain available.
 */
export function currentPresence(ctx: ModuleContext, entry: SessionEntry, to: string): Element {
  const published = entry.presence === undefined ? undefined : parsePublished(ctx, entry.presence);
  const presence =
    published ?? ctx.sessions.local(entry.jid)?.presence ?? xml('presence', { xmlns: NS.client });
  return addressedCopy(presence, to, entry.jid);
}

function parsePublished(ctx: ModuleContext, text: string): Element | undefined {
  try {
    return parseElement(text);
  } catch (err) {
    ctx.log.warn({ err }, 'unreadable presence in the session directory');
    return undefined;
  }
}
