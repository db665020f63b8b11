import { randomBytes } from 'node:crypto';
import type { Cluster, Envelope, SessionEntry } from '@strom/cluster';
import { JID } from '@strom/jid';
import { AuthThrottle, SCRAM_MECHANISMS, type StoredCredentials } from '@strom/sasl';
import type { Storage } from '@strom/storage';
import { DEFAULT_LIMITS, type Element, serialize, type XmlLimits } from '@strom/xml';
import { AccountError, changePassword, createAccount, normalizeUsername } from './accounts.js';
import { StreamError } from './errors.js';
import { ModuleRegistry, type StromModule } from './registry.js';
import { Router } from './router.js';
import { ClientSession, type CloseReason, type Transport } from './session.js';

/** The logging surface the core needs; pino satisfies it. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export interface ServerOptions {
  domain: string;
  storage: Storage;
  cluster: Cluster;
  log?: Logger;
  limits?: Partial<XmlLimits>;
  modules?: StromModule[];
  /** Offer SASL PLAIN on secure transports (default true). */
  allowPlain?: boolean;
  authThrottle?: ConstructorParameters<typeof AuthThrottle>[0];
  /** Time allowed for a server-originated IQ to be answered. */
  iqTimeoutMs?: number;
}

/** How long account deletion waits for the account's sessions on other nodes to end. */
const ACCOUNT_DELETION_WAIT_MS = 5000;

interface PendingIq {
  resolve(result: Element): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * The XMPP service for one domain on one node: local sessions, the module registry, the router,
 * and the link to the session directory shared by all nodes.
 */
export class XmppServer {
  readonly domain: string;
  readonly storage: Storage;
  readonly cluster: Cluster;
  readonly log: Logger;
  readonly limits: XmlLimits;
  readonly registry: ModuleRegistry;
  readonly router: Router;
  readonly authThrottle: AuthThrottle;
  readonly startedAt = Date.now();
  /** Bound local sessions by full JID. */
  readonly sessions = new Map<string, ClientSession>();
  /** Every open local stream, bound or not (for shutdown). */
  readonly streams = new Set<ClientSession>();
  private readonly allowPlain: boolean;
  private readonly pendingIqs = new Map<string, PendingIq>();
  private readonly iqTimeoutMs: number;
  private readonly endings = new Set<Promise<void>>();
  private iqCounter = 0;
  private readonly iqPrefix = randomBytes(4).toString('hex');
  private stopping = false;

  constructor(private readonly options: ServerOptions) {
    this.domain = JID.parse(options.domain).domain;
    this.storage = options.storage;
    this.cluster = options.cluster;
    this.log = options.log ?? silentLogger;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.allowPlain = options.allowPlain ?? true;
    this.iqTimeoutMs = options.iqTimeoutMs ?? 30_000;
    this.authThrottle = new AuthThrottle(options.authThrottle);
    this.registry = new ModuleRegistry(this);
    this.router = new Router(this);
  }

  async start(): Promise<void> {
    for (const module of this.options.modules ?? []) await this.registry.load(module);
    this.cluster.onEnvelope((envelope, fromNode) => this.onEnvelope(envelope, fromNode));
    this.cluster.onNodeDown((node, sessions) => {
      void this.registry.fire('node-down', { node, sessions }).catch((err) => {
        this.log.error({ err }, 'node-down handling failed');
      });
    });
    await this.cluster.start();
  }

  /** Whether this server hosts the domain. */
  hosts(domain: string): boolean {
    return domain === this.domain;
  }

  saslMechanisms(secure: boolean): string[] {
    return secure && this.allowPlain ? [...SCRAM_MECHANISMS, 'PLAIN'] : [...SCRAM_MECHANISMS];
  }

  async lookupCredentials(username: string): Promise<StoredCredentials | undefined> {
    let local: string;
    try {
      local = normalizeUsername(username, this.domain);
    } catch {
      return undefined;
    }
    return (await this.storage.accounts.get(local))?.credentials;
  }

  /** Starts a client stream over a new connection; the transport feeds it frames. */
  openStream(transport: Transport): ClientSession {
    const session = new ClientSession(this, transport);
    this.streams.add(session);
    return session;
  }

  /** Registers a freshly bound resource; an existing session with the same full JID is replaced. */
  async bindSession(session: ClientSession): Promise<void> {
    const jid = session.jid!.toString();
    const previousLocal = this.sessions.get(jid);
    this.sessions.set(jid, session);
    const previous = await this.cluster.register(this.entryFor(session));
    if (previousLocal && previousLocal !== session) {
      previousLocal.replaced = true;
      previousLocal.fail(new StreamError('conflict', 'Replaced by a new connection'));
    } else if (previous && previous.node !== this.cluster.nodeId) {
      await this.cluster.send(previous.node, { type: 'kick', jid, condition: 'conflict' });
    }
  }

  async sessionBound(session: ClientSession): Promise<void> {
    await this.storage.accounts.touchLogin(session.username!);
    await this.registry.fire('session-bound', { session });
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
    if (this.sessions.get(jid) === session) this.sessions.delete(jid);
    try {
      if (!session.replaced) await this.cluster.unregister(jid);
      await this.registry.fire('session-closed', { session, reason });
    } catch (err) {
      this.log.error({ err }, 'session cleanup failed');
    }
  }

  /** Called when a stream that never bound goes away. */
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
    if (session.state !== 'active' || session.replaced) return;
    await this.cluster.update(session.jid!.toString(), patch);
  }

  /** Resources of an account that are online anywhere in the cluster. */
  resources(bare: JID): Promise<SessionEntry[]> {
    return this.cluster.resources(bare.bareString);
  }

  /** Looks up several accounts' resources at once: one directory round trip. */
  resourcesMany(bares: string[]): Promise<Map<string, SessionEntry[]>> {
    return this.cluster.resourcesMany(bares);
  }

  /** Delivers a stanza to one resource wherever it is; false when it is not online. */
  async deliverFull(stanza: Element, to: JID): Promise<boolean> {
    const key = to.toString();
    const local = this.sessions.get(key);
    if (local) {
      local.send(stanza);
      return true;
    }
    const entries = await this.cluster.resources(to.bareString);
    const entry = entries.find((e) => e.jid === key);
    if (!entry || entry.node === this.cluster.nodeId) return false;
    return this.cluster.send(entry.node, { type: 'deliver', items: [{ stanza, to: [key] }] });
  }

  /**
   * Delivers stanzas to resources known from the directory, one bus message per node.
   * Items for nodes that are gone go through the undeliverable rules (RFC 6121 §8.5.3.2).
   */
  async deliverMany(items: Array<{ stanza: Element; entries: SessionEntry[] }>): Promise<void> {
    // The hot path (every recipient on this node) allocates nothing but the serialized stanza,
    // rendered once however many local resources get it.
    const nodeId = this.cluster.nodeId;
    let byNode: Map<string, Array<{ stanza: Element; to: string[] }>> | undefined;
    for (const { stanza, entries } of items) {
      let text: string | undefined;
      for (const entry of entries) {
        if (entry.node === nodeId) {
          const session = this.sessions.get(entry.jid);
          if (session) {
            text ??= serialize(stanza);
            session.sendSerialized(text);
          }
          continue;
        }
        byNode ??= new Map();
        let batch = byNode.get(entry.node);
        if (!batch) {
          batch = [];
          byNode.set(entry.node, batch);
        }
        const last = batch[batch.length - 1];
        if (last && last.stanza === stanza) last.to.push(entry.jid);
        else batch.push({ stanza, to: [entry.jid] });
      }
    }
    if (byNode === undefined) return;
    await Promise.all(
      [...byNode].map(async ([node, batch]) => {
        if (await this.cluster.send(node, { type: 'deliver', items: batch })) return;
        for (const item of batch) {
          for (const to of item.to) await this.router.undeliverable(item.stanza, JID.parse(to));
        }
      }),
    );
  }

  /** Routes a stanza generated by the server or a module (`from` and `to` set). */
  route(stanza: Element): Promise<void> {
    return this.router.route(stanza);
  }

  /** Sends an IQ from the server and resolves with the response (rejects on error or timeout). */
  sendIq(iq: Element, timeoutMs = this.iqTimeoutMs): Promise<Element> {
    const id = `${this.iqPrefix}-${(++this.iqCounter).toString(36)}`;
    iq.attrs.id = id;
    if (iq.attrs.from === undefined) iq.attrs.from = this.domain;
    return new Promise<Element>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingIqs.delete(id);
        reject(new Error('IQ timed out'));
      }, timeoutMs);
      timer.unref();
      this.pendingIqs.set(id, { resolve, reject, timer });
      void this.route(iq);
    });
  }

  /** Resolves a pending server IQ from its response; unknown ids are ignored. */
  settleIq(response: Element): void {
    const id = response.attrs.id;
    const pending = id === undefined ? undefined : this.pendingIqs.get(id);
    if (!pending) return;
    this.pendingIqs.delete(id!);
    clearTimeout(pending.timer);
    if (response.attrs.type === 'result') pending.resolve(response);
    else pending.reject(Object.assign(new Error('IQ error'), { stanza: response }));
  }

  private onEnvelope(envelope: Envelope, fromNode: string): void {
    switch (envelope.type) {
      case 'deliver':
        for (const item of envelope.items) {
          for (const to of item.to) {
            const session = this.sessions.get(to);
            if (session) session.send(item.stanza);
            else void this.router.undeliverable(item.stanza, JID.parse(to));
          }
        }
        return;
      case 'kick': {
        const session = this.sessions.get(envelope.jid);
        if (!session) return;
        // A conflict means the directory entry already belongs to the new session elsewhere.
        if (envelope.condition === 'conflict') session.replaced = true;
        session.fail(new StreamError(envelope.condition));
        return;
      }
      case 'custom':
        void this.registry.fire('cluster-message', { name: envelope.name, data: envelope.data, fromNode });
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
   * Removes an account and everything stored about it. Modules first tell contacts (unsubscribe,
   * unsubscribed), then every session of the account ends, then the rows go in one transaction.
   */
  async deleteAccount(username: string): Promise<void> {
    const local = normalizeUsername(username, this.domain);
    if (!(await this.storage.accounts.exists(local))) {
      throw new AccountError('not-found', `There is no account ${local}@${this.domain}`);
    }
    const jid = JID.of(local, this.domain);
    await this.registry.fire('account-deleted', { username: local, jid });
    for (const entry of await this.resources(jid)) {
      const session = this.sessions.get(entry.jid);
      if (session) session.fail(new StreamError('not-authorized', 'The account was removed'));
      else if (entry.node !== this.cluster.nodeId) {
        await this.cluster.send(entry.node, { type: 'kick', jid: entry.jid, condition: 'not-authorized' });
      }
    }
    while (this.endings.size > 0) await Promise.allSettled([...this.endings]);
    // Sessions on other nodes end asynchronously; their unavailable presence needs the roster, so
    // the rows go only once the directory shows no session left (or after a bounded wait).
    const deadline = Date.now() + ACCOUNT_DELETION_WAIT_MS;
    while ((await this.resources(jid)).length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await this.storage.accounts.delete(local);
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
    for (const session of [...this.streams]) {
      if (opts.redirectUri) session.redirect(opts.redirectUri);
      else session.fail(new StreamError('system-shutdown'));
    }
    while (this.endings.size > 0) await Promise.allSettled([...this.endings]);
    for (const pending of this.pendingIqs.values()) {
      clearTimeout(pending.timer);
      pending.reject(new Error('server stopping'));
    }
    this.pendingIqs.clear();
    await this.cluster.close();
  }
}
