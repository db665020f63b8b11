import { randomBytes } from 'node:crypto';
import {
  type AnyModule,
  type ClientSession,
  CoreEvents,
  defineModule,
  type IqEvent,
  type ModuleContext,
  type SessionEntry,
  StanzaError,
  type StanzaEvent,
  setting,
} from '@strom/core';
import { JID } from '@strom/jid';
import type { RosterItem } from '@strom/storage';
import { type Element, parseElement, serialize, xml } from '@strom/xml';
import { type AvatarImage, pepAvatarChanged, vcardAvatarChanged } from '../avatar-events.js';
import { blocklists } from '../blocking.js';
import { presenceBlocked } from '../presence/access.js';
import { initialPresence } from '../presence/index.js';
import { privateRead, privateWrite } from '../private-storage/index.js';
import { mayAccess, type Relation } from './access.js';
import {
  type Bookmark,
  fromItem,
  fromLegacy,
  NS_BOOKMARKS,
  NS_LEGACY_BOOKMARKS,
  sameBookmark,
  toLegacy,
  toPayload,
} from './bookmarks.js';
import { CapsCache, type CapsRef, capsOf, featuresOf, notifyNodes, verificationString } from './caps.js';
import {
  applyConfigForm,
  configForm,
  DEFAULT_NODE_CONFIG,
  FORM_NODE_CONFIG,
  FORM_PUBLISH_OPTIONS,
  itemLimit,
  type NodeConfig,
  NS_DATA,
  NS_PUBSUB,
  NS_PUBSUB_ERRORS,
  NS_PUBSUB_EVENT,
  NS_PUBSUB_OWNER,
  readForm,
  unmetPrecondition,
} from './config.js';
import { PepStore, type StoredItem } from './store.js';

const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';

/** What disco#info on an account says the PEP service does (XEP-0163 §6, XEP-0060 §10). */
export const PEP_FEATURES = [
  `${NS_PUBSUB}#access-open`,
  `${NS_PUBSUB}#access-presence`,
  `${NS_PUBSUB}#access-roster`,
  `${NS_PUBSUB}#access-whitelist`,
  `${NS_PUBSUB}#auto-create`,
  `${NS_PUBSUB}#auto-subscribe`,
  `${NS_PUBSUB}#config-node`,
  `${NS_PUBSUB}#config-node-max`,
  `${NS_PUBSUB}#create-and-configure`,
  `${NS_PUBSUB}#create-nodes`,
  `${NS_PUBSUB}#delete-items`,
  `${NS_PUBSUB}#delete-nodes`,
  `${NS_PUBSUB}#filtered-notifications`,
  `${NS_PUBSUB}#item-ids`,
  `${NS_PUBSUB}#last-published`,
  `${NS_PUBSUB}#multi-items`,
  `${NS_PUBSUB}#persistent-items`,
  `${NS_PUBSUB}#presence-notifications`,
  `${NS_PUBSUB}#publish`,
  `${NS_PUBSUB}#publish-options`,
  `${NS_PUBSUB}#purge-nodes`,
  `${NS_PUBSUB}#retract-items`,
  `${NS_PUBSUB}#retrieve-items`,
  NS_PUBSUB,
  `${NS_BOOKMARKS}#compat`,
  `${NS_BOOKMARKS}#compat-pep`,
];

/** XEP-0402 §4 / XEP-0223: bookmarks are private, kept whole, and never pushed on presence. */
const BOOKMARKS_CONFIG: NodeConfig = {
  ...DEFAULT_NODE_CONFIG,
  accessModel: 'whitelist',
  maxItems: 'max',
  sendLastPublishedItem: 'never',
};

const SESSION_KEY = 'pep';
/** XEP-0084 user avatar nodes. */
const NS_AVATAR_DATA = 'urn:xmpp:avatar:data';
const NS_AVATAR_METADATA = 'urn:xmpp:avatar:metadata';

/** What the module keeps per local session. */
interface SessionState {
  caps: CapsRef | undefined;
  /** Nodes this resource wants notifications for (its caps' `+notify` features), once known. */
  notify: Set<string> | undefined;
  /** Nodes whose last items this resource has already been sent. */
  delivered: Set<string>;
  work: Promise<void>;
}

/**
 * XEP-0163 Personal Eventing Protocol: a publish-subscribe service on every account, as the
 * XEP-0060 subset clients use for OMEMO keys (XEP-0384), avatars (XEP-0084) and bookmarks
 * (XEP-0402). Subscriptions are implicit: the owner's resources and the contacts allowed to see
 * the owner's presence get notifications for the nodes their XEP-0115 capabilities ask for
 * (`<node>+notify`), and the last item of each such node when they come online. Verified
 * capabilities are shared by all nodes of the cluster.
 */
export const pepModule: AnyModule = defineModule({
  name: 'pep',
  // Presence brings contacts online (last items); private storage asks it for legacy bookmarks.
  requires: ['presence', 'private-storage'],
  settings: {
    maxItems: setting.int('PEP_MAX_ITEMS', 256, 1, 10_000, 'items a node keeps at most (what "max" means)'),
    maxNodes: setting.int('PEP_MAX_NODES', 128, 1, 10_000, 'nodes one account may have'),
    maxAccountItems: setting.int(
      'PEP_MAX_ACCOUNT_ITEMS',
      2048,
      1,
      1_000_000,
      'items per account over all nodes',
    ),
    maxBytes: setting.int(
      'PEP_MAX_BYTES',
      4 * 1024 * 1024,
      1024,
      1024 * 1024 * 1024,
      'item bytes per account',
    ),
  },
  setup(ctx, settings) {
    const store = new PepStore(ctx.database, {
      maxNodes: settings.maxNodes,
      maxBytes: settings.maxBytes,
      maxAccountItems: settings.maxAccountItems,
    });
    const caps = new CapsCache();
    const learning = new Map<string, Promise<Set<string> | undefined>>();
    // Blocks hide notifications like presence; the cache of block lists listens from the start.
    blocklists(ctx);

    ctx.accountIdentity({ category: 'pubsub', type: 'pep' });
    ctx.accountFeature(...PEP_FEATURES);

    // ----- capabilities -----

    const stateOf = (session: ClientSession): SessionState => {
      let state = session.data.get(SESSION_KEY) as SessionState | undefined;
      if (!state) {
        state = { caps: undefined, notify: undefined, delivered: new Set(), work: Promise.resolve() };
        session.data.set(SESSION_KEY, state);
      }
      return state;
    };

    /** The verified features behind a caps hash, asking the resource that announced it if needed. */
    const featuresFor = (ref: CapsRef, askJid: string): Promise<Set<string> | undefined> => {
      const known = caps.get(ref.ver);
      if (known) return Promise.resolve(known);
      let pending = learning.get(ref.ver);
      if (!pending) {
        pending = (async () => {
          try {
            const answer = await ctx.sendIq(
              xml(
                'iq',
                { type: 'get', to: askJid },
                xml('query', { xmlns: NS_DISCO_INFO, node: `${ref.node}#${ref.ver}` }),
              ),
              10_000,
            );
            const query = answer.getChild('query', NS_DISCO_INFO);
            if (!query || verificationString(query, ref.hash) !== ref.ver) return undefined;
            const features = featuresOf(query);
            caps.set(ref.ver, features);
            await ctx.broadcast('caps', { ver: ref.ver, features });
            return caps.get(ref.ver);
          } catch {
            return undefined;
          } finally {
            learning.delete(ref.ver);
          }
        })();
        learning.set(ref.ver, pending);
      }
      return pending;
    };

    ctx.onBroadcast('caps', (data) => {
      const { ver, features } = (data ?? {}) as { ver?: unknown; features?: unknown };
      if (typeof ver !== 'string' || !Array.isArray(features)) return;
      caps.set(
        ver,
        features.filter((feature): feature is string => typeof feature === 'string'),
      );
    });

    /** The nodes a resource anywhere in the cluster wants notifications for. */
    const notifyOf = (entry: SessionEntry): Set<string> | undefined => {
      const local = ctx.sessions.local(entry.jid);
      if (local) return stateOf(local).notify;
      if (entry.presence === undefined) return undefined;
      let presence: Element;
      try {
        presence = parseElement(entry.presence);
      } catch {
        return undefined;
      }
      const ref = capsOf(presence);
      const features = ref === undefined ? undefined : caps.get(ref.ver);
      return features === undefined ? undefined : notifyNodes(features);
    };

    /** Runs one session's PEP work in order. */
    const inOrder = (session: ClientSession, work: () => Promise<void>): Promise<void> => {
      const state = stateOf(session);
      state.work = state.work.then(work).catch((err) => {
        ctx.log.warn({ error: err instanceof Error ? err.name : typeof err }, 'PEP presence handling failed');
      });
      return state.work;
    };

    /** Learns what a session's caps ask for and sends it the last items it has not had yet. */
    const refresh = async (session: ClientSession): Promise<void> => {
      const state = stateOf(session);
      const ref = state.caps;
      if (ref !== undefined && state.notify === undefined) {
        const features = await featuresFor(ref, session.jid!.toString());
        if (stateOf(session).caps === ref) state.notify = features ? notifyNodes(features) : new Set();
      }
      if (!session.available || state.notify === undefined || session.state !== 'active') return;
      const fresh = [...state.notify].filter((node) => !state.delivered.has(node));
      if (fresh.length === 0) return;
      for (const node of fresh) state.delivered.add(node);
      await sendLastItems(session, fresh);
    };

    // Every presence a client broadcasts may carry new caps (XEP-0115 §4); run before the presence
    // module takes it, without taking it.
    ctx.hook(
      'pre-presence/self',
      (event) => {
        const session = event.session;
        if (session === undefined || event.stanza.attrs.to !== undefined) return undefined;
        if (event.type !== 'available') return undefined;
        const state = stateOf(session);
        const ref = capsOf(event.stanza);
        if (ref?.ver !== state.caps?.ver) {
          state.caps = ref;
          state.notify = ref === undefined ? new Set() : undefined;
          if (ref !== undefined) {
            const known = caps.get(ref.ver);
            if (known) state.notify = notifyNodes(known);
          }
        }
        // Later presences with new interests get the last items at once; the first waits for the
        // presence module's initial-presence event, so contacts' presence comes first.
        if (session.available) void inOrder(session, () => refresh(session));
        return undefined;
      },
      5,
    );
    ctx.on(initialPresence, ({ session }) => {
      // Not awaited: learning caps asks the client, which answers only once this turn is over.
      void inOrder(session, () => refresh(session));
    });

    /** XEP-0163 §6.1.2: the last item of each wanted node, from the user's own and contacts' nodes. */
    const sendLastItems = async (session: ClientSession, nodes: string[]): Promise<void> => {
      const user = session.jid!.bare();
      const { items } = await ctx.storage.roster.get(user.local);
      const owners = [
        user,
        ...items.filter(subscribedTo).flatMap((item) => localAccount(ctx, item.jid) ?? []),
      ];
      for (const owner of owners) {
        for (const node of nodes) {
          const config = await store.node(owner.local, node);
          if (!config || config.sendLastPublishedItem === 'never') continue;
          if (!(await allowed(owner, user, config))) continue;
          const last = await store.lastItem(owner.local, node);
          if (!last) continue;
          session.send(
            notification(owner.bareString, session.jid!.toString(), node, itemsEvent(node, [last])),
          );
        }
      }
    };

    ctx.on(CoreEvents.sessionClosed, ({ session }) => {
      session.data.delete(SESSION_KEY);
    });

    // ----- access -----

    const relationOf = async (owner: JID, requester: JID): Promise<Relation> => {
      if (owner.bareString === requester.bareString)
        return { isOwner: true, subscription: undefined, groups: [] };
      const item = await ctx.storage.roster.getItem(owner.local, requester.bareString);
      return { isOwner: false, subscription: item?.subscription, groups: item?.groups ?? [] };
    };

    const allowed = async (owner: JID, requester: JID, config: NodeConfig): Promise<boolean> =>
      mayAccess(config, await relationOf(owner, requester)) === undefined;

    const requireAccess = async (owner: JID, requester: JID, config: NodeConfig): Promise<void> => {
      const refusal = mayAccess(config, await relationOf(owner, requester));
      if (refusal === undefined) return;
      throw new StanzaError(
        refusal.condition,
        undefined,
        undefined,
        xml(refusal.pubsubCondition, { xmlns: NS_PUBSUB_ERRORS }),
      );
    };

    // ----- notifications -----

    /**
     * Sends an event about one of `owner`'s nodes to every resource that may see it and asked for
     * it: the owner's own, and those of contacts with a presence subscription to the owner.
     */
    const notify = async (owner: JID, node: string, config: NodeConfig, event: Element): Promise<void> => {
      const audience = [owner.bareString];
      if (config.accessModel !== 'whitelist') {
        const { items } = await ctx.storage.roster.get(owner.local);
        for (const item of items) {
          if (item.subscription !== 'from' && item.subscription !== 'both') continue;
          if (mayAccess(config, { isOwner: false, subscription: item.subscription, groups: item.groups }))
            continue;
          const contact = JID.tryParse(item.jid);
          if (contact === undefined || !ctx.hosts.isLocal(contact.domain)) continue;
          if (await presenceBlocked(ctx, owner, contact)) continue;
          audience.push(contact.bareString);
        }
      }
      const directory = await ctx.sessions.resourcesMany(audience);
      const deliveries: Array<{ stanza: Element; entries: SessionEntry[] }> = [];
      for (const entries of directory.values()) {
        for (const entry of entries) {
          if (!entry.available) continue;
          if (!notifyOf(entry)?.has(node)) continue;
          deliveries.push({
            stanza: notification(owner.bareString, entry.jid, node, event),
            entries: [entry],
          });
        }
      }
      if (deliveries.length > 0) await ctx.deliverMany(deliveries);
    };

    // ----- publish, retract, items -----

    /** Stores an item within the node's limit and the account's quota, and notifies. */
    const publishItem = async (
      owner: JID,
      node: string,
      config: NodeConfig,
      stored: StoredItem,
    ): Promise<void> => {
      const outcome = await store.publish(owner.local, node, stored, itemLimit(config, settings.maxItems));
      if (outcome === 'over-quota') {
        throw new StanzaError('resource-constraint', 'This account stores too much published data');
      }
      await notify(owner, node, config, itemsEvent(node, [stored]));
    };

    /** A node's configuration, creating the node with `config` when it does not exist yet. */
    const ensureNode = async (owner: JID, node: string, config: NodeConfig): Promise<NodeConfig> => {
      const existing = await store.node(owner.local, node);
      if (existing) return existing;
      const created = await store.create(owner.local, node, config);
      if (created === 'too-many-nodes')
        throw new StanzaError('resource-constraint', 'Too many nodes on this account');
      return (await store.node(owner.local, node)) ?? config;
    };

    // ----- XEP-0402 bookmarks, kept in step with XEP-0048 (private storage and legacy PEP) -----

    const currentBookmarks = async (owner: JID): Promise<Bookmark[]> =>
      (await store.items(owner.local, NS_BOOKMARKS)).flatMap((item) => {
        try {
          return [fromItem(item.id, parseElement(item.payload))];
        } catch {
          return [];
        }
      });

    /** Makes the XEP-0402 items say exactly `wanted`: changed ones republished, missing ones retracted. */
    const replaceBookmarks = async (owner: JID, wanted: Bookmark[]): Promise<void> => {
      const config = await ensureNode(owner, NS_BOOKMARKS, BOOKMARKS_CONFIG);
      const current = new Map((await currentBookmarks(owner)).map((bookmark) => [bookmark.jid, bookmark]));
      for (const bookmark of wanted) {
        const previous = current.get(bookmark.jid);
        current.delete(bookmark.jid);
        if (previous && sameBookmark(previous, bookmark)) continue;
        await publishItem(owner, NS_BOOKMARKS, config, {
          id: bookmark.jid,
          payload: serialize(toPayload(bookmark, previous)),
        });
      }
      for (const gone of current.keys()) {
        await store.retract(owner.local, NS_BOOKMARKS, gone);
        await notify(
          owner,
          NS_BOOKMARKS,
          config,
          xml('items', { node: NS_BOOKMARKS }, xml('retract', { id: gone })),
        );
      }
    };

    /** The legacy PEP node, where a client created it, mirrors the XEP-0402 items. */
    const syncLegacyPep = async (owner: JID): Promise<void> => {
      const config = await store.node(owner.local, NS_LEGACY_BOOKMARKS);
      if (!config) return;
      const legacy = toLegacy(await currentBookmarks(owner));
      await publishItem(owner, NS_LEGACY_BOOKMARKS, config, { id: 'current', payload: serialize(legacy) });
    };

    // ----- XEP-0398: the PEP avatar and the vCard photo stay one -----

    /** New XEP-0084 metadata from a client: the vCard module hears which image it names (or none). */
    const avatarFromMetadata = async (owner: JID, metadata: Element): Promise<void> => {
      const info = metadata.getChildren('info').find((el) => el.attrs.url === undefined);
      if (info === undefined) {
        await ctx.fire(pepAvatarChanged, { owner: owner.local, avatar: null });
        return;
      }
      const id = info.attrs.id;
      if (id === undefined) return;
      const [data] = await store.items(owner.local, NS_AVATAR_DATA, { ids: [id] });
      if (data === undefined) return;
      const base64 = parseElement(data.payload).text().replace(/\s+/g, '');
      await ctx.fire(pepAvatarChanged, {
        owner: owner.local,
        avatar: { hash: id.toLowerCase(), type: info.attrs.type ?? 'image/png', base64 },
      });
    };

    /** A photo set through the vCard is published as XEP-0084 data and metadata. */
    ctx.on(vcardAvatarChanged, async ({ owner, avatar }) => {
      const jid = JID.of(owner, ctx.domain);
      const current = await store.lastItem(owner, NS_AVATAR_METADATA);
      if (avatar === null) {
        if (current === undefined) return;
        const config = await ensureNode(jid, NS_AVATAR_METADATA, DEFAULT_NODE_CONFIG);
        await publishItem(jid, NS_AVATAR_METADATA, config, {
          id: 'current',
          payload: serialize(xml('metadata', { xmlns: NS_AVATAR_METADATA })),
        });
        return;
      }
      if (current?.id === avatar.hash) return;
      await publishAvatar(jid, avatar);
    });

    const publishAvatar = async (owner: JID, avatar: AvatarImage): Promise<void> => {
      const dataConfig = await ensureNode(owner, NS_AVATAR_DATA, DEFAULT_NODE_CONFIG);
      await publishItem(owner, NS_AVATAR_DATA, dataConfig, {
        id: avatar.hash,
        payload: serialize(xml('data', { xmlns: NS_AVATAR_DATA }, avatar.base64)),
      });
      const bytes = Buffer.from(avatar.base64, 'base64').length;
      const metaConfig = await ensureNode(owner, NS_AVATAR_METADATA, DEFAULT_NODE_CONFIG);
      await publishItem(owner, NS_AVATAR_METADATA, metaConfig, {
        id: avatar.hash,
        payload: serialize(
          xml(
            'metadata',
            { xmlns: NS_AVATAR_METADATA },
            xml('info', { id: avatar.hash, bytes: String(bytes), type: avatar.type }),
          ),
        ),
      });
    };

    ctx.on(privateRead, async (request) => {
      if (request.namespace !== NS_LEGACY_BOOKMARKS || request.name !== 'storage') return false;
      request.element = toLegacy(await currentBookmarks(JID.of(request.owner, ctx.domain)));
      return true;
    });
    ctx.on(privateWrite, async ({ owner, element }) => {
      if (!element.is('storage', NS_LEGACY_BOOKMARKS)) return false;
      const jid = JID.of(owner, ctx.domain);
      await replaceBookmarks(jid, fromLegacy(element));
      await syncLegacyPep(jid);
      return true;
    });

    const publish = async (event: IqEvent, pubsub: Element, publishEl: Element): Promise<Element> => {
      const owner = event.from.bare();
      const node = requireNode(publishEl);
      const items = publishEl.getChildren('item');
      if (items.length !== 1) throw pubsubError('bad-request', 'invalid-payload', 'Publish exactly one item');
      const item = items[0]!;
      const payloads = item.elements();
      if (payloads.length !== 1)
        throw pubsubError('bad-request', 'invalid-payload', 'An item carries exactly one payload');
      const options = readForm(pubsub.getChild('publish-options')?.getChild('x', NS_DATA));
      if (options.formType !== undefined && options.formType !== FORM_PUBLISH_OPTIONS) {
        throw new StanzaError('bad-request', 'publish-options need the publish-options FORM_TYPE');
      }
      let config = await store.node(owner.local, node);
      if (config === undefined) {
        config = applyConfigForm(DEFAULT_NODE_CONFIG, options.fields);
        const created = await store.create(owner.local, node, config);
        if (created === 'too-many-nodes')
          throw new StanzaError('resource-constraint', 'Too many nodes on this account');
        if (created === 'exists') config = (await store.node(owner.local, node)) ?? config;
      }
      const unmet = unmetPrecondition(config, options.fields);
      if (unmet !== undefined) {
        throw pubsubError(
          'conflict',
          'precondition-not-met',
          `The node's ${unmet} differs from the publish options`,
        );
      }
      const id = item.attrs.id ?? randomBytes(8).toString('hex');
      const payload = withoutParent(payloads[0]!);
      await publishItem(owner, node, config, { id, payload: serialize(payload) });
      // XEP-0402 compatibility: the other forms of the bookmarks follow.
      if (node === NS_BOOKMARKS) await syncLegacyPep(owner);
      else if (node === NS_AVATAR_METADATA) await avatarFromMetadata(owner, payload);
      else if (node === NS_LEGACY_BOOKMARKS && payload.is('storage', NS_LEGACY_BOOKMARKS)) {
        await replaceBookmarks(owner, fromLegacy(payload));
      }
      return xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node }, xml('item', { id })));
    };

    const retract = async (event: IqEvent, retractEl: Element): Promise<void> => {
      const owner = event.from.bare();
      const node = requireNode(retractEl);
      const id = retractEl.getChild('item')?.attrs.id;
      if (id === undefined) throw pubsubError('bad-request', 'item-required');
      const config = await store.node(owner.local, node);
      if (!config) throw new StanzaError('item-not-found');
      if (!(await store.retract(owner.local, node, id))) throw new StanzaError('item-not-found');
      const wanted = retractEl.attrs.notify === 'true' || retractEl.attrs.notify === '1';
      if (wanted || config.notifyRetract) {
        await notify(owner, node, config, xml('items', { node }, xml('retract', { id })));
      }
      if (node === NS_BOOKMARKS) await syncLegacyPep(owner);
    };

    const retrieve = async (event: IqEvent, itemsEl: Element): Promise<Element> => {
      const owner = event.to.bare();
      const node = requireNode(itemsEl);
      if (!(await ctx.storage.accounts.exists(owner.local))) throw new StanzaError('item-not-found');
      const config = await store.node(owner.local, node);
      if (!config) throw new StanzaError('item-not-found');
      if (await presenceBlocked(ctx, owner, event.from)) throw new StanzaError('item-not-found');
      await requireAccess(owner, event.from, config);
      const ids = itemsEl.getChildren('item').flatMap((item) => item.attrs.id ?? []);
      const maxRaw = itemsEl.attrs.max_items;
      const max = maxRaw === undefined ? undefined : Number(maxRaw);
      if (max !== undefined && (!Number.isInteger(max) || max < 1))
        throw new StanzaError('bad-request', 'Bad max_items');
      const items = await store.items(owner.local, node, ids.length > 0 ? { ids } : { max });
      return xml('pubsub', { xmlns: NS_PUBSUB }, xml('items', { node }, ...items.map(itemElement)));
    };

    ctx.iq('set', 'self', NS_PUBSUB, 'pubsub', async (event) => {
      const pubsub = event.payload;
      const action = pubsub
        .elements()
        .find((child) => child.localName !== 'publish-options' && child.localName !== 'configure');
      switch (action?.localName) {
        case 'publish':
          return publish(event, pubsub, action);
        case 'retract':
          await retract(event, action);
          return undefined;
        case 'create': {
          const node = requireNode(action);
          const form = readForm(pubsub.getChild('configure')?.getChild('x', NS_DATA));
          const config = applyConfigForm(DEFAULT_NODE_CONFIG, form.fields);
          const created = await store.create(event.from.local, node, config);
          if (created === 'exists') throw new StanzaError('conflict', 'The node exists');
          if (created === 'too-many-nodes')
            throw new StanzaError('resource-constraint', 'Too many nodes on this account');
          return undefined;
        }
        case 'subscribe':
        case 'unsubscribe':
          // PEP subscriptions are implicit (presence and +notify); an explicit one is not offered.
          throw pubsubError('feature-not-implemented', 'unsupported', undefined, 'subscribe');
        default:
          throw new StanzaError('bad-request', 'Unsupported pubsub request');
      }
    });
    ctx.iq('set', 'bare', NS_PUBSUB, 'pubsub', () => {
      throw new StanzaError('forbidden', "Only the account's owner publishes to its nodes");
    });
    ctx.iq('get', 'bare', NS_PUBSUB, 'pubsub', async (event) => {
      const itemsEl = event.payload.getChild('items');
      if (itemsEl) return retrieve(event, itemsEl);
      throw pubsubError('feature-not-implemented', 'unsupported', undefined, 'retrieve-subscriptions');
    });

    // ----- owner use cases -----

    ctx.iq('get', 'self', NS_PUBSUB_OWNER, 'pubsub', async (event) => {
      const configure = event.payload.getChild('configure');
      if (!configure) throw new StanzaError('feature-not-implemented');
      const node = requireNode(configure);
      const config = await store.node(event.from.local, node);
      if (!config) throw new StanzaError('item-not-found');
      return xml('pubsub', { xmlns: NS_PUBSUB_OWNER }, xml('configure', { node }, configForm(config)));
    });
    ctx.iq('set', 'self', NS_PUBSUB_OWNER, 'pubsub', async (event) => {
      const owner = event.from.bare();
      const action = event.payload.firstElement();
      const node = action === undefined ? '' : requireNode(action);
      const config = await store.node(owner.local, node);
      if (!config) throw new StanzaError('item-not-found');
      switch (action?.localName) {
        case 'configure': {
          const form = action.getChild('x', NS_DATA);
          if (form?.attrs.type === 'cancel') return undefined;
          const { formType, fields } = readForm(form);
          if (formType !== undefined && formType !== FORM_NODE_CONFIG)
            throw new StanzaError('bad-request', 'Wrong FORM_TYPE');
          const next = applyConfigForm(config, fields);
          await store.configure(owner.local, node, next);
          // A lower limit applies at once: republishing the newest item trims the rest.
          const newest = await store.lastItem(owner.local, node);
          if (newest) await store.publish(owner.local, node, newest, itemLimit(next, settings.maxItems));
          return undefined;
        }
        case 'delete':
          await store.delete(owner.local, node);
          if (config.notifyDelete) await notify(owner, node, config, xml('delete', { node }));
          return undefined;
        case 'purge':
          await store.purge(owner.local, node);
          await notify(owner, node, config, xml('purge', { node }));
          return undefined;
        default:
          throw new StanzaError('feature-not-implemented');
      }
    });

    // ----- service discovery of nodes -----

    /** Nodes of an account the requester may see. */
    const visibleNodes = async (owner: JID, requester: JID): Promise<string[]> => {
      if (!(await ctx.storage.accounts.exists(owner.local))) return [];
      if (await presenceBlocked(ctx, owner, requester)) return [];
      const relation = await relationOf(owner, requester);
      return (await store.nodes(owner.local))
        .filter(({ config }) => mayAccess(config, relation) === undefined)
        .map((n) => n.node);
    };

    // Answered before the disco module's account handlers, which know nothing of nodes.
    ctx.hook(
      `iq-get/bare/${NS_DISCO_ITEMS}:query`,
      async (event) => {
        const query = event.stanza.firstElement()!;
        const owner = event.to.bare();
        if (query.attrs.node !== undefined) return undefined;
        const nodes = await visibleNodes(owner, event.from);
        if (nodes.length === 0) return undefined;
        const answer = xml('query', { xmlns: NS_DISCO_ITEMS });
        for (const node of nodes) answer.append(xml('item', { jid: owner.bareString, node }));
        await ctx.reply(event, iqResultWith(event, answer));
        return true;
      },
      10,
    );
    ctx.hook(
      `iq-get/bare/${NS_DISCO_INFO}:query`,
      async (event) => {
        const node = event.stanza.firstElement()!.attrs.node;
        if (node === undefined) return undefined;
        const owner = event.to.bare();
        const nodes = await visibleNodes(owner, event.from);
        if (!nodes.includes(node)) return undefined;
        const answer = xml(
          'query',
          { xmlns: NS_DISCO_INFO, node },
          xml('identity', { category: 'pubsub', type: 'leaf' }),
          xml('feature', { var: NS_PUBSUB }),
        );
        await ctx.reply(event, iqResultWith(event, answer));
        return true;
      },
      10,
    );
  },
});

function subscribedTo(item: RosterItem): boolean {
  return item.subscription === 'to' || item.subscription === 'both';
}

function localAccount(ctx: ModuleContext, jid: string): JID | undefined {
  const parsed = JID.tryParse(jid);
  return parsed !== undefined && parsed.local !== '' && ctx.hosts.isLocal(parsed.domain)
    ? parsed.bare()
    : undefined;
}

function requireNode(el: Element): string {
  const node = el.attrs.node;
  if (node === undefined || node === '') throw pubsubError('bad-request', 'nodeid-required');
  return node;
}

function pubsubError(
  condition: ConstructorParameters<typeof StanzaError>[0],
  pubsubCondition: string,
  text?: string,
  feature?: string,
): StanzaError {
  const attrs: Record<string, string> = { xmlns: NS_PUBSUB_ERRORS };
  if (feature !== undefined) attrs.feature = feature;
  return new StanzaError(condition, text, undefined, xml(pubsubCondition, attrs));
}

function withoutParent(el: Element): Element {
  const copy = el.clone();
  // The payload keeps its own namespace when it is stored on its own.
  const ns = el.getNS();
  if (copy.attrs.xmlns === undefined && ns !== undefined) copy.attrs.xmlns = ns;
  return copy;
}

function itemElement(item: StoredItem): Element {
  return xml('item', { id: item.id }, parseElement(item.payload));
}

function itemsEvent(node: string, items: StoredItem[]): Element {
  return xml('items', { node }, ...items.map(itemElement));
}

function notification(from: string, to: string, _node: string, event: Element): Element {
  return xml(
    'message',
    { type: 'headline', from, to, id: `pep-${randomBytes(6).toString('hex')}` },
    xml('event', { xmlns: NS_PUBSUB_EVENT }, event.clone()),
  );
}

function iqResultWith(event: StanzaEvent, payload: Element): Element {
  return xml(
    'iq',
    { type: 'result', id: event.stanza.attrs.id, from: event.stanza.attrs.to, to: event.stanza.attrs.from },
    payload,
  );
}
