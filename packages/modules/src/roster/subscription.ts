import {
  type AnyModule,
  CoreEvents,
  defineModule,
  type ModuleContext,
  NS,
  StanzaError,
  type StanzaEvent,
} from '@strom/core';
import { JID } from '@strom/jid';
import { xml } from '@strom/xml';
import { blocklists, isBlocked } from '../blocking.js';
import { initialPresence } from '../presence/events.js';
import { NS_PRE_APPROVAL, stateOf } from './roster-items.js';
import { RosterService, rosterSettings } from './roster-service.js';
import { inbound, isSubscriptionType, outbound, type SubscriptionType } from './subscription-state.js';

/**
 * RFC 6121 §3: presence subscriptions. Outbound requests and answers from the user's clients update
 * the user's roster and are routed on stamped with the user's bare JID; inbound ones update the
 * contact's roster and reach the contact's available resources, or wait for the contact's next
 * initial presence. Pre-approval (§3.4) is supported. The state machine itself is the pure
 * `subscription-state.ts`.
 *
 * It needs the roster module, which shows the subscription state to clients and marks the resources
 * that get roster pushes, and the presence module, whose `initialPresence` brings pending requests
 * back. Items it adds count against the same MAX_ROSTER_ITEMS limit.
 */
export const subscriptionModule: AnyModule = defineModule({
  name: 'subscription',
  requires: ['roster', 'presence'],
  settings: rosterSettings,
  setup(ctx, settings) {
    const service = new RosterService(ctx, settings);
    // This module's own cached view of the blocklists, following the blocking module's announcements.
    blocklists(ctx);
    ctx.streamFeature('pre-bind', () => xml('sub', { xmlns: NS_PRE_APPROVAL }));

    const onOutbound = async (event: StanzaEvent): Promise<boolean> => {
      // Only what the user's own clients send is theirs to manage.
      if (!isSubscriptionType(event.type) || event.session === undefined) return false;
      try {
        await handleOutbound(ctx, service, event, event.type);
      } catch (err) {
        if (!(err instanceof StanzaError)) throw err;
        await ctx.bounce(event.stanza, err, event.origin);
      }
      return true;
    };
    // A subscription is between accounts: a request to a full JID is about its bare JID.
    ctx.hook('pre-presence/bare', onOutbound);
    ctx.hook('pre-presence/full', onOutbound);

    const onInbound = async (event: StanzaEvent): Promise<boolean> => {
      if (!isSubscriptionType(event.type)) return false;
      await handleInbound(ctx, service, event, event.type);
      return true;
    };
    ctx.hook('presence/bare', onInbound);
    ctx.hook('presence/full', onInbound);

    ctx.on(initialPresence, async ({ session }) => {
      const owner = session.jid!.bare();
      for (const contact of await ctx.storage.roster.listPendingIn(owner.local)) {
        const sender = JID.tryParse(contact);
        if (sender && (await isBlocked(ctx, owner, sender))) continue;
        session.send(
          xml('presence', {
            xmlns: NS.client,
            type: 'subscribe',
            from: contact,
            to: session.jid!.toString(),
          }),
        );
      }
    });

    ctx.on(CoreEvents.accountDeleted, async ({ username, jid }) => {
      await cancelAllSubscriptions(ctx, username, jid.bare());
    });
  },
});

/** A subscription stanza from one of the user's clients (RFC 6121 §3.1.2, §3.2.2, §3.3.2, §3.4). */
async function handleOutbound(
  ctx: ModuleContext,
  service: RosterService,
  event: StanzaEvent,
  type: SubscriptionType,
): Promise<void> {
  const user = event.from.bare();
  const contact = event.to.bare();
  // Another resource of the same account: an account has no subscription to itself.
  if (contact.bareString === user.bareString) return;
  const record = await service.contact(user, contact.bareString);
  const transition = outbound(stateOf(record.item, record.pendingIn), type);
  const forward = () => {
    const stanza = event.stanza.clone();
    stanza.attrs.from = user.bareString;
    stanza.attrs.to = contact.bareString;
    return ctx.route(stanza);
  };

  // The contact's server sends its unavailable presence in answer to an unsubscribe; the user
  // accepts it only while still subscribed, so the contact hears of it before the user's state changes.
  if (type === 'unsubscribe') {
    await forward();
    await service.applyState(user, contact.bareString, record, transition.state);
    return;
  }
  // Likewise the contact takes the user's last presence only while its subscription still stands.
  if (transition.presenceToContact === 'unavailable') await service.sendUnavailable(user, contact);
  await service.applyState(user, contact.bareString, record, transition.state);
  if (transition.route) await forward();
  if (transition.presenceToContact === 'available' && !(await isBlocked(ctx, user, contact))) {
    await service.sendCurrentPresence(user, contact);
  }
}

/** A subscription stanza for a local account (RFC 6121 §3.1.3, §3.1.6, §3.2.3, §3.3.3, §3.4). */
async function handleInbound(
  ctx: ModuleContext,
  service: RosterService,
  event: StanzaEvent,
  type: SubscriptionType,
): Promise<void> {
  const owner = event.to.bare();
  const sender = event.from.bare();
  if (sender.bareString === owner.bareString) return;
  // Nothing is answered for a missing account: no error would tell the sender whether it exists.
  if (!(await ctx.storage.accounts.exists(owner.local))) return;
  if (type === 'subscribe' && (await isBlocked(ctx, owner, event.from))) return;

  const record = await service.contact(owner, sender.bareString);
  const transition = inbound(stateOf(record.item, record.pendingIn), type);
  if (transition.presenceToContact === 'unavailable') await service.sendUnavailable(owner, sender);
  await service.applyState(owner, sender.bareString, record, transition.state);
  if (transition.deliver) {
    const stanza = event.stanza.clone();
    stanza.attrs.from = sender.bareString;
    stanza.attrs.to = owner.bareString;
    // With no resource available a request stays pending and comes again at the next login.
    await service.toAvailableResources(owner, stanza);
  }
  if (transition.autoReply) {
    await ctx.route(
      xml('presence', {
        xmlns: NS.client,
        type: transition.autoReply,
        from: owner.bareString,
        to: sender.bareString,
      }),
    );
  }
  if (transition.presenceToContact === 'available' && !(await isBlocked(ctx, owner, sender))) {
    await service.sendCurrentPresence(owner, sender);
  }
}

/**
 * An account is going away: every contact hears that both subscriptions end, as if the user had
 * sent unsubscribe and unsubscribed, so local contacts' rosters follow and their clients get pushes.
 */
async function cancelAllSubscriptions(ctx: ModuleContext, username: string, user: JID): Promise<void> {
  const [{ items }, pending] = await Promise.all([
    ctx.storage.roster.get(username),
    ctx.storage.roster.listPendingIn(username),
  ]);
  const contacts = new Set([...items.map((item) => item.jid), ...pending]);
  for (const contact of contacts) {
    for (const type of ['unsubscribe', 'unsubscribed'] as const) {
      try {
        await ctx.route(xml('presence', { xmlns: NS.client, type, from: user.bareString, to: contact }));
      } catch (err) {
        ctx.log.warn({ err }, 'could not cancel a subscription of a deleted account');
      }
    }
  }
}
