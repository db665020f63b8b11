import {
  type ClientSession,
  CoreEvents,
  defineModule,
  type ModuleContext,
  type SessionEntry,
  StanzaError,
  type StanzaEvent,
} from '@strom/core';
import { JID } from '@strom/jid';
import { type Element, serialize, xml } from '@strom/xml';
import { blocklists, NS_BLOCKING_ERRORS } from '../blocking.js';
import { acceptsPresenceFrom, mayViewPresence, ownerBlocked, presenceBlocked } from './access.js';
import { initialPresence } from './events.js';
import { availableEntries, broadcast, currentPresence, type Directory, routeQuietly } from './fan-out.js';
import {
  addressedCopy,
  isAvailabilityType,
  presenceAudience,
  probePresence,
  sharesPresenceWith,
  splitByDomain,
  unavailablePresence,
  validatedPriority,
} from './rules.js';

/** Directed presence recipients remembered per session; beyond this a client is flooding, not chatting. */
export const MAX_DIRECTED_PRESENCE = 1000;
const QUEUE_KEY = 'presence:queue';

/**
 * RFC 6121 §4: availability broadcast to subscribers, presence probes, directed presence and the
 * unavailable presence a session leaves behind however it ends. Each session's last presence lives
 * in `session.presence` and, serialized, in the session directory, so probes are answered from any
 * node. Subscription state is read from the roster in storage (written by the roster and
 * subscription modules), and blocks from the blocklists in storage, so this module needs neither
 * loaded. Fires `initialPresence` once a session's initial presence is out.
 */
export const presenceModule = defineModule({
  name: 'presence',
  setup(ctx) {
    // This module's own cached view of the blocklists, following the blocking module's announcements.
    blocklists(ctx);
    ctx.hook('pre-presence/self', (event) => onBroadcastPresence(ctx, event));
    ctx.hook('pre-presence/bare', (event) => onDirectedPresence(ctx, event));
    ctx.hook('pre-presence/full', (event) => onDirectedPresence(ctx, event));
    ctx.hook('presence/bare', (event) => onPresenceToAccount(ctx, event));
    ctx.hook('presence/full', (event) => onPresenceToResource(ctx, event));
    ctx.on(CoreEvents.sessionClosed, ({ session }) => inOrder(session, () => sessionEnded(ctx, session)));
    ctx.on(CoreEvents.nodeDown, ({ sessions }) => sessionsLost(ctx, sessions));
    // Before the subscription module unsubscribes everyone and the rows go: the account's sessions,
    // on whichever node, end only afterwards, when nobody is left to tell.
    ctx.on(
      CoreEvents.accountDeleted,
      async ({ jid }) => sessionsLost(ctx, await ctx.sessions.resources(jid)),
      10,
    );
  },
});

/**
 * Runs one session's presence work strictly in order, so a presence still being processed when the
 * connection drops can never be announced after the unavailable presence that ends the session.
 */
function inOrder<T>(session: ClientSession, work: () => Promise<T>): Promise<T> {
  const previous = (session.data.get(QUEUE_KEY) as Promise<unknown> | undefined) ?? Promise.resolve();
  const next = previous.then(work);
  session.data.set(
    QUEUE_KEY,
    next.catch(() => undefined),
  );
  return next;
}

/** A presence without `to` from a client: its availability, broadcast by the server (RFC 6121 §4.2, §4.4, §4.5). */
async function onBroadcastPresence(ctx: ModuleContext, event: StanzaEvent): Promise<boolean> {
  const { stanza, session, type } = event;
  // With a `to` (the user's own bare JID) it is directed presence to the account, handled inbound.
  if (session === undefined || stanza.attrs.to !== undefined) return false;
  if (type === 'available') {
    let priority: number;
    try {
      priority = validatedPriority(stanza);
    } catch (err) {
      if (!(err instanceof StanzaError)) throw err;
      await ctx.bounce(stanza, err, event.origin);
      return true;
    }
    await inOrder(session, () => becomeAvailable(ctx, session, stanza, priority));
    return true;
  }
  if (type === 'unavailable') {
    await inOrder(session, () => becomeUnavailable(ctx, session, stanza));
    return true;
  }
  return false;
}

async function becomeAvailable(
  ctx: ModuleContext,
  session: ClientSession,
  stanza: Element,
  priority: number,
): Promise<void> {
  if (session.state === 'closed') return;
  const initial = !session.available;
  const owner = session.jid!.bare();
  session.presence = stanza;
  await ctx.sessions.update(session, { available: true, priority, presence: serialize(stanza) });

  const { subscribers, subscriptions } = await rosterAudience(ctx, owner);
  const probed = splitByDomain(initial ? subscriptions : [], (domain) => ctx.hosts.isLocal(domain));
  // The sender's own resources are in the broadcast (RFC 6121 §4.2.2: a user is implicitly
  // subscribed to their own presence), and the lookup also covers the contacts probed below.
  const directory = await broadcast(ctx, [{ stanza, owner, contacts: subscribers }], probed.local);
  if (!initial) return;

  const self = session.jid!.toString();
  for (const entry of availableEntries(directory.get(owner.bareString))) {
    if (entry.jid !== self) session.send(currentPresence(ctx, entry, self));
  }
  await answerLocalProbes(ctx, session, probed.local, directory);
  for (const contact of probed.remote) {
    await routeQuietly(ctx, probePresence(owner.bareString, contact));
  }
  await ctx.fire(initialPresence, { session });
}

/**
 * The probes of an initial presence, for contacts on this server: answered here from the directory
 * lookup the broadcast already made, under the same rules as a routed probe (`answerProbe`), and
 * delivered to the new session only — the user's other resources already know. Contacts with no
 * available resource are skipped: their unavailable answer would tell a fresh session nothing.
 */
async function answerLocalProbes(
  ctx: ModuleContext,
  session: ClientSession,
  contacts: readonly string[],
  directory: Directory,
): Promise<void> {
  const self = session.jid!.toString();
  const owner = session.jid!.bare();
  const online = contacts.filter((contact) => availableEntries(directory.get(contact)).length > 0);
  const allowed = await Promise.all(online.map((contact) => mayViewPresence(ctx, JID.parse(contact), owner)));
  online.forEach((contact, index) => {
    if (!allowed[index]) return;
    for (const entry of availableEntries(directory.get(contact))) {
      session.send(currentPresence(ctx, entry, self));
    }
  });
}

async function becomeUnavailable(ctx: ModuleContext, session: ClientSession, stanza: Element): Promise<void> {
  if (session.state === 'closed') return;
  const wasAvailable = session.available;
  session.presence = undefined;
  await ctx.sessions.update(session, { available: false });
  await announceUnavailable(ctx, session, stanza, wasAvailable);
}

/**
 * Unavailable presence to everyone who saw the session available: subscribers and the user's own
 * resources when it had broadcast availability, and every recipient of directed presence
 * (RFC 6121 §4.5.2, §4.6.3).
 */
async function announceUnavailable(
  ctx: ModuleContext,
  session: ClientSession,
  stanza: Element,
  wasAvailable: boolean,
): Promise<void> {
  const owner = session.jid!.bare();
  const directed = [...session.directed];
  session.directed.clear();
  const contacts = wasAvailable ? (await rosterAudience(ctx, owner)).subscribers : [];
  if (wasAvailable) await broadcast(ctx, [{ stanza, owner, contacts }]);
  const broadcastTo = new Set(contacts);
  for (const recipient of directed) {
    const bare = JID.tryParse(recipient)?.bareString;
    if (bare !== undefined && broadcastTo.has(bare)) continue;
    await routeQuietly(ctx, addressedCopy(stanza, recipient));
  }
}

/** Whatever ended the session (close, dropped socket, conflict, shutdown, kick), its presence ends too. */
async function sessionEnded(ctx: ModuleContext, session: ClientSession): Promise<void> {
  const jid = session.jid;
  if (jid === undefined) return;
  const wasAvailable = session.available;
  session.available = false;
  session.presence = undefined;
  if (!wasAvailable && session.directed.size === 0) return;
  let announceToContacts = wasAvailable;
  if (session.replaced && wasAvailable) {
    // The connection that took over this full JID may already have announced itself; an
    // unavailable from the same address now would make contacts think it is gone.
    const entries = await ctx.sessions.resources(jid.bare());
    announceToContacts = !entries.some((entry) => entry.jid === jid.toString() && entry.available);
  }
  await announceUnavailable(ctx, session, unavailablePresence(jid.toString()), announceToContacts);
}

/**
 * Another node died without saying goodbye: its available sessions' contacts hear they are gone,
 * in one batched broadcast. Their directed presence recipients were only known to that node.
 */
async function sessionsLost(ctx: ModuleContext, sessions: readonly SessionEntry[]): Promise<void> {
  const lost = sessions.flatMap((entry) => {
    const jid = entry.available ? JID.tryParse(entry.jid) : undefined;
    return jid !== undefined && jid.local !== '' && ctx.hosts.isLocal(jid.domain) ? [jid] : [];
  });
  const audiences = new Map<string, Promise<string[]>>();
  for (const jid of lost) {
    if (!audiences.has(jid.bareString)) {
      audiences.set(
        jid.bareString,
        rosterAudience(ctx, jid.bare()).then((audience) => audience.subscribers),
      );
    }
  }
  const broadcasts = await Promise.all(
    lost.map(async (jid) => ({
      stanza: unavailablePresence(jid.toString()),
      owner: jid.bare(),
      contacts: await audiences.get(jid.bareString)!,
    })),
  );
  if (broadcasts.length > 0) await broadcast(ctx, broadcasts);
}

/** Presence with a `to` from a client (RFC 6121 §4.6): routed on, and remembered for the unavailable at the end. */
async function onDirectedPresence(ctx: ModuleContext, event: StanzaEvent): Promise<boolean> {
  const { stanza, session, type, to } = event;
  // Subscription management belongs to the roster module; probes and errors are routed as they are.
  if (session === undefined || !isAvailabilityType(type)) return false;
  const owner = session.jid!.bare();
  if (to.bareString === owner.bareString) return false;
  if (await ownerBlocked(ctx, owner, to)) {
    await ctx.bounce(
      stanza,
      new StanzaError(
        'not-acceptable',
        'You have blocked this address',
        'cancel',
        xml('blocked', { xmlns: NS_BLOCKING_ERRORS }),
      ),
      event.origin,
    );
    return true;
  }
  return inOrder(session, async () => {
    // Too late to tell anyone: the unavailable presence of this session is already out.
    if (session.state === 'closed') return true;
    const recipient = to.toString();
    if (type === 'unavailable') {
      session.directed.delete(recipient);
      return false;
    }
    if (session.directed.has(recipient)) return false;
    // Subscribers get the session's unavailable presence anyway, unless it never was available.
    if (session.available && (await isSubscriber(ctx, owner, to))) return false;
    if (session.directed.size >= MAX_DIRECTED_PRESENCE) {
      await ctx.bounce(
        stanza,
        new StanzaError('resource-constraint', 'Too many directed presence recipients'),
        event.origin,
      );
      return true;
    }
    session.directed.add(recipient);
    return false;
  });
}

async function isSubscriber(ctx: ModuleContext, owner: JID, contact: JID): Promise<boolean> {
  if (!ctx.hosts.isLocal(owner.domain)) return false;
  const item = await ctx.storage.roster.getItem(owner.local, contact.bareString);
  return sharesPresenceWith(item?.subscription);
}

/** Inbound presence for an account: probes, and availability from contacts. */
async function onPresenceToAccount(ctx: ModuleContext, event: StanzaEvent): Promise<boolean> {
  if (event.type === 'probe') {
    await answerProbe(ctx, event);
    return true;
  }
  if (isAvailabilityType(event.type)) {
    await deliverToAccount(ctx, event);
    return true;
  }
  // An error about presence has no resource to go to when addressed to the account: dropped.
  return event.type === 'error';
}

/** Inbound presence for one resource: probes are answered; anything else the core delivers (RFC 6121 §4.6.3). */
async function onPresenceToResource(ctx: ModuleContext, event: StanzaEvent): Promise<boolean> {
  if (event.type !== 'probe') return false;
  await answerProbe(ctx, event);
  return true;
}

/**
 * No presence reaches a user without a subscription that allows it: availability sent to the bare
 * JID goes to every available resource only when the user subscribed to the sender (`to`/`both`).
 */
async function deliverToAccount(ctx: ModuleContext, event: StanzaEvent): Promise<void> {
  const { stanza, from, to } = event;
  const owner = to.bare();
  if (!(await acceptsPresenceFrom(ctx, owner, from))) return;
  const entries = availableEntries(await ctx.sessions.resources(owner));
  if (entries.length > 0) await ctx.deliverMany([{ stanza, entries }]);
}

/**
 * RFC 6121 §4.3.2: the probed account answers with the current presence of each available resource
 * (or of the probed resource), or with unavailable when there is none — but only to an entity its
 * roster grants a subscription. Anyone else gets no answer at all, which tells nothing.
 */
async function answerProbe(ctx: ModuleContext, event: StanzaEvent): Promise<void> {
  const { from, to } = event;
  const owner = to.bare();
  if (!(await mayViewPresence(ctx, owner, from))) return;
  const target = to.toString();
  const entries = availableEntries(await ctx.sessions.resources(owner)).filter(
    (entry) => to.isBare || entry.jid === target,
  );
  const prober = from.toString();
  const answers =
    entries.length > 0
      ? entries.map((entry) => currentPresence(ctx, entry, prober))
      : [unavailablePresence(target, prober)];
  for (const answer of answers) await routeQuietly(ctx, answer);
}

/** The owner's subscribers and subscriptions, less anyone on either side of a block. */
async function rosterAudience(
  ctx: ModuleContext,
  owner: JID,
): Promise<{ subscribers: string[]; subscriptions: string[] }> {
  const { items } = await ctx.storage.roster.get(owner.local);
  const { subscribers, subscriptions } = presenceAudience(items);
  const [allowedSubscribers, allowedSubscriptions] = await Promise.all([
    unblocked(ctx, owner, subscribers),
    unblocked(ctx, owner, subscriptions),
  ]);
  return { subscribers: allowedSubscribers, subscriptions: allowedSubscriptions };
}

async function unblocked(ctx: ModuleContext, owner: JID, contacts: readonly string[]): Promise<string[]> {
  const parsed = contacts.flatMap((contact) => {
    const jid = JID.tryParse(contact);
    return jid === undefined ? [] : [jid];
  });
  const blocked = await Promise.all(parsed.map((jid) => presenceBlocked(ctx, owner, jid)));
  return parsed.filter((_, index) => !blocked[index]).map((jid) => jid.bareString);
}
