import { randomBytes } from 'node:crypto';
import type { Cluster, Envelope, SessionEntry } from '@strom/cluster';
import { JID } from '@strom/jid';
import { AuthThrottle, type AuthThrottleOptions, DEFAULT_ITERATIONS } from '@strom/sasl';
import type { Storage, StoredCredentials } from '@strom/storage';
import { DEFAULT_LIMITS, type Element, type XmlLimits } from '@strom/xml';
import { AccountError, changePassword, createAccount, normalizeUsername } from './accounts.js';
import type { AddressList } from './addresses.js';
import type { AccountDeletionOptions, AnyModule, ModuleContext } from './context.js';
import { StreamError } from './errors.js';
import { CoreEvents } from './events.js';
import { HostTable } from './hosts.js';
import { IqTracker } from './iq-tracker.js';
import { LocalSessions } from './local-sessions.js';
import { type Logger, silentLogger } from './logger.js';
import { createModuleContext } from './module-context.js';
import { ModuleRegistry } from './registry.js';
import { Router } from './router.js';
import { ClientSession, type CloseReason, type SessionHost, type Transport } from './session.js';
import type { Env } from './settings.js';
import { resolveSettings } from './settings.js';
import { bindModule } from './stream/bind.js';
import { saslModule } from './stream/sasl.js';

export { type Logger, silentLogger } from './logger.js';

export interface ServerOptions {
  domain: string;
  storage: Storage;
  cluster: Cluster;
  log?: Logger;
  limits?: Partial<XmlLimits>;
  modules?: AnyModule[];
  /** Where modules read their settings (default: none set, so every module uses its defaults). */
  env?: Env;
  /** Offer SASL PLAIN on secure transports (default true). */
  allowPlain?: boolean;
  /**
   * Failed-login throttling: its limits, where counts live (default: this process; a Redis store
   * shares them between nodes) and the addresses exempt from the per-address limit.
   */
  authThrottle?: AuthThrottleOptions & { exempt?: AddressList };
  /** Time allowed for a server-originated IQ to be answered. */
  iqTimeoutMs?: number;
}

/** How long account deletion waits for the account's sessions on other nodes to end. */
const ACCOUNT_DELETION_WAIT_MS = 5000;

/**
 * Credentials for an account being deleted: random keys (a stored key is a hash output, so no
 * password leads to a random one) under a fresh salt.
 */
function lockedCredentials(): StoredCredentials {
  const random = (bytes: number) => randomBytes(bytes).toString('base64');
  return {
    salt: random(16),
    iterations: DEFAULT_ITERATIONS,
    'SHA-1': { storedKey: random(20), serverKey: random(20) },
    'SHA-256': { storedKey: random(32), serverKey: random(32) },
  };
}

/** Cluster messages the core sends for modules' broadcasts carry this prefix before the module name. */
const MODULE_MESSAGE = 'module:';

/** Invalid module settings, reported together by name. */
export class ModuleSettingsError extends Error {}

/**
 * The XMPP service for one domain on one node: it owns local streams, loads the modules in
 * dependency order and gives each its context, and links the router to the cluster. Stream
 * negotiation, authentication and binding are modules too; what is left here is the session life
 * cycle and the wiring.
 */
export class XmppServer implements SessionHost {
  readonly domain: string;
  readonly storage: Storage;
  readonly cluster: Cluster;
  readonly log: Logger;
  readonly limits: XmlLimits;
  readonly hosts: HostTable;
  readonly registry: ModuleRegistry;
  readonly router: Router;
  readonly local: LocalSessions;
  readonly startedAt = Date.now();
  /** Every open local stream, bound or not (for shutdown). */
  readonly streams = new Set<ClientSession>();
  /** Failed-login throttle used by the SASL module. */
  readonly authThrottle: AuthThrottle;
  private readonly iqs: IqTracker;
  private readonly endings = new Set<Promise<void>>();
  private stopping = false;

  constructor(private readonly options: ServerOptions) {
    this.domain = JID.parse(options.domain).domain;
    this.storage = options.storage;
    this.cluster = options.cluster;
    this.log = options.log ?? silentLogger;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.hosts = new HostTable(this.domain);
    this.iqs = new IqTracker(options.iqTimeoutMs ?? 30_000);
    const { exempt: _exempt, ...throttle } = options.authThrottle ?? {};
    let storeOutage = false;
    this.authThrottle = new AuthThrottle({
      // One line per outage: the throttle counts on this node alone until the store answers again.
      onStoreError: (err) => {
        if (storeOutage) return;
        storeOutage = true;
        this.log.warn({ err }, 'login throttle store unreachable; counting on this node only');
        setTimeout(() => (storeOutage = false), 60_000).unref();
      },
      ...throttle,
    });
    this.registry = new ModuleRegistry(this.log);
    this.local = new LocalSessions(this.cluster, (stanza, to) => this.router.undeliverable(stanza, to));
    this.router = new Router({
      hosts: this.hosts,
      registry: this.registry,
      log: this.log,
      deliverFull: (stanza, to) => this.local.deliverFull(stanza, to),
      settleIq: (response) => this.iqs.settle(response),
    });
  }

  /** Bound local sessions by full JID. */
  get sessions(): ReadonlyMap<string, ClientSession> {
    return this.local.byJid;
  }

  /** The modules this server loads: the stream modules, then the configured ones. */
  private modules(): AnyModule[] {
    const configured = this.options.modules ?? [];
    const stream: AnyModule[] = [
      saslModule({
        allowPlain: this.options.allowPlain ?? true,
        throttle: this.authThrottle,
        ...(this.options.authThrottle?.exempt ? { exempt: this.options.authThrottle.exempt } : {}),
      }),
      bindModule,
    ];
    const names = new Set(configured.map((module) => module.name));
    return [...stream.filter((module) => !names.has(module.name)), ...configured];
  }

  async start(): Promise<void> {
    const env = this.options.env ?? {};
    const modules = this.modules();
    const errors: string[] = [];
    const settings = new Map(
      modules.map((module) => [module.name, resolveSettings(module.settings ?? {}, env, errors)]),
    );
    if (errors.length > 0) {
      throw new ModuleSettingsError(`Invalid configuration:\n  - ${[...new Set(errors)].join('\n  - ')}`);
    }
    await this.registry.load(modules, async (module) => {
      await module.setup(this.contextFor(module.name), settings.get(module.name) as never);
    });
    this.cluster.onEnvelope((envelope, fromNode) => this.onEnvelope(envelope, fromNode));
    this.cluster.onNodeDown((node, sessions) => {
      void this.registry.fire(CoreEvents.nodeDown, { node, sessions }).catch((err) => {
        this.log.error({ err }, 'node-down handling failed');
      });
    });
    await this.cluster.start();
  }

  /** The context one module gets. */
  contextFor(module: string): ModuleContext {
    return createModuleContext(this, module, {
      broadcast: (name, data, nodesOf) => this.broadcast(`${MODULE_MESSAGE}${module}/${name}`, data, nodesOf),
      onBroadcast: (name, handler) =>
        this.registry.onBroadcast(`${MODULE_MESSAGE}${module}/${name}`, handler),
      sendIq: (iq, timeoutMs) =>
        this.iqs.track(
          iq,
          (request) => {
            request.attrs.from ??= this.domain;
            void this.router.route(request);
          },
          timeoutMs,
        ),
    });
  }

  /** Whether this server hosts the domain (the main domain or a component host). */
  isLocalDomain(domain: string): boolean {
    return this.hosts.isLocal(domain);
  }

  /** Starts a client stream over a new connection; the transport feeds it frames. */
  openStream(transport: Transport): ClientSession {
    const session = new ClientSession(this, transport);
    this.streams.add(session);
    return session;
  }

  fromClient(session: ClientSession, stanza: Element): Promise<void> {
    return this.router.fromClient(session, stanza);
  }

  /** Registers a freshly bound resource; an existing session with the same full JID is replaced. */
  async bindSession(session: ClientSession, resource: string): Promise<void> {
    const jid = JID.of(session.username!, this.domain, resource);
    session.binding(jid);
    const key = jid.toString();
    const previousLocal = this.local.byJid.get(key);
    this.local.byJid.set(key, session);
    const previous = await this.cluster.register(this.entryFor(session));
    if (previousLocal && previousLocal !== session) {
      previousLocal.replaced = true;
      previousLocal.fail(new StreamError('conflict', 'Replaced by a new connection'));
    } else if (previous && previous.node !== this.cluster.nodeId) {
      await this.cluster.send(previous.node, { type: 'kick', jid: key, condition: 'conflict' });
    }
  }

  async sessionBound(session: ClientSession): Promise<void> {
    await this.storage.accounts.touchLogin(session.username!);
    await this.registry.fire(CoreEvents.sessionBound, { session });
  }

  keepsSession(session: ClientSession, reason: CloseReason): boolean {
    if (this.stopping || session.replaced) return false;
    return this.registry.ask(CoreEvents.sessionEnding, { session, reason });
  }

  sessionEnded(session: ClientSession, reason: CloseReason): Promise<void> {
    const ending = this.finishSession(session, reason);
    this.endings.add(ending);
    void ending.finally(() => this.endings.delete(ending));
    return ending;
  }

  private async finishSession(session: ClientSession, reason: CloseReason): Promise<void> {
    this.streams.delete(session);
    const jid = session.jid?.toString();
    if (jid === undefined) return;
    if (this.local.byJid.get(jid) === session) this.local.byJid.delete(jid);
    try {
      if (!session.replaced) await this.cluster.unregister(jid);
      await this.registry.fire(CoreEvents.sessionClosed, { session, reason });
    } catch (err) {
      this.log.error({ err }, 'session cleanup failed');
    }
  }

  streamClosed(session: ClientSession): void {
    this.streams.delete(session);
  }

  private entryFor(session: ClientSession): SessionEntry {
    return {
      jid: session.jid!.toString(),
      node: this.cluster.nodeId,
      priority: session.priority,
      available: session.available,
      interested: session.interested,
    };
  }

  /** Publishes a session's presence state (availability, priority, roster interest) to the directory. */
  async updateSession(
    session: ClientSession,
    patch: Partial<Pick<ClientSession, 'available' | 'priority' | 'interested'>> & { presence?: string },
  ): Promise<void> {
    const { presence: _serialized, ...own } = patch;
    Object.assign(session, own);
    if ((session.state !== 'active' && session.state !== 'hibernating') || session.replaced) return;
    await this.cluster.update(session.jid!.toString(), patch);
  }

  /** Resources of an account that are online anywhere in the cluster. */
  resources(bare: JID): Promise<SessionEntry[]> {
    return this.cluster.resources(bare.bareString);
  }

  /** Sends a module's cluster message to the nodes of some accounts, or to every other node. */
  private async broadcast(key: string, data: unknown, nodesOf: readonly string[] | undefined): Promise<void> {
    const envelope: Envelope = { type: 'custom', name: key, data };
    if (nodesOf === undefined) {
      await this.cluster.broadcast(envelope);
      return;
    }
    if (nodesOf.length === 0) return;
    const directory = await this.cluster.resourcesMany([...nodesOf]);
    const nodes = new Set<string>();
    for (const entries of directory.values()) for (const entry of entries) nodes.add(entry.node);
    nodes.delete(this.cluster.nodeId);
    await Promise.all([...nodes].map((node) => this.cluster.send(node, envelope)));
  }

  private onEnvelope(envelope: Envelope, fromNode: string): void {
    switch (envelope.type) {
      case 'deliver':
        this.local.receive(envelope.items);
        return;
      case 'kick': {
        const session = this.local.byJid.get(envelope.jid);
        if (!session) return;
        // A conflict means the directory entry already belongs to the new session elsewhere.
        if (envelope.condition === 'conflict') session.replaced = true;
        session.fail(new StreamError(envelope.condition));
        return;
      }
      case 'custom':
        void this.registry.handleBroadcast(envelope.name, envelope.data, fromNode);
        return;
    }
  }

  async createAccount(username: string, password: string): Promise<string> {
    return createAccount(this.storage, this.domain, username, password);
  }

  async changePassword(username: string, password: string): Promise<void> {
    return changePassword(this.storage, this.domain, username, password);
  }

  /**
   * Removes an account and everything stored about it. First its credentials are replaced by keys
   * no password matches, so from then on no login succeeds on any node (`onLocked` runs here: the
   * account is as good as gone). Then modules tell contacts (unsubscribe, unsubscribed), every
   * session of the account ends, and the rows go in one transaction.
   */
  async deleteAccount(username: string, options: AccountDeletionOptions = {}): Promise<void> {
    const local = normalizeUsername(username, this.domain);
    if (!(await this.storage.accounts.setCredentials(local, lockedCredentials()))) {
      throw new AccountError('not-found', `There is no account ${local}@${this.domain}`);
    }
    await options.onLocked?.();
    const jid = JID.of(local, this.domain);
    await this.registry.fire(CoreEvents.accountDeleted, { username: local, jid });
    await this.endSessionsOf(jid);
    // Sessions on other nodes end asynchronously; their unavailable presence needs the roster, so
    // the rows go only once the directory shows no session left (or after a bounded wait).
    const deadline = Date.now() + ACCOUNT_DELETION_WAIT_MS;
    while ((await this.resources(jid)).length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await this.storage.accounts.delete(local);
    // A login that had read the old keys just before the lock may have bound since: end it too.
    await this.endSessionsOf(jid);
  }

  /** Ends every session of an account, here and on other nodes, with `not-authorized`. */
  private async endSessionsOf(jid: JID): Promise<void> {
    for (const entry of await this.resources(jid)) {
      const session = this.local.byJid.get(entry.jid);
      if (session) session.fail(new StreamError('not-authorized', 'The account was removed'));
      else if (entry.node !== this.cluster.nodeId) {
        await this.cluster.send(entry.node, { type: 'kick', jid: entry.jid, condition: 'not-authorized' });
      }
    }
    while (this.endings.size > 0) await Promise.allSettled([...this.endings]);
  }

  /** Whether storage and the cluster link are usable (readiness). */
  async readiness(): Promise<{ storage: boolean; cluster: 'ok' | 'degraded' }> {
    let storage = true;
    try {
      await this.storage.ping();
    } catch {
      storage = false;
    }
    return { storage, cluster: this.cluster.status() };
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /**
   * Ends every stream (redirecting clients elsewhere when a URI is given, else `system-shutdown`),
   * waits for their unavailable presence to go out, and leaves the cluster.
   */
  async stop(opts: { redirectUri?: string } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.registry.fire(CoreEvents.stopping, {}).catch((err) => {
      this.log.error({ err }, 'a module failed to stop');
    });
    for (const session of [...this.streams]) {
      if (session.state === 'hibernating') session.terminate();
      else if (opts.redirectUri) session.redirect(opts.redirectUri);
      else session.fail(new StreamError('system-shutdown'));
    }
    while (this.endings.size > 0) await Promise.allSettled([...this.endings]);
    this.iqs.rejectAll('server stopping');
    await this.cluster.close();
    await this.authThrottle.close();
  }
}
