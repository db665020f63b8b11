import type { SessionEntry, SessionPatch } from '@strom/cluster';
import type { JID } from '@strom/jid';
import type { Database, Storage } from '@strom/storage';
import type { Element } from '@strom/xml';
import type { StanzaError } from './errors.js';
import type { Addressing, EventName, IqEvent, StanzaEvent } from './events.js';
import type { HookHandler, HookResult } from './hooks.js';
import type { ComponentHandler } from './hosts.js';
import type { Logger } from './logger.js';
import type { Origin } from './origin.js';
import type { ClientSession } from './session.js';
import type { SettingsOf, SettingsSpec } from './settings.js';

/** Returns the result payload (or nothing for an empty result); throws StanzaError to answer with an error. */
export type IqHandler = (event: IqEvent) => Element | undefined | void | Promise<Element | undefined | void>;

/** IQs a client sends before its stream is bound (in-band registration, resource binding). */
export interface StreamIqEvent {
  readonly stanza: Element;
  readonly payload: Element;
  readonly session: ClientSession;
}
export type StreamIqHandler = (
  event: StreamIqEvent,
) => Element | undefined | void | Promise<Element | undefined | void>;

/**
 * The stage of a stream at which a top-level element outside `jabber:client` (a nonza) arrives:
 * before authentication (SASL), after authentication but before a resource is bound (resource
 * binding, stream resumption), or on a bound session (stream management acks).
 */
export type StreamStage = 'pre-auth' | 'pre-bind' | 'bound';

export interface NonzaEvent {
  readonly element: Element;
  readonly session: ClientSession;
}
export type NonzaHandler = (event: NonzaEvent) => void | Promise<void>;

export type StreamFeatureStage = StreamStage;
export type StreamFeatureProvider = (session: ClientSession) => Element | undefined;

export interface Identity {
  category: string;
  type: string;
  name?: string;
}

/** A stanza and the directory entries of the resources that should get it. */
export interface DeliveryItem {
  stanza: Element;
  entries: SessionEntry[];
}

/** Where sessions are, on this node and across the cluster. */
export interface SessionDirectory {
  /** Resources of an account that are online anywhere in the cluster. */
  resources(bare: JID): Promise<SessionEntry[]>;
  /** Several accounts' resources in one directory round trip; every requested JID is a key. */
  resourcesMany(bares: readonly string[]): Promise<Map<string, SessionEntry[]>>;
  /** The bound session with this full JID, when it lives on this node. */
  local(fullJid: string): ClientSession | undefined;
  /** This node's bound sessions of one account. */
  localOf(username: string): ClientSession[];
  /** Whether a directory entry is a session of this node. */
  isHere(entry: SessionEntry): boolean;
  /** Changes a session's presence state (availability, priority, roster interest) and publishes it. */
  update(
    session: ClientSession,
    patch: Partial<Pick<ClientSession, 'available' | 'priority' | 'interested'>> &
      Pick<SessionPatch, 'presence'>,
  ): Promise<void>;
  /** Binds an authenticated session to a resource (replacing a session with the same full JID). */
  bind(session: ClientSession, resource: string): Promise<void>;
}

/** Account administration, for registration and admin commands. */
export interface AccountService {
  create(username: string, password: string): Promise<string>;
  changePassword(username: string, password: string): Promise<void>;
  /**
   * Locks the account (no login succeeds from then on, on any node), runs `onLocked` (where XEP-0077
   * sends its result), tells modules (contacts are notified), ends the account's sessions
   * everywhere, then removes its rows.
   */
  delete(username: string, options?: AccountDeletionOptions): Promise<void>;
}

export interface AccountDeletionOptions {
  /** Runs once no login with the account's credentials can succeed any more, before its sessions end. */
  onLocked?: () => Promise<void>;
}

/** What disco needs to tell the truth about the loaded modules. */
export interface DiscoRegistry {
  serverFeatures(): string[];
  accountFeatures(): string[];
  identities(): Identity[];
  accountIdentities(): Identity[];
}

/**
 * Everything a module may touch. A module gets one at setup and reaches the server only through it:
 * hooks and handlers for what it serves, typed events to and from other modules, routing, the
 * session directory, storage, and the cluster.
 */
export interface ModuleContext {
  /** The module this context belongs to. */
  readonly module: string;
  /** The main domain, where accounts live. */
  readonly domain: string;
  readonly log: Logger;
  /** The core repositories (accounts, roster, vCards, offline messages, block lists). */
  readonly storage: Storage;
  /** The database, for tables a module declares in its own `schema.ts` (collected into the migrations). */
  readonly database: Database;
  /** When this node started (ms since the epoch). */
  readonly startedAt: number;

  /** Hosts served here; a module serving a component claims its host. */
  readonly hosts: {
    isLocal(domain: string): boolean;
    register(host: string, handler: ComponentHandler): void;
    all(): string[];
  };
  readonly sessions: SessionDirectory;
  readonly accounts: AccountService;
  readonly disco: DiscoRegistry;

  /** Hooks a routed stanza event, e.g. `message/bare`, `pre-presence/self`, `iq/full`. */
  hook(event: string, handler: HookHandler<StanzaEvent>, priority?: number): void;
  /** Answers IQ get/set requests for one payload; `self` handlers also serve the bare JID when none is there. */
  iq(type: 'get' | 'set', addressing: Addressing, xmlns: string, name: string, handler: IqHandler): void;
  /**
   * Answers an IQ a client sends before its stream is bound: before authenticating (in-band
   * registration) or before binding (resource binding). Replies carry no addresses.
   */
  streamIq(
    stage: 'pre-auth' | 'pre-bind',
    type: 'get' | 'set',
    xmlns: string,
    name: string,
    handler: StreamIqHandler,
  ): void;
  /** Takes a top-level element outside `jabber:client` at one stream stage (`name` `*`: any other in that namespace). */
  nonza(stage: StreamStage, xmlns: string, name: string, handler: NonzaHandler): void;
  /** Offers a stream feature at one stage. */
  streamFeature(stage: StreamFeatureStage, provider: StreamFeatureProvider): void;
  /** Advertised in disco#info of the server. */
  feature(...namespaces: string[]): void;
  /** Advertised in disco#info of every account's bare JID. */
  accountFeature(...namespaces: string[]): void;
  identity(identity: Identity): void;
  /** Advertised in disco#info of every account's bare JID (e.g. `pubsub/pep`). */
  accountIdentity(identity: Identity): void;

  /** Listens to a typed event; a handler returning true stops lower-priority handlers. */
  on<T>(
    event: EventName<T>,
    handler: (payload: T) => HookResult | Promise<HookResult>,
    priority?: number,
  ): void;
  /** Fires a typed event; resolves whether a handler took it. */
  fire<T>(event: EventName<T>, payload: T): Promise<boolean>;

  /** Routes a stanza with `from` and `to` set (by default as the server's own). */
  route(stanza: Element, origin?: Origin): Promise<void>;
  /** Processes a stanza as if the session's client had sent it (stamped, outbound hooks, routed). */
  submit(session: ClientSession, stanza: Element): Promise<void>;
  /** Replies to the sender of an event; a local client gets it directly. */
  reply(event: StanzaEvent, reply: Element): Promise<void>;
  /** Answers a stanza with an error (never an error to an error). */
  bounce(stanza: Element, error: StanzaError, origin?: Origin): Promise<void>;
  /** Delivers to one resource wherever it is; false when it is not online. */
  deliver(to: JID, stanza: Element): Promise<boolean>;
  /** Delivers stanzas to directory entries, one bus message per node; unreachable ones go through the undeliverable rules. */
  deliverMany(items: DeliveryItem[]): Promise<void>;
  /** Sends an IQ from the server and resolves with the response (rejects on error or timeout). */
  sendIq(iq: Element, timeoutMs?: number): Promise<Element>;

  /**
   * Sends `data` (JSON-safe) to this module's `onBroadcast` handlers on other nodes: to the nodes
   * holding sessions of `nodesOf` (bare JIDs) when given, else to every other node.
   */
  broadcast(name: string, data: unknown, options?: { nodesOf?: readonly string[] }): Promise<void>;
  onBroadcast(name: string, handler: (data: unknown, fromNode: string) => void | Promise<void>): void;
}

/**
 * One feature of the server. `requires` names modules that must be loaded (and set up) first;
 * `settings` declares the environment variables it reads.
 */
export interface StromModule<S extends SettingsSpec = SettingsSpec> {
  readonly name: string;
  readonly requires?: readonly string[];
  readonly settings?: S;
  setup(ctx: ModuleContext, settings: SettingsOf<S>): void | Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: a module list holds modules with any settings shape.
export type AnyModule = StromModule<any>;

export function defineModule<S extends SettingsSpec = Record<string, never>>(
  module: StromModule<S>,
): AnyModule {
  return module;
}
