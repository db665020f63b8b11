import type { Subscription } from '@strom/storage';

/** The presence types that manage subscriptions (RFC 6121 §3). */
export type SubscriptionType = 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed';

export const SUBSCRIPTION_TYPES: ReadonlySet<string> = new Set<SubscriptionType>([
  'subscribe',
  'subscribed',
  'unsubscribe',
  'unsubscribed',
]);

export function isSubscriptionType(type: string): type is SubscriptionType {
  return SUBSCRIPTION_TYPES.has(type);
}

/**
 * What an account's server knows about one contact: the nine states of RFC 6121 Appendix A.1
 * (`subscription` plus the two pending flags) and the pre-approval of §3.4.
 */
export interface SubscriptionState {
  subscription: Subscription;
  /** The owner asked the contact for a subscription and has no answer yet ("Pending Out"). */
  pendingOut: boolean;
  /** The contact asked the owner for a subscription and has no answer yet ("Pending In"). */
  pendingIn: boolean;
  /** The owner approved a subscription request before the contact sent one (§3.4). */
  approved: boolean;
}

export const NO_SUBSCRIPTION: Readonly<SubscriptionState> = {
  subscription: 'none',
  pendingOut: false,
  pendingIn: false,
  approved: false,
};

/** What the owner's presence toward the contact must become after a change of the contact's `from`. */
export type PresenceEffect = 'available' | 'unavailable' | undefined;

export interface OutboundTransition {
  state: SubscriptionState;
  /** Route the stanza on to the contact. */
  route: boolean;
  /** Send the owner's current presence, or unavailable, to the contact. */
  presenceToContact: PresenceEffect;
}

export interface InboundTransition {
  state: SubscriptionState;
  /** Deliver the stanza to the owner's available resources. */
  deliver: boolean;
  /** The owner's server answers the contact on the owner's behalf. */
  autoReply: 'subscribed' | undefined;
  presenceToContact: PresenceEffect;
}

/** The contact receives the owner's presence. */
export function hasFrom(subscription: Subscription): boolean {
  return subscription === 'from' || subscription === 'both';
}

/** The owner receives the contact's presence. */
export function hasTo(subscription: Subscription): boolean {
  return subscription === 'to' || subscription === 'both';
}

function subscriptionOf(to: boolean, from: boolean): Subscription {
  if (to) return from ? 'both' : 'to';
  return from ? 'from' : 'none';
}

function withTo(subscription: Subscription, to: boolean): Subscription {
  return subscriptionOf(to, hasFrom(subscription));
}

function withFrom(subscription: Subscription, from: boolean): Subscription {
  return subscriptionOf(hasTo(subscription), from);
}

function presenceEffect(before: SubscriptionState, after: SubscriptionState): PresenceEffect {
  const was = hasFrom(before.subscription);
  const is = hasFrom(after.subscription);
  if (!was && is) return 'available';
  if (was && !is) return 'unavailable';
  return undefined;
}

/**
 * A subscription stanza the owner sends to the contact (RFC 6121 Appendix A.2, with the
 * pre-approval of §3.4 when `preApproval` is on): the owner's new state and whether to route it.
 */
export function outbound(
  state: SubscriptionState,
  type: SubscriptionType,
  opts: { preApproval: boolean } = { preApproval: true },
): OutboundTransition {
  const next = { ...state };
  let route = false;
  switch (type) {
    case 'subscribe':
      // Routed even when nothing changes, so a contact whose server lost its state can answer again.
      route = true;
      if (!hasTo(state.subscription)) next.pendingOut = true;
      break;
    case 'unsubscribe':
      route = true;
      next.subscription = withTo(state.subscription, false);
      next.pendingOut = false;
      break;
    case 'subscribed':
      if (state.pendingIn) {
        route = true;
        next.subscription = withFrom(state.subscription, true);
        next.pendingIn = false;
        next.approved = false;
      } else if (!hasFrom(state.subscription) && opts.preApproval) {
        next.approved = true;
      }
      break;
    case 'unsubscribed':
      if (state.pendingIn || hasFrom(state.subscription)) {
        route = true;
        next.subscription = withFrom(state.subscription, false);
        next.pendingIn = false;
      }
      // Also the way to withdraw a pre-approval (§3.4).
      next.approved = false;
      break;
  }
  return { state: next, route, presenceToContact: route ? presenceEffect(state, next) : undefined };
}

/**
 * A subscription stanza the contact sent to the owner, at the owner's server (RFC 6121 Appendix
 * A.3, with §3.4 pre-approval and the §3.1.3 auto-reply to a contact that is already subscribed).
 * Stanzas that change nothing are neither delivered nor answered: duplicates and invalid
 * transitions are ignored silently.
 */
export function inbound(state: SubscriptionState, type: SubscriptionType): InboundTransition {
  const next = { ...state };
  let deliver = false;
  let autoReply: InboundTransition['autoReply'];
  switch (type) {
    case 'subscribe':
      if (hasFrom(state.subscription)) {
        autoReply = 'subscribed';
      } else if (state.pendingIn) {
        // A duplicate: the owner has seen the request already, or will at the next login.
      } else if (state.approved) {
        next.subscription = withFrom(state.subscription, true);
        next.approved = false;
        autoReply = 'subscribed';
      } else {
        next.pendingIn = true;
        deliver = true;
      }
      break;
    case 'unsubscribe':
      if (state.pendingIn || hasFrom(state.subscription)) {
        deliver = true;
        next.subscription = withFrom(state.subscription, false);
        next.pendingIn = false;
      }
      break;
    case 'subscribed':
      if (state.pendingOut) {
        deliver = true;
        next.subscription = withTo(state.subscription, true);
        next.pendingOut = false;
      }
      break;
    case 'unsubscribed':
      if (state.pendingOut || hasTo(state.subscription)) {
        deliver = true;
        next.subscription = withTo(state.subscription, false);
        next.pendingOut = false;
      }
      break;
  }
  let presenceToContact = presenceEffect(state, next);
  // A contact that asks again while already subscribed gets the presence it may have lost.
  if (autoReply === 'subscribed') presenceToContact = 'available';
  return { state: next, deliver, autoReply, presenceToContact };
}

export function sameState(a: SubscriptionState, b: SubscriptionState): boolean {
  return (
    a.subscription === b.subscription &&
    a.pendingOut === b.pendingOut &&
    a.pendingIn === b.pendingIn &&
    a.approved === b.approved
  );
}
