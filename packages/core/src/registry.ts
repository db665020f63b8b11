import type { SessionEntry } from '@strom/cluster';
import type { JID } from '@strom/jid';
import { Element } from '@strom/xml';
import { errorReply, iqResult, StanzaError } from './errors.js';
import { HookBus, type HookHandler, type HookResult } from './hooks.js';
import type { XmppServer } from './server.js';
import type { ClientSession, CloseReason } from './session.js';

export type StanzaKind = 'message' | 'presence' | 'iq';

/**
 * How a stanza is addressed, as seen by the server that handles it:
 * `host` — the server itself; `self` — the sender's own account (no `to`, or its own bare JID);
 * `bare` — another account; `full` — a specific resource.
 */
export type Addressing = 'host' | 'self' | 'bare' | 'full';

export interface StanzaEvent {
  readonly stanza: Element;
  readonly kind: StanzaKind;
  /** The stanza's type with RFC defaults applied (message: normal, presence: available). */
  readonly type: string;
  readonly from: JID;
  /** The addressee; for a stanza without `to` from a client, the sender's bare JID. */
  readonly to: JID;
  readonly addressing: Addressing;
  /** True when `to` is on a domain this server does not host. */
  readonly remote: boolean;
  /** The local session that sent the stanza, when it came from a client of this node. */
  readonly origin: ClientSession | undefined;
  readonly server: XmppServer;
}

export interface IqEvent extends StanzaEvent {
  readonly payload: Element;
}

/** Returns the result payload (or nothing for an empty result); throws StanzaError to answer with an error. */
export type IqHandler = (event: IqEvent) => Element | undefined | void | Promise<Element | undefined | void>;

/** IQs a client may send before authenticating (in-band registration). */
export interface PreAuthIqEvent {
  readonly stanza: Element;
  readonly payload: Element;
  readonly session: ClientSession;
  readonly server: XmppServer;
}
export type PreAuthIqHandler = (
  event: PreAuthIqEvent,
) => Element | undefined | void | Promise<Element | undefined | void>;

/** Top-level elements outside jabber:client (e.g. stream management), once bound. */
export interface NonzaEvent {
  readonly element: Element;
  readonly session: ClientSession;
  readonly server: XmppServer;
}

export interface LifecycleEvents {
  /** A resource was bound; the session can now send and receive stanzas. */
  'session-bound': { session: ClientSession };
  /** A session sent its first available presence (RFC 6121 §4.2): time for offline messages and pending requests. */
  'initial-presence': { session: ClientSession };
  /** A bound session ended, for any reason; it is already gone from the session directory. */
  'session-closed': { session: ClientSession; reason: CloseReason };
  /** Another node died; its sessions are already gone from the directory. Fired on one surviving node. */
  'node-down': { node: string; sessions: SessionEntry[] };
  /** A module-defined message from another node. */
  'cluster-message': { name: string; data: unknown; fromNode: string };
  /** An account is being deleted; modules notify contacts and drop in-memory state. */
  'account-deleted': { username: string; jid: JID };
}

export type StreamFeatureStage = 'pre-auth' | 'post-auth';
export type StreamFeatureProvider = (session: ClientSession) => Element | undefined;

export interface Identity {
  category: string;
  type: string;
  name?: string;
}

/** What a module gets to plug itself into the server. */
export interface ModuleContext {
  readonly server: XmppServer;
  /** Hooks a routed stanza event, e.g. `message/bare`, `pre-presence/self`, `iq/full`. */
  hook(event: string, handler: HookHandler<StanzaEvent>, priority?: number): void;
  /** Answers IQ get/set requests for one payload; `self` handlers also serve the bare JID when none is there. */
  iq(type: 'get' | 'set', addressing: Addressing, xmlns: string, name: string, handler: IqHandler): void;
  preAuthIq(type: 'get' | 'set', xmlns: string, name: string, handler: PreAuthIqHandler): void;
  nonza(xmlns: string, name: string, handler: (event: NonzaEvent) => void | Promise<void>): void;
  on<K extends keyof LifecycleEvents>(
    event: K,
    handler: (event: LifecycleEvents[K]) => HookResult | Promise<HookResult>,
    priority?: number,
  ): void;
  /** Advertised in disco#info of the server. */
  feature(...namespaces: string[]): void;
  /** Advertised in disco#info of every account's bare JID. */
  accountFeature(...namespaces: string[]): void;
  identity(identity: Identity): void;
  streamFeature(stage: StreamFeatureStage, provider: StreamFeatureProvider): void;
}

export interface StromModule {
  readonly name: string;
  setup(ctx: ModuleContext): void | Promise<void>;
}

export function defineModule(module: StromModule): StromModule {
  return module;
}

export function iqEventName(type: string, addressing: Addressing, xmlns: string, name: string): string {
  return `iq-${type}/${addressing}/${xmlns}:${name}`;
}

/** Holds what modules registered: stanza hooks, lifecycle hooks, disco data and stream features. */
export class ModuleRegistry {
  readonly stanzaHooks = new HookBus<StanzaEvent>();
  readonly lifecycle = new HookBus<unknown>();
  readonly serverFeatures = new Set<string>();
  readonly accountFeatures = new Set<string>();
  readonly identities: Identity[] = [];
  readonly modules: string[] = [];
  private readonly preAuthIqs = new Map<string, PreAuthIqHandler>();
  private readonly nonzas = new Map<string, (event: NonzaEvent) => void | Promise<void>>();
  private readonly features: Record<StreamFeatureStage, StreamFeatureProvider[]> = {
    'pre-auth': [],
    'post-auth': [],
  };

  constructor(private readonly server: XmppServer) {}

  async load(module: StromModule): Promise<void> {
    if (this.modules.includes(module.name)) throw new Error(`Module ${module.name} is loaded twice`);
    this.modules.push(module.name);
    await module.setup(this.contextFor());
  }

  private contextFor(): ModuleContext {
    const server = this.server;
    return {
      server,
      hook: (event, handler, priority) => {
        this.stanzaHooks.on(event, handler, priority);
      },
      iq: (type, addressing, xmlns, name, handler) => {
        const eventName = iqEventName(type, addressing, xmlns, name);
        if (this.stanzaHooks.has(eventName)) throw new Error(`Two handlers for ${eventName}`);
        this.stanzaHooks.on(eventName, (event) => answerIq(event, handler));
      },
      preAuthIq: (type, xmlns, name, handler) => {
        this.preAuthIqs.set(`${type}/${xmlns}:${name}`, handler);
      },
      nonza: (xmlns, name, handler) => {
        this.nonzas.set(`${xmlns}:${name}`, handler);
      },
      on: (event, handler, priority) => {
        this.lifecycle.on(event, handler as HookHandler<unknown>, priority);
      },
      feature: (...namespaces) => {
        for (const ns of namespaces) this.serverFeatures.add(ns);
      },
      accountFeature: (...namespaces) => {
        for (const ns of namespaces) this.accountFeatures.add(ns);
      },
      identity: (identity) => {
        this.identities.push(identity);
      },
      streamFeature: (stage, provider) => {
        this.features[stage].push(provider);
      },
    };
  }

  fire<K extends keyof LifecycleEvents>(event: K, payload: LifecycleEvents[K]): Promise<boolean> {
    return this.lifecycle.fire(event, payload);
  }

  streamFeatures(stage: StreamFeatureStage, session: ClientSession): Element[] {
    const result: Element[] = [];
    for (const provider of this.features[stage]) {
      const feature = provider(session);
      if (feature) result.push(feature);
    }
    return result;
  }

  async handlePreAuthIq(session: ClientSession, stanza: Element): Promise<boolean> {
    const type = stanza.attrs.type;
    if (type !== 'get' && type !== 'set') return false;
    const payload = stanza.firstElement();
    const ns = payload?.getNS();
    if (!payload || !ns) return false;
    const handler = this.preAuthIqs.get(`${type}/${ns}:${payload.localName}`);
    if (!handler) return false;
    // Pre-auth replies carry no addresses (the client has no JID yet) and never echo the request:
    // it may hold a password (XEP-0077 §3.3).
    const { from: _from, to: _to, ...attrs } = stanza.attrs;
    const request = new Element('iq', attrs);
    try {
      const result = await handler({ stanza, payload, session, server: this.server });
      session.send(iqResult(request, result ?? undefined));
    } catch (err) {
      const error = err instanceof StanzaError ? err : internalError(this.server, err);
      const reply = errorReply(request, error);
      if (reply) session.send(reply);
    }
    return true;
  }

  async handleNonza(session: ClientSession, element: Element): Promise<boolean> {
    const handler = this.nonzas.get(`${element.getNS()}:${element.localName}`);
    if (!handler) return false;
    await handler({ element, session, server: this.server });
    return true;
  }
}

async function answerIq(event: StanzaEvent, handler: IqHandler): Promise<true> {
  const { stanza, server } = event;
  const payload = stanza.firstElement()!;
  let reply: Element | undefined;
  try {
    const result = await handler({ ...event, payload });
    reply = iqResult(stanza, result ?? undefined);
  } catch (err) {
    reply = errorReply(stanza, err instanceof StanzaError ? err : internalError(server, err));
  }
  if (reply) await server.router.reply(event, reply);
  return true;
}

function internalError(server: XmppServer, err: unknown): StanzaError {
  server.log.error({ err }, 'handler failed');
  return new StanzaError('internal-server-error');
}
