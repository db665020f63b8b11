import {
  type AnyModule,
  type ClientSession,
  defineModule,
  type ModuleContext,
  StanzaError,
  type StanzaEvent,
  setting,
} from '@strom/core';
import { type Element, parseElement, serialize, xml } from '@strom/xml';
import { messageUndeliverable } from './message/index.js';
import { initialPresence } from './presence/index.js';
import { xmppDateTime } from './time.js';

export const NS_DELAY = 'urn:xmpp:delay';
export const NS_HINTS = 'urn:xmpp:hints';
export const NS_CHATSTATES = 'http://jabber.org/protocol/chatstates';
/** XEP-0160 service discovery feature. */
export const FEATURE_MSGOFFLINE = 'msgoffline';
export const DEFAULT_OFFLINE_QUOTA = 1000;

const DELIVERY_BATCH = 100;

/**
 * XEP-0160 offline messages: chat and normal messages for an account with no available resource
 * are stored as sent, and handed over with a XEP-0203 `<delay/>` when the user next comes online.
 */
export const offlineModule: AnyModule = defineModule({
  name: 'offline',
  // Messages reach it when the message module finds nobody online; it hands them over when the
  // presence module says a session came online.
  requires: ['message', 'presence'],
  settings: {
    // Messages kept per account; beyond it senders get `resource-constraint`; 0 turns storage off.
    quota: setting.int(
      'OFFLINE_QUOTA',
      DEFAULT_OFFLINE_QUOTA,
      0,
      1_000_000,
      'messages kept per offline account',
    ),
  },
  setup(ctx, settings) {
    const { quota } = settings;
    // A quota of 0 turns storage off: senders then get service-unavailable (XEP-0160 §3), while
    // messages stored earlier are still delivered.
    if (quota > 0) {
      ctx.feature(FEATURE_MSGOFFLINE);
      ctx.on(messageUndeliverable, async (event) => {
        await storeOffline(ctx, event, quota);
        return true;
      });
    }

    // One delivery at a time per account on this node: two resources coming online together
    // must not both be handed the same messages.
    const deliveries = new Map<string, Promise<void>>();
    ctx.on(initialPresence, async ({ session }) => {
      const username = session.username!;
      const previous = deliveries.get(username) ?? Promise.resolve();
      const run = previous.then(() => deliverOffline(ctx, session));
      const tail = run.catch(() => {});
      deliveries.set(username, tail);
      void tail.finally(() => {
        if (deliveries.get(username) === tail) deliveries.delete(username);
      });
      try {
        await run;
      } catch (err) {
        ctx.log.error({ error: errorName(err) }, 'offline message delivery failed');
      }
    });
  },
});

/** Stores a message nobody could take, or tells the sender why it was not kept. */
async function storeOffline(ctx: ModuleContext, event: StanzaEvent, quota: number): Promise<void> {
  const { stanza, origin } = event;
  // XEP-0160 §3 / XEP-0085 §5.5: a bare chat state is only meaningful now, like a headline.
  if (isChatStateOnly(stanza)) return;
  // XEP-0334 §4: the sender asked that it not be kept, so it is as if there were no offline storage.
  if (stanza.getChild('no-store', NS_HINTS)) {
    await ctx.bounce(stanza, new StanzaError('service-unavailable'), origin);
    return;
  }
  const owner = event.to.local;
  let result: 'stored' | 'quota-exceeded';
  try {
    // The same answer as for a missing account whatever the reason, so no one learns which it was.
    if (!(await ctx.storage.accounts.exists(owner))) {
      await ctx.bounce(stanza, new StanzaError('service-unavailable'), origin);
      return;
    }
    result = await ctx.storage.offline.store(owner, forStorage(stanza, ctx.domain), quota);
  } catch (err) {
    // Database errors may quote the stanza: log the kind only.
    ctx.log.error({ error: errorName(err) }, 'offline message storage failed');
    await ctx.bounce(
      stanza,
      new StanzaError('internal-server-error', 'The message could not be kept for later delivery', 'wait'),
      origin,
    );
    return;
  }
  if (result === 'quota-exceeded') {
    await ctx.bounce(
      stanza,
      new StanzaError(
        'resource-constraint',
        'The recipient is offline and has too many messages waiting; try again later',
      ),
      origin,
    );
  }
}

/**
 * Hands the user's stored messages, oldest first, to a session that just came online. Each batch
 * is taken out of storage before it is sent, so it reaches one session only; a session that ended
 * meanwhile puts its batch back for the next one.
 */
async function deliverOffline(ctx: ModuleContext, session: ClientSession): Promise<void> {
  // XEP-0160 §2: offline messages go to a resource with non-negative presence priority.
  if (session.priority < 0) return;
  const owner = session.username!;
  for (;;) {
    if (session.state !== 'active') return;
    // Claimed atomically: a resource coming online on another node at the same instant gets
    // other messages, never the same ones.
    const batch = await ctx.storage.offline.claim(owner, DELIVERY_BATCH);
    if (batch.length === 0) return;
    if (session.state !== 'active') {
      // The session ended while the claim ran: the messages wait for the next one.
      await ctx.storage.offline.restore(owner, batch);
      return;
    }
    for (const message of batch) {
      let stanza: Element;
      try {
        stanza = parseElement(message.stanza);
      } catch {
        // Unreadable rows can never be delivered; dropping them keeps the queue moving.
        ctx.log.warn({ id: message.id }, 'unreadable offline message discarded');
        continue;
      }
      session.send(withDelay(stanza, ctx.domain, message.storedAt));
    }
    if (batch.length < DELIVERY_BATCH) return;
  }
}

/** The stanza as it will be stored; a `<delay/>` claiming to be from this server is not the sender's to give. */
function forStorage(stanza: Element, domain: string): string {
  if (stanza.attrs.xmlns !== undefined && !hasOwnDelay(stanza, domain)) return serialize(stanza);
  const copy = stanza.clone();
  copy.attrs.xmlns ??= 'jabber:client';
  removeOwnDelay(copy, domain);
  return serialize(copy);
}

/** XEP-0203: one `<delay/>` from this server saying when the message was stored. */
export function withDelay(stanza: Element, domain: string, storedAt: Date): Element {
  removeOwnDelay(stanza, domain);
  stanza.append(
    xml('delay', { xmlns: NS_DELAY, from: domain, stamp: xmppDateTime(storedAt) }, 'Offline Storage'),
  );
  return stanza;
}

function hasOwnDelay(stanza: Element, domain: string): boolean {
  for (const child of stanza.children) {
    if (typeof child !== 'string' && child.attrs.from === domain && child.is('delay', NS_DELAY)) return true;
  }
  return false;
}

function removeOwnDelay(stanza: Element, domain: string): void {
  stanza.children = stanza.children.filter(
    (child) => typeof child === 'string' || child.attrs.from !== domain || !child.is('delay', NS_DELAY),
  );
}

/**
 * Whether the message carries nothing but XEP-0085 chat state (and perhaps a thread or hints): no
 * body, nothing else. A `<store/>` hint (XEP-0334) asks for it to be kept anyway.
 */
export function isChatStateOnly(stanza: Element): boolean {
  let chatState = false;
  for (const child of stanza.children) {
    if (typeof child === 'string') continue;
    const ns = child.getNS();
    if (ns === NS_CHATSTATES) chatState = true;
    else if (ns === NS_HINTS) {
      if (child.localName === 'store') return false;
    } else if (child.localName !== 'thread' || (ns !== undefined && ns !== 'jabber:client')) return false;
  }
  return chatState;
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}
