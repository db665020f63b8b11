import { randomBytes } from 'node:crypto';
import {
  CoreEvents,
  defineEvent,
  defineModule,
  type IqEvent,
  type ModuleContext,
  type SessionEntry,
  StanzaError,
  type StanzaEvent,
} from '@strom/core';
import { JID } from '@strom/jid';
import type { Storage } from '@strom/storage';
import { type Element, xml } from '@strom/xml';
import { currentPresence } from './presence/fan-out.js';
import { unavailablePresence } from './presence/rules.js';

export const NS_BLOCKING = 'urn:xmpp:blocking';
export const NS_BLOCKING_ERRORS = 'urn:xmpp:blocking:errors';

/** How long a node trusts a cached blocklist that another node may have changed without telling it. */
export const BLOCKLIST_CACHE_TTL_MS = 30_000;
const MAX_CACHED_OWNERS = 50_000;
/** Keeps one account from growing an unbounded table. */
export const MAX_BLOCKLIST_ITEMS = 10_000;
/** The cluster broadcast (to this module on other nodes) that says an account's blocklist changed. */
const CHANGED_BROADCAST = 'changed';
const REQUESTED_BLOCKLIST = 'blocking:requested';

/**
 * Fired on each node where copies of `owner`'s blocklist may be cached (this one, and those holding
 * sessions of the owner or of the JIDs the change concerns) when the owner (a username) changed it:
 * every module keeping blocklists in memory drops its copy. Handlers must not take the event.
 */
export const blocklistChanged = defineEvent<{ owner: string }>('blocking/changed');

/**
 * Whether `other` is covered by a blocklist of normalized JID strings, with the XEP-0191 §5 (XEP-0016)
 * matching: the full JID, the bare JID (any resource), domain/resource, then the domain (the domain
 * itself and every address at it). Four set lookups at most: this runs for every routed stanza.
 */
export function matchesBlocklist(blocked: ReadonlySet<string>, other: JID): boolean {
  if (blocked.size === 0) return false;
  if (blocked.has(other.toString())) return true;
  if (other.resource !== '') {
    if (blocked.has(other.bareString)) return true;
    if (other.local !== '' && blocked.has(`${other.domain}/${other.resource}`)) return true;
  }
  return blocked.has(other.domain);
}

/** Whether one blocklist item covers `other`; the same rules as matchesBlocklist, item by item. */
export function itemCovers(item: JID, other: JID): boolean {
  if (item.domain !== other.domain) return false;
  if (item.local !== '') {
    return item.local === other.local && (item.resource === '' || item.resource === other.resource);
  }
  return item.resource === '' || item.resource === other.resource;
}

const EMPTY: ReadonlySet<string> = new Set();

interface CachedList {
  blocked: ReadonlySet<string>;
  expires: number;
  /** Position of the query's start in this node's sequence of loads and arrivals. */
  seq: number;
}

/**
 * Blocklists by owner, kept in memory on each node because every routed stanza is checked against
 * one or two of them.
 *
 * A change is announced to the nodes where the owner and the JIDs it concerns have sessions, so
 * those drop their copy at once. A node that hosted none of them may keep an older copy, which is
 * only wrong for an account that logs in there afterwards: so a copy is trusted for an account only
 * if it was loaded after that account's latest arrival on this node. Whatever is left (a blocked
 * domain, say) expires after the TTL.
 */
export class BlocklistCache {
  private readonly entries = new Map<string, CachedList>();
  private readonly loading = new Map<string, { promise: Promise<ReadonlySet<string>>; seq: number }>();
  /** Latest session bound on this node, per username, as a sequence number and a time. */
  private readonly arrivals = new Map<string, { seq: number; at: number }>();
  private seq = 0;
  private generation = 0;

  constructor(
    private readonly storage: Storage,
    private readonly ttlMs = BLOCKLIST_CACHE_TTL_MS,
  ) {}

  /** The cached list, or undefined when it has to be loaded; valid for stanzas from or to `party`. */
  peek(owner: string, party?: string): ReadonlySet<string> | undefined {
    const entry = this.entries.get(owner);
    if (entry === undefined) return undefined;
    if (entry.expires <= Date.now()) {
      this.entries.delete(owner);
      return undefined;
    }
    return entry.seq > this.arrivalOf(owner, party) ? entry.blocked : undefined;
  }

  get(owner: string, party?: string): Promise<ReadonlySet<string>> {
    const cached = this.peek(owner, party);
    if (cached !== undefined) return Promise.resolve(cached);
    // Concurrent stanzas for a cold owner share one query, if it started late enough.
    const loading = this.loading.get(owner);
    if (loading !== undefined && loading.seq > this.arrivalOf(owner, party)) return loading.promise;
    const seq = ++this.seq;
    const promise: Promise<ReadonlySet<string>> = this.load(owner, seq).finally(() => {
      if (this.loading.get(owner)?.promise === promise) this.loading.delete(owner);
    });
    this.loading.set(owner, { promise, seq });
    return promise;
  }

  invalidate(owner: string): void {
    this.entries.delete(owner);
    this.loading.delete(owner);
    this.generation++;
  }

  /** A session of `username` was bound on this node. */
  arrived(username: string): void {
    const now = Date.now();
    this.arrivals.set(username, { seq: ++this.seq, at: now });
    if (this.arrivals.size > MAX_CACHED_OWNERS) {
      // An arrival older than the TTL is older than every copy still cached, so it decides nothing.
      for (const [name, arrival] of this.arrivals)
        if (arrival.at + this.ttlMs < now) this.arrivals.delete(name);
    }
  }

  private arrivalOf(owner: string, party: string | undefined): number {
    const own = this.arrivals.get(owner)?.seq ?? 0;
    if (party === undefined) return own;
    return Math.max(own, this.arrivals.get(party)?.seq ?? 0);
  }

  private async load(owner: string, seq: number): Promise<ReadonlySet<string>> {
    const generation = this.generation;
    const jids = await this.storage.blocklist.list(owner);
    const blocked = jids.length === 0 ? EMPTY : new Set(jids);
    // A change that happened while the query ran may not be in its result: don't keep it then.
    if (generation === this.generation && seq >= (this.entries.get(owner)?.seq ?? 0)) {
      if (this.entries.size >= MAX_CACHED_OWNERS) {
        const oldest = this.entries.keys().next().value;
        if (oldest !== undefined) this.entries.delete(oldest);
      }
      this.entries.set(owner, { blocked, expires: Date.now() + this.ttlMs, seq });
    }
    return blocked;
  }
}

/**
 * One module's view of the blocklists (read from storage): its own BlocklistCache, kept in step
 * through events rather than shared, so no module holds another's state. A copy is dropped when the
 * blocking module announces a change (`blocklistChanged`, on this node or relayed from another) or
 * the account is deleted, and the cache learns of every session bound here.
 */
export class Blocklists {
  readonly cache: BlocklistCache;

  constructor(
    private readonly ctx: ModuleContext,
    ttlMs = BLOCKLIST_CACHE_TTL_MS,
  ) {
    const cache = new BlocklistCache(ctx.storage, ttlMs);
    this.cache = cache;
    // None of these handlers takes its event: every module's copy has to hear of it.
    ctx.on(blocklistChanged, ({ owner }) => {
      cache.invalidate(owner);
    });
    ctx.on(CoreEvents.sessionBound, ({ session }) => {
      if (session.username !== undefined) cache.arrived(session.username);
    });
    ctx.on(CoreEvents.accountDeleted, ({ username }) => {
      cache.invalidate(username);
    });
  }

  /**
   * Whether the local account `owner` (a bare JID) blocked `other` (XEP-0191). A user's own resources
   * are never blocked from each other, and addresses outside this server have no blocklist here.
   */
  async isBlocked(owner: JID, other: JID): Promise<boolean> {
    if (owner.local === '' || !this.ctx.hosts.isLocal(owner.domain)) return false;
    if (other.local === owner.local && other.domain === owner.domain) return false;
    const party = this.partyOf(other);
    const blocked = this.cache.peek(owner.local, party) ?? (await this.cache.get(owner.local, party));
    return matchesBlocklist(blocked, other);
  }

  /** The username of an address on this server (the key of its arrivals), if it is one. */
  partyOf(jid: JID): string | undefined {
    return jid.local !== '' && jid.domain === this.ctx.domain ? jid.local : undefined;
  }
}

const views = new WeakMap<ModuleContext, Blocklists>();

/**
 * The blocklists as the module owning `ctx` sees them: made on first use, then the same for that
 * module. Each module has its own, which costs a copy of a hot list per module that checks blocks,
 * but keeps the blocking module's state its own.
 */
export function blocklists(ctx: ModuleContext): Blocklists {
  let view = views.get(ctx);
  if (view === undefined) {
    view = new Blocklists(ctx);
    views.set(ctx, view);
  }
  return view;
}

/**
 * Whether the local account `owner` (a bare JID) blocked `other` (XEP-0191), through the calling
 * module's view of the blocklists.
 */
export function isBlocked(ctx: ModuleContext, owner: JID, other: JID): Promise<boolean> {
  return blocklists(ctx).isBlocked(owner, other);
}

/** XEP-0191 communications blocking: the blocklist protocol and its enforcement in both directions. */
export const blockingModule = defineModule({
  name: 'blocking',
  setup(ctx) {
    const lists = blocklists(ctx);
    ctx.feature(NS_BLOCKING);

    ctx.iq('get', 'self', NS_BLOCKING, 'blocklist', async (event) => {
      event.session?.data.set(REQUESTED_BLOCKLIST, true);
      const jids = await guardStorage(ctx, () => ctx.storage.blocklist.list(event.from.local));
      return xml(
        'blocklist',
        { xmlns: NS_BLOCKING },
        jids.map((jid) => xml('item', { jid })),
      );
    });

    ctx.iq('set', 'self', NS_BLOCKING, 'block', async (event) => {
      const jids = parseItems(event.payload);
      if (jids.length === 0) throw new StanzaError('bad-request', 'Name at least one JID to block');
      const owner = event.from.local;
      const before = new Set(await guardStorage(ctx, () => ctx.storage.blocklist.list(owner)));
      const added = jids.filter((jid) => !before.has(jid));
      if (before.size + added.length > MAX_BLOCKLIST_ITEMS) {
        throw new StanzaError('policy-violation', `A blocklist holds at most ${MAX_BLOCKLIST_ITEMS} JIDs`);
      }
      // XEP-0191 §3.3: contacts who could see the user's presence see them go offline, before the block hides them.
      await sendPresence(event, added, 'unavailable');
      await guardStorage(ctx, () => ctx.storage.blocklist.add(owner, added));
      await changed(event, xml('block', { xmlns: NS_BLOCKING }, itemsOf(jids)), added);
    });

    ctx.iq('set', 'self', NS_BLOCKING, 'unblock', async (event) => {
      const jids = parseItems(event.payload);
      const owner = event.from.local;
      const before = await guardStorage(ctx, () => ctx.storage.blocklist.list(owner));
      let removed: string[];
      if (jids.length === 0) {
        await guardStorage(ctx, () => ctx.storage.blocklist.clear(owner));
        removed = before;
      } else {
        await guardStorage(ctx, () => ctx.storage.blocklist.remove(owner, jids));
        const requested = new Set(jids);
        removed = before.filter((jid) => requested.has(jid));
      }
      await changed(event, xml('unblock', { xmlns: NS_BLOCKING }, itemsOf(jids)), removed);
      // XEP-0191 §3.4: contacts allowed to see the user's presence get it again.
      await sendPresence(event, removed, 'current');
    });

    /**
     * Invalidates the cached copies that matter and pushes the change to the user's resources. The
     * user's own stanzas are checked on the nodes of their resources, those of an affected JID on
     * the nodes of its resources; any other node's copy expires within the TTL.
     */
    const changed = async (event: IqEvent, payload: Element, affected: string[]): Promise<void> => {
      const owner = event.from.bare();
      // Every module's copy on this node, this module's included, is dropped before anything else runs.
      await ctx.fire(blocklistChanged, { owner: owner.local });
      const accounts = new Set([owner.bareString]);
      for (const jid of affected) {
        const parsed = JID.parse(jid);
        if (parsed.local !== '' && ctx.hosts.isLocal(parsed.domain)) accounts.add(parsed.bareString);
      }
      const [, own] = await Promise.all([
        ctx.broadcast(CHANGED_BROADCAST, { owner: owner.local }, { nodesOf: [...accounts] }),
        ctx.sessions.resources(owner),
      ]);
      const targets = own.filter((entry) => entry.interested || requestedBlocklist(ctx, entry));
      await ctx.deliverMany(targets.map((entry) => ({ stanza: push(entry, payload), entries: [entry] })));
    };

    /**
     * Sends the user's presence (unavailable, or each resource's current one) to the contacts among
     * `jids` that may receive it: a `from`/`both` subscription or directed presence (RFC 6121 §4.6).
     */
    const sendPresence = async (event: IqEvent, jids: string[], what: 'unavailable' | 'current') => {
      if (jids.length === 0) return;
      const owner = event.from.bare();
      const items = jids.map((jid) => JID.parse(jid));
      const roster = await guardStorage(ctx, () => ctx.storage.roster.get(owner.local));
      const watchers = roster.items
        .filter((item) => item.subscription === 'from' || item.subscription === 'both')
        .map((item) => item.jid);
      const entries = (await ctx.sessions.resources(owner)).filter((entry) => entry.available);
      for (const entry of entries) {
        const local = ctx.sessions.local(entry.jid);
        const candidates = [...watchers, ...(local?.directed ?? [])];
        const targets = presenceTargets(items, candidates);
        if (targets.length === 0) continue;
        for (const target of targets) {
          await ctx.route(
            what === 'unavailable'
              ? unavailablePresence(entry.jid, target)
              : currentPresence(ctx, entry, target),
          );
        }
      }
    };

    const isServer = (jid: JID) => jid.local === '' && jid.resource === '' && jid.domain === ctx.domain;

    // Inbound: nothing from a blocked JID reaches the user, who appears offline to it (XEP-0191 §3.3).
    for (const name of [
      'message/bare',
      'message/full',
      'presence/bare',
      'presence/full',
      'iq/bare',
      'iq/full',
    ]) {
      ctx.hook(
        name,
        (event) => {
          const { from, to } = event;
          if (sameAccount(from, to) || isServer(from)) return undefined;
          return check(ctx, lists, event, to.local, from, rejectInbound);
        },
        100,
      );
    }

    // Outbound: the user cannot reach a JID they blocked, and is told why. The own server stays reachable.
    for (const kind of ['message', 'iq', 'presence']) {
      for (const addressing of ['bare', 'full', 'host']) {
        ctx.hook(
          `pre-${kind}/${addressing}`,
          (event) => {
            const { from, to } = event;
            if (sameAccount(from, to) || isServer(to)) return undefined;
            return check(ctx, lists, event, from.local, to, rejectOutbound);
          },
          100,
        );
      }
    }

    // A change made on another node: the modules here drop their copies too.
    ctx.onBroadcast(CHANGED_BROADCAST, async (data) => {
      const owner = (data as { owner?: unknown } | null)?.owner;
      if (typeof owner === 'string') await ctx.fire(blocklistChanged, { owner });
    });
  },
});

/** Runs `reject` when `owner` blocked `other`; synchronous when the list is cached (every stanza passes here). */
function check(
  ctx: ModuleContext,
  lists: Blocklists,
  event: StanzaEvent,
  owner: string,
  other: JID,
  reject: (ctx: ModuleContext, event: StanzaEvent) => Promise<void>,
): true | undefined | Promise<true | undefined> {
  const { cache } = lists;
  const party = lists.partyOf(other);
  const blocked = cache.peek(owner, party);
  if (blocked !== undefined) {
    return matchesBlocklist(blocked, other) ? reject(ctx, event).then(() => true as const) : undefined;
  }
  return cache.get(owner, party).then(
    (list) => (matchesBlocklist(list, other) ? reject(ctx, event).then(() => true as const) : undefined),
    async (err: unknown) => {
      // Without the list there is no telling whether the stanza may pass: hold it back, say so.
      ctx.log.error({ error: errorName(err) }, 'blocklist lookup failed');
      if (event.kind === 'message' || event.type === 'get' || event.type === 'set') {
        await ctx.bounce(event.stanza, new StanzaError('internal-server-error'), event.origin);
      }
      return true as const;
    },
  );
}

/** XEP-0191 §3.3: presence is dropped without a word, IQ requests and messages get service-unavailable. */
async function rejectInbound(ctx: ModuleContext, event: StanzaEvent): Promise<void> {
  const { kind, type, stanza } = event;
  if (kind === 'presence') return;
  if (kind === 'iq' && type !== 'get' && type !== 'set') return;
  await ctx.bounce(stanza, new StanzaError('service-unavailable'), event.origin);
}

async function rejectOutbound(ctx: ModuleContext, event: StanzaEvent): Promise<void> {
  const error = new StanzaError(
    'not-acceptable',
    'You have blocked this address',
    'cancel',
    xml('blocked', { xmlns: NS_BLOCKING_ERRORS }),
  );
  await ctx.bounce(event.stanza, error, event.origin);
}

function sameAccount(a: JID, b: JID): boolean {
  return a.local === b.local && a.domain === b.domain;
}

/** Normalized JIDs of the `<item jid=…/>` children; a bad address fails the whole request. */
function parseItems(payload: Element): string[] {
  const jids: string[] = [];
  for (const item of payload.getChildren('item', NS_BLOCKING)) {
    const raw = item.attrs.jid;
    if (raw === undefined) throw new StanzaError('bad-request', 'Every item needs a jid attribute');
    const jid = JID.tryParse(raw);
    if (jid === undefined) throw new StanzaError('jid-malformed', `"${raw}" is not a valid JID`);
    jids.push(jid.toString());
  }
  return [...new Set(jids)];
}

function itemsOf(jids: string[]): Element[] {
  return jids.map((jid) => xml('item', { jid }));
}

function push(entry: SessionEntry, payload: Element): Element {
  return xml(
    'iq',
    { xmlns: 'jabber:client', type: 'set', id: `block-${randomBytes(6).toString('hex')}`, to: entry.jid },
    payload.clone(),
  );
}

/**
 * XEP-0191 pushes go to resources that asked for the blocklist. That is known for this node's
 * sessions; elsewhere, resources that asked for the roster stand in for it.
 */
function requestedBlocklist(ctx: ModuleContext, entry: SessionEntry): boolean {
  return ctx.sessions.local(entry.jid)?.data.get(REQUESTED_BLOCKLIST) === true;
}

/**
 * Which addresses get presence for a block or unblock of `items`: every candidate (a contact that may
 * see the user's presence) an item covers, and an item naming one resource of such a contact.
 */
export function presenceTargets(items: JID[], candidates: Iterable<string>): string[] {
  const targets = new Set<string>();
  for (const candidate of candidates) {
    const contact = JID.tryParse(candidate);
    if (contact === undefined) continue;
    for (const item of items) {
      if (itemCovers(item, contact)) targets.add(contact.toString());
      else if (item.resource !== '' && item.local !== '' && item.bareString === contact.bareString) {
        targets.add(item.toString());
      }
    }
  }
  return [...targets];
}

/** Storage errors can quote query parameters (JIDs): they are logged by kind only. */
async function guardStorage<T>(ctx: ModuleContext, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    ctx.log.error({ error: errorName(err) }, 'blocklist storage failed');
    throw new StanzaError('internal-server-error');
  }
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}
