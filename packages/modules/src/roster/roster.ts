import {
  type AnyModule,
  defineModule,
  errorReply,
  iqEventName,
  iqResult,
  type ModuleContext,
  NS,
  StanzaError,
  type StanzaEvent,
} from '@strom/core';
import { JID } from '@strom/jid';
import { xml } from '@strom/xml';
import {
  itemElement,
  NS_ROSTER,
  NS_ROSTER_VERSIONING,
  parseRosterSet,
  parseVersion,
  removedItemElement,
  rosterPush,
  rosterQuery,
} from './roster-items.js';
import { nextPushId, RosterService, rosterSettings } from './roster-service.js';
import { hasFrom, hasTo } from './subscription-state.js';

/**
 * RFC 6121 §2: the roster (get, set, remove) with pushes to interested resources and roster
 * versioning (§2.6). Subscription state is never changed here except by removing an item, which
 * cancels the subscriptions in both directions. The size limit is the MAX_ROSTER_ITEMS setting.
 */
export const rosterModule: AnyModule = defineModule({
  name: 'roster',
  settings: rosterSettings,
  setup(ctx, settings) {
    const service = new RosterService(ctx, settings);
    ctx.streamFeature('pre-bind', () => xml('ver', { xmlns: NS_ROSTER_VERSIONING }));

    // A versioned get answers with an empty result and then pushes, in that order; the generic
    // IQ helper would send its result only after everything else, so this handler replies itself.
    ctx.hook(iqEventName('get', 'self', NS_ROSTER, 'query'), async (event) => {
      try {
        await answerRosterGet(ctx, event);
      } catch (err) {
        const error = err instanceof StanzaError ? err : internalError(ctx, err);
        const reply = errorReply(event.stanza, error);
        if (reply) await ctx.reply(event, reply);
      }
      return true;
    });

    ctx.iq('set', 'self', NS_ROSTER, 'query', async ({ payload, from }) => {
      const owner = from.bare();
      const request = parseRosterSet(payload, owner);
      if (request.action === 'remove') {
        await removeContact(ctx, service, owner, request.jid);
        return undefined;
      }
      const existing = await ctx.storage.roster.getItem(owner.local, request.jid);
      await service.put(
        owner,
        {
          jid: request.jid,
          ...(request.name !== undefined ? { name: request.name } : {}),
          groups: request.groups,
          subscription: existing?.subscription ?? 'none',
          askOut: existing?.askOut ?? false,
          approved: existing?.approved ?? false,
        },
        existing === undefined,
      );
      return undefined;
    });
  },
});

async function answerRosterGet(ctx: ModuleContext, event: StanzaEvent): Promise<void> {
  const { session, from, stanza } = event;
  if (session?.jid?.equals(from)) await ctx.sessions.update(session, { interested: true });
  const owner = from.local;
  const query = stanza.firstElement()!;
  const cached = query.attrs.ver === undefined ? undefined : parseVersion(query.attrs.ver);
  const roster = ctx.storage.roster;

  if (cached !== undefined) {
    const changes = await roster.changesSince(owner, cached);
    if (changes) {
      await ctx.reply(event, iqResult(stanza));
      const pushes = [
        ...changes.removed.map((jid) => removedItemElement(jid)),
        ...changes.items.map((item) => itemElement(item)),
      ];
      // Until the last push arrives the client is not at the current version: the ones before
      // it carry the version it already had, so an interrupted resync is simply done again.
      for (const [index, item] of pushes.entries()) {
        const version = index === pushes.length - 1 ? changes.version : cached;
        await ctx.reply(event, rosterPush(from.toString(), nextPushId(), version, item));
      }
      return;
    }
  }
  const { version, items } = await roster.get(owner);
  await ctx.reply(event, iqResult(stanza, rosterQuery(version, items.map(itemElement))));
}

/**
 * RFC 6121 §2.5.2: removing an item also ends both subscriptions and declines a pending request.
 * The presence that goes with the ends of subscriptions is exchanged before the item disappears,
 * while each side still accepts the other's presence.
 */
async function removeContact(
  ctx: ModuleContext,
  service: RosterService,
  owner: JID,
  contact: string,
): Promise<void> {
  const { item, pendingIn } = await service.contact(owner, contact);
  if (!item) throw new StanzaError('item-not-found', 'There is no such item in the roster');
  const stamp = { xmlns: NS.client, from: owner.bareString, to: contact };
  if (hasFrom(item.subscription)) await service.sendUnavailable(owner, JID.parse(contact));
  if (hasTo(item.subscription) || item.askOut) {
    await ctx.route(xml('presence', { ...stamp, type: 'unsubscribe' }));
  }
  if (hasFrom(item.subscription) || pendingIn) {
    await ctx.route(xml('presence', { ...stamp, type: 'unsubscribed' }));
  }
  if (pendingIn) await ctx.storage.roster.removePendingIn(owner.local, contact);
  if (!(await service.remove(owner, contact))) {
    throw new StanzaError('item-not-found', 'There is no such item in the roster');
  }
}

function internalError(ctx: ModuleContext, err: unknown): StanzaError {
  ctx.log.error({ err }, 'roster request failed');
  return new StanzaError('internal-server-error');
}
