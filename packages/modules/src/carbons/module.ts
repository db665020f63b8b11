import {
  type AnyModule,
  type ClientSession,
  CoreEvents,
  defineModule,
  type IqEvent,
  isInternal,
  type ModuleContext,
  type SessionEntry,
  StanzaError,
  type StanzaEvent,
} from '@strom/core';
import type { JID } from '@strom/jid';
import type { Element } from '@strom/xml';
import { messageDelivered } from '../message/index.js';
import { type CarbonDirection, carbonEligible, isCopyFor, NS_CARBONS, wrapCarbon } from './rules.js';

/** Per-session state in `session.data`. */
interface CarbonsState {
  enabled: boolean;
}
const STATE_KEY = 'carbons';

/**
 * After the other modules: a stanza another hook takes (a block, a rejected message) is never
 * copied, and received copies follow the delivery the core or the message module makes.
 */
const COPY_PRIORITY = -100;
/** Before the message module: a copy that lost its resource is dropped, not delivered elsewhere. */
const STRAY_PRIORITY = 200;

/**
 * XEP-0280 Message Carbons: every resource of an account that enabled carbons gets a copy of the
 * IM messages (XEP-0280 §6, `rules.ts`) the account's other resources send (`<sent/>`) and of
 * those delivered to the account's other resources (`<received/>`). `urn:xmpp:carbons:2` is
 * advertised in the server's disco#info, where clients look (§3).
 *
 * Cluster design: the enabled flag lives with the session only (`session.data`); nothing about it
 * is published. The node that handles a message — the sender's for `<sent/>`, the node routing an
 * inbound message for `<received/>` — reads the account's resources from the session directory
 * (one read, as any delivery does) and sends a wrapped copy to every resource that should have one
 * with `ctx.deliverMany`: one bus message per node, no per-message question to other nodes about
 * who enabled what. Sessions on this node that did not enable carbons are skipped right away; for
 * those elsewhere the decision is made where they live: every session carries an outbound filter
 * from before it is bound that drops copies (messages from its own bare JID with a carbons
 * `<sent/>`/`<received/>`, which only this module writes) unless the session enabled carbons. The
 * price is a copy crossing the bus to a remote resource that discards it; the gain is that enabling
 * needs no cluster state to keep, repair after a node dies, or race against.
 *
 * Copies go once to each resource: never to the sender, never to a resource that got the message
 * itself (the full-JID addressee, or those RFC 6121 §8.5.2 picked for a bare-JID message, as
 * `messageDelivered` reports). A message between resources of one account is copied once, as
 * `<received/>`. A copy that can no longer reach its resource is dropped rather than rerouted
 * (XEP-0280 §9.3: nothing bounces back to the sender either, as copies come from the bare JID).
 */
export const carbonsModule: AnyModule = defineModule({
  name: 'carbons',
  // Bare-JID delivery is the message module's: it says which resources got a message directly.
  requires: ['message'],
  setup(ctx) {
    ctx.feature(NS_CARBONS);

    // The filter must be in place before the session is bound and so reachable by copies: the
    // stream features offered after authentication are the module's first sight of a session.
    ctx.streamFeature('pre-bind', (session) => {
      guard(session);
      return undefined;
    });
    ctx.on(CoreEvents.sessionBound, ({ session }) => guard(session), 1000);

    ctx.iq('set', 'self', NS_CARBONS, 'enable', (event) => setEnabled(event, true));
    ctx.iq('set', 'self', NS_CARBONS, 'disable', (event) => setEnabled(event, false));
    // §4/§5: nobody switches carbons for another account's resources.
    for (const name of ['enable', 'disable']) {
      ctx.iq('set', 'bare', NS_CARBONS, name, () => {
        throw new StanzaError('not-allowed', 'Carbons are switched by each resource for itself');
      });
    }

    for (const addressing of ['bare', 'full', 'host'] as const) {
      ctx.hook(`pre-message/${addressing}`, (event) => copySent(ctx, event), COPY_PRIORITY);
    }
    ctx.hook('message/full', (event) => copyReceivedByResource(ctx, event), COPY_PRIORITY);
    ctx.on(messageDelivered, ({ event, to }) => copyReceivedByAccount(ctx, event, to), COPY_PRIORITY);
    ctx.hook('message/bare', (event) => dropStrayCopy(event), STRAY_PRIORITY);
  },
});

function stateOf(session: ClientSession): CarbonsState | undefined {
  return session.data.get(STATE_KEY) as CarbonsState | undefined;
}

/** Gives a session its state and the filter that keeps copies from it until it enables carbons. */
function guard(session: ClientSession): void {
  if (stateOf(session)) return;
  const state: CarbonsState = { enabled: false };
  session.data.set(STATE_KEY, state);
  session.addFilter('out', (out) => {
    if (state.enabled || out.element === undefined || session.jid === undefined) return out;
    return isCopyFor(out.element, session.jid.bareString) ? undefined : out;
  });
}

function setEnabled(event: IqEvent, enabled: boolean): undefined {
  const session = event.session;
  if (!session?.jid?.equals(event.from)) {
    throw new StanzaError('not-allowed', 'Only a client of this server switches its own carbons');
  }
  guard(session);
  stateOf(session)!.enabled = enabled;
  return undefined;
}

/** §8: a message a local client sends goes, wrapped in `<sent/>`, to the account's other resources. */
async function copySent(ctx: ModuleContext, event: StanzaEvent): Promise<undefined> {
  const sender = event.session?.jid;
  if (sender === undefined || !sender.equals(event.from)) return undefined;
  // To the own account: copied once, as `<received/>`, where it is delivered.
  if (event.to.bareString === sender.bareString) return undefined;
  if (!carbonEligible(event.stanza, 'sent')) return undefined;
  await sendCopies(ctx, 'sent', event.stanza, sender, new Set([sender.toString()]));
  return undefined;
}

/**
 * §7 for a message to a full JID: the core delivers it; the account's other resources get copies.
 * When the resource is gone the core hands the message to the bare-JID rules, and the copies
 * follow from `messageDelivered` instead.
 */
async function copyReceivedByResource(ctx: ModuleContext, event: StanzaEvent): Promise<undefined> {
  if (!carbonEligible(event.stanza, 'received')) return undefined;
  const skip = new Set([event.to.toString()]);
  if (event.from.bareString === event.to.bareString) skip.add(event.from.toString());
  await sendCopies(ctx, 'received', event.stanza, event.to, skip, event.to.toString());
  return undefined;
}

/** §7 for a message the bare-JID rules delivered: copies to the resources that did not get it. */
async function copyReceivedByAccount(
  ctx: ModuleContext,
  event: StanzaEvent,
  delivered: readonly SessionEntry[],
): Promise<undefined> {
  if (!carbonEligible(event.stanza, 'received')) return undefined;
  const skip = new Set(delivered.map((entry) => entry.jid));
  if (event.from.bareString === event.to.bareString) skip.add(event.from.toString());
  await sendCopies(ctx, 'received', event.stanza, event.to, skip);
  return undefined;
}

/**
 * Wraps `original` for each resource of `account` outside `skip` and delivers the copies. With
 * `present`, copies go out only while that resource is online (it gets the original).
 */
async function sendCopies(
  ctx: ModuleContext,
  direction: CarbonDirection,
  original: Element,
  account: JID,
  skip: ReadonlySet<string>,
  present?: string,
): Promise<void> {
  try {
    const entries = await ctx.sessions.resources(account.bare());
    if (present !== undefined && !entries.some((entry) => entry.jid === present)) return;
    const bare = account.bareString;
    const items = [];
    for (const entry of entries) {
      if (skip.has(entry.jid) || !mayWant(ctx, entry)) continue;
      items.push({ stanza: wrapCarbon(direction, original, bare, entry.jid), entries: [entry] });
    }
    if (items.length > 0) await ctx.deliverMany(items);
  } catch (err) {
    // The message itself still goes its way: a failed copy must not fail the sender's stream or
    // bounce a message that was delivered.
    ctx.log.error({ error: err instanceof Error ? err.name : typeof err }, 'carbon copies failed');
  }
}

/** A session here is asked directly; one elsewhere decides in its own filter. */
function mayWant(ctx: ModuleContext, entry: SessionEntry): boolean {
  if (!ctx.sessions.isHere(entry)) return true;
  const session = ctx.sessions.local(entry.jid);
  return session !== undefined && stateOf(session)?.enabled === true;
}

/**
 * A copy that could not reach its resource (it went away, or its node did) comes back through the
 * RFC 6121 §8.5.3.2 fallback to the bare JID: it was meant for that resource only.
 */
function dropStrayCopy(event: StanzaEvent): boolean | undefined {
  if (!isInternal(event.origin) || event.to.bareString !== event.from.toString()) return undefined;
  return isCopyFor(event.stanza, event.from.toString()) ? true : undefined;
}
