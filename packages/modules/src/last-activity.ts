import {
  CoreEvents,
  defineModule,
  type IqEvent,
  type ModuleContext,
  StanzaError,
  type StanzaEvent,
} from '@strom/core';
import { JID } from '@strom/jid';
import { type Element, xml } from '@strom/xml';
import { blocklists } from './blocking.js';
import { mayViewPresence } from './presence/access.js';

export const NS_LAST_ACTIVITY = 'jabber:iq:last';

/**
 * XEP-0012 Last Activity: the server's uptime, and for an account the seconds since its last logout
 * (0 while it is available), told only to the user and to entities allowed to see their presence.
 *
 * Strom's privacy promise is to store only the time of each account's last login. So logout times
 * are kept in memory, on the node that saw the last resource go, and are lost on restart; when a
 * node does not know one (restart, or the logout happened on another node) it answers from the last
 * login time, which is the latest moment the account is known to have been active for certain.
 * The status text of the final unavailable presence (XEP-0012 §3, optional) is not kept at all.
 */
export const lastActivityModule = defineModule({
  name: 'last-activity',
  setup(ctx) {
    const logouts = new Map<string, Date>();
    // Its presence checks read block lists: their cache listens for changes from the start.
    blocklists(ctx);

    ctx.feature(NS_LAST_ACTIVITY);
    ctx.accountFeature(NS_LAST_ACTIVITY);
    ctx.iq('get', 'host', NS_LAST_ACTIVITY, 'query', () =>
      lastActivityQuery(secondsBetween(new Date(ctx.startedAt), new Date())),
    );
    ctx.iq('get', 'bare', NS_LAST_ACTIVITY, 'query', (event) => accountLastActivity(ctx, event, logouts));
    // XEP-0012 §4: a query for a resource reaches it only when the asker may see the user's presence.
    ctx.hook('iq/full', (event) => guardResourceQuery(ctx, event), 10);

    const noteIfGone = async (account: JID): Promise<void> => {
      if ((await ctx.sessions.resources(account)).length === 0) logouts.set(account.bareString, new Date());
    };
    ctx.on(CoreEvents.sessionClosed, async ({ session }) => {
      if (session.jid !== undefined) await noteIfGone(session.jid.bare());
    });
    ctx.on(CoreEvents.nodeDown, async ({ sessions }) => {
      const accounts = new Map<string, JID>();
      for (const entry of sessions) {
        const jid = parseLocal(ctx, entry.jid);
        if (jid !== undefined) accounts.set(jid.bareString, jid.bare());
      }
      for (const account of accounts.values()) await noteIfGone(account);
    });
    ctx.on(CoreEvents.accountDeleted, ({ jid }) => {
      logouts.delete(jid.bareString);
    });
  },
});

async function accountLastActivity(
  ctx: ModuleContext,
  event: IqEvent,
  logouts: ReadonlyMap<string, Date>,
): Promise<Element> {
  const { from, to } = event;
  const owner = to.bare();
  if (!(await mayViewPresence(ctx, owner, from))) throw new StanzaError('forbidden');
  // The user asking about their own account is connected right now (XEP-0012 §3: "connected or
  // available"). For others only availability counts: a connected resource that sent no presence
  // must stay invisible to them.
  if (from.bareString === owner.bareString) return lastActivityQuery(0);
  const entries = await ctx.sessions.resources(owner);
  if (entries.some((entry) => entry.available)) return lastActivityQuery(0);
  const account = await ctx.storage.accounts.get(owner.local);
  const since = lastSeen(logouts.get(owner.bareString), account?.lastLoginAt ?? undefined);
  if (since === undefined) throw new StanzaError('item-not-found', 'No activity is known for this account');
  return lastActivityQuery(secondsBetween(since, new Date()));
}

/**
 * The most recent moment the account is known to have been active. A remembered logout older than
 * the last login is stale (the user came back, maybe through another node, and left again unseen).
 */
export function lastSeen(loggedOutAt: Date | undefined, lastLoginAt: Date | undefined): Date | undefined {
  if (loggedOutAt === undefined) return lastLoginAt;
  if (lastLoginAt === undefined) return loggedOutAt;
  return loggedOutAt.getTime() >= lastLoginAt.getTime() ? loggedOutAt : lastLoginAt;
}

/** Whole seconds from `since` to `now`, never negative (clocks of other nodes may run ahead). */
export function secondsBetween(since: Date, now: Date): number {
  return Math.max(0, Math.floor((now.getTime() - since.getTime()) / 1000));
}

function lastActivityQuery(seconds: number): Element {
  return xml('query', { xmlns: NS_LAST_ACTIVITY, seconds: String(seconds) });
}

async function guardResourceQuery(ctx: ModuleContext, event: StanzaEvent): Promise<boolean> {
  const { stanza } = event;
  if (event.type !== 'get' || stanza.firstElement()?.is('query', NS_LAST_ACTIVITY) !== true) return false;
  if (await mayViewPresence(ctx, event.to.bare(), event.from)) return false;
  await ctx.bounce(stanza, new StanzaError('forbidden'), event.origin);
  return true;
}

function parseLocal(ctx: ModuleContext, jid: string): JID | undefined {
  const parsed = JID.tryParse(jid);
  return parsed !== undefined && parsed.local !== '' && ctx.hosts.isLocal(parsed.domain) ? parsed : undefined;
}
