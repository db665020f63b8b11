import { type ChainableCommander, Redis, type RedisOptions } from 'ioredis';
import { decodeEntry, decodeEnvelope, encodeEntry, encodeEnvelope } from './codec.js';
import { splitFullJid } from './jid.js';
import { describeError, fallbackLog } from './log.js';
import { ClusterNodeBase } from './node-base.js';
import { randomNodeId } from './node-id.js';
import { RedisKeys } from './redis-keys.js';
import { SCRIPTS, type ScriptCommands } from './redis-scripts.js';
import { SessionTable } from './session-table.js';
import type { Cluster, ClusterLog, Envelope, NodeStatus, SessionEntry, SessionPatch } from './types.js';

export interface RedisClusterOptions {
  url: string;
  /** Default: random. A fixed id lets a restarted node clear what its previous run left behind. */
  nodeId?: string;
  /** Default 'strom:'. */
  keyPrefix?: string;
  /** Default 3000. */
  heartbeatMs?: number;
  /** Default 10000: a dead node's sessions leave the directory within nodeTtl + one sweep. */
  nodeTtlMs?: number;
  /** Default 2000. */
  sweepMs?: number;
  /** Default 2000: a command unanswered this long counts as Redis being unreachable. */
  commandTimeoutMs?: number;
  log?: ClusterLog;
}

type ScriptedRedis = Redis & ScriptCommands<{ type: 'default' }>;
type ScriptedPipeline = ChainableCommander & ScriptCommands<{ type: 'pipeline' }>;
type PipelineResults = Array<[error: Error | null, result: unknown]>;

/** Entries removed per cleanup script call, so a large dead node never blocks Redis for long. */
const CLEANUP_CHUNK = 500;

/**
 * Directory and bus on Redis. Each node keeps a mirror of the sessions it registered: while Redis
 * is unreachable the directory falls back to that mirror, and once Redis is back the mirror (plus
 * removals made meanwhile) is written back before the node reports 'ok' again.
 */
export class RedisCluster extends ClusterNodeBase implements Cluster {
  private readonly keys: RedisKeys;
  private readonly heartbeatMs: number;
  private readonly nodeTtlMs: number;
  private readonly sweepMs: number;
  private readonly commands: ScriptedRedis;
  private readonly subscriber: Redis;
  private readonly local = new SessionTable();
  /** Removals Redis has not seen yet: full JID → node the entry must still belong to. */
  private readonly pendingRemovals = new Map<string, string>();

  private phase: 'idle' | 'starting' | 'running' | 'closed' = 'idle';
  private commandsReady = false;
  private subscriberReady = false;
  private subscribing = false;
  /** Directory reads and writes go to Redis (rather than only to the local mirror). */
  private linked = false;
  private restoring = false;
  private resyncInFlight: Promise<void> | undefined;
  private heartbeatInFlight = false;
  private sweepInFlight = false;
  private heartbeatFailures = 0;
  private outageLogged = false;
  private resyncFailureLogged = false;
  private reportedStatus: NodeStatus = 'degraded';
  private timers: NodeJS.Timeout[] = [];

  constructor(opts: RedisClusterOptions) {
    super(opts.nodeId ?? randomNodeId(), opts.log ?? fallbackLog);
    this.keys = new RedisKeys(opts.keyPrefix ?? 'strom:');
    this.heartbeatMs = opts.heartbeatMs ?? 3000;
    this.nodeTtlMs = opts.nodeTtlMs ?? 10_000;
    this.sweepMs = opts.sweepMs ?? 2000;

    // Nothing waits for Redis: commands fail at once while disconnected (no offline queue, no
    // resending after a reconnect), so callers fall back or re-route instead of hanging.
    const connection: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      commandTimeout: opts.commandTimeoutMs ?? 2000,
      retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    };
    const name = 'strom-' + this.nodeId.replace(/[^\w.-]/g, '_');
    this.commands = new Redis(opts.url, {
      ...connection,
      connectionName: name + '-commands',
    }) as ScriptedRedis;
    for (const [command, definition] of Object.entries(SCRIPTS))
      this.commands.defineCommand(command, definition);
    this.subscriber = new Redis(opts.url, { ...connection, connectionName: name + '-bus' });
    this.watchConnections();
  }

  async start(): Promise<void> {
    if (this.phase !== 'idle') throw new Error('Cluster node already started');
    this.phase = 'starting';
    try {
      await Promise.all([this.commands.connect(), this.subscriber.connect()]);
      this.commandsReady = true;
      await this.subscribe();
      if (!this.subscriberReady) throw new Error('Could not subscribe to the node channel');
      await this.clearPreviousRun();
      await this.resync();
    } catch (error) {
      this.phase = 'closed';
      this.commands.disconnect();
      this.subscriber.disconnect();
      throw new Error('Could not join the cluster through Redis', { cause: error });
    }
    this.phase = 'running';
    this.reportedStatus = this.computeStatus();
    this.timers.push(
      setInterval(() => void this.beat(), this.heartbeatMs).unref(),
      setInterval(() => void this.sweep(), this.sweepMs).unref(),
    );
  }

  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    const wasRunning = this.phase === 'running';
    this.phase = 'closed';
    this.stopTimers();
    if (wasRunning && this.commandsReady) {
      try {
        // Sessions first, liveness last: a survivor seeing the liveness key gone finds nothing left to clean.
        await this.removeNodeSessions(this.nodeId, true);
        await this.commands.del(this.keys.alive(this.nodeId));
      } catch (error) {
        this.log.warn(
          { node: this.nodeId, ...describeError(error) },
          'could not unregister sessions on close',
        );
      }
    }
    this.local.clear();
    this.pendingRemovals.clear();
    await Promise.all([quit(this.commands), quit(this.subscriber)]);
  }

  /**
   * Drops both connections without any cleanup, like a process that died: the liveness key runs
   * out and a surviving node takes over. For tests.
   */
  simulateCrash(): void {
    this.phase = 'closed';
    this.stopTimers();
    this.commands.disconnect();
    this.subscriber.disconnect();
  }

  status(): NodeStatus {
    return this.computeStatus();
  }

  async register(entry: SessionEntry): Promise<SessionEntry | undefined> {
    const { bare, resource } = splitFullJid(entry.jid);
    const stored = { ...entry };
    let previousLocal: SessionEntry | undefined;
    if (stored.node === this.nodeId) {
      previousLocal = this.local.set(stored);
      this.pendingRemovals.delete(stored.jid);
    }
    if (!this.directoryLinked()) return previousLocal && { ...previousLocal };
    try {
      const previous = await this.commands.stromRegister(
        this.keys.sessions(bare),
        this.keys.nodeSessions(stored.node),
        resource,
        encodeEntry(stored),
        stored.jid,
      );
      return previous === null ? undefined : decodeEntry(stored.jid, previous);
    } catch (error) {
      this.unlink(error);
      return previousLocal && { ...previousLocal };
    }
  }

  async update(jid: string, patch: SessionPatch): Promise<void> {
    // Only sessions held here are updated; the mirror has them all.
    const entry = this.local.patch(jid, patch);
    if (!entry || !this.directoryLinked()) return;
    const { bare, resource } = splitFullJid(jid);
    try {
      await this.commands.stromUpdate(this.keys.sessions(bare), resource, this.nodeId, encodeEntry(entry));
    } catch (error) {
      this.unlink(error);
    }
  }

  async unregister(jid: string, node: string = this.nodeId): Promise<void> {
    const { bare, resource } = splitFullJid(jid);
    if (node === this.nodeId) this.local.delete(jid);
    if (!this.directoryLinked()) {
      this.pendingRemovals.set(jid, node);
      return;
    }
    try {
      await this.commands.stromUnregister(
        this.keys.sessions(bare),
        this.keys.nodeSessions(node),
        resource,
        node,
        jid,
      );
    } catch (error) {
      this.pendingRemovals.set(jid, node);
      this.unlink(error);
    }
  }

  async resources(bareJid: string): Promise<SessionEntry[]> {
    if (!this.directoryLinked()) return this.local.forBare(bareJid);
    try {
      return this.decodeSessions(bareJid, await this.commands.hgetall(this.keys.sessions(bareJid)));
    } catch (error) {
      this.unlink(error);
      return this.local.forBare(bareJid);
    }
  }

  async resourcesMany(bareJids: string[]): Promise<Map<string, SessionEntry[]>> {
    const bares = [...new Set(bareJids)];
    if (bares.length === 0) return new Map();
    if (this.directoryLinked()) {
      try {
        const pipeline = this.commands.pipeline();
        for (const bare of bares) pipeline.hgetall(this.keys.sessions(bare));
        const results = checked(await pipeline.exec());
        return new Map(
          bares.map((bare, index) => [
            bare,
            this.decodeSessions(bare, results[index] as Record<string, string>),
          ]),
        );
      } catch (error) {
        this.unlink(error);
      }
    }
    return new Map(bares.map((bare) => [bare, this.local.forBare(bare)]));
  }

  async send(node: string, envelope: Envelope): Promise<boolean> {
    const payload = encodeEnvelope(this.nodeId, envelope);
    if (this.phase === 'closed' || !this.commandsReady) return false;
    try {
      return (await this.commands.publish(this.keys.channel(node), payload)) > 0;
    } catch {
      return false;
    }
  }

  private watchConnections(): void {
    this.commands.on('ready', () => {
      this.commandsReady = true;
      this.outageLogged = false;
      if (this.phase === 'running') this.resync().catch((error) => this.noteResyncFailure(error));
    });
    this.commands.on('close', () => {
      this.commandsReady = false;
      this.linked = false;
      this.refreshStatus();
    });
    this.subscriber.on('ready', () => {
      if (this.phase === 'running') void this.subscribe();
    });
    this.subscriber.on('close', () => {
      this.subscriberReady = false;
      this.refreshStatus();
    });
    this.subscriber.on('message', (_channel: string, message: string) => this.receive(message));
    const onError = (error: unknown) => {
      // ioredis reports every failed reconnection attempt; one line per outage is enough.
      if (this.outageLogged || this.phase !== 'running') return;
      this.outageLogged = true;
      this.log.warn({ node: this.nodeId, ...describeError(error) }, 'Redis connection lost; retrying');
    };
    this.commands.on('error', onError);
    this.subscriber.on('error', onError);
  }

  private async subscribe(): Promise<void> {
    if (this.subscribing) return;
    this.subscribing = true;
    try {
      await this.subscriber.subscribe(this.keys.channel(this.nodeId));
      this.subscriberReady = true;
    } catch (error) {
      this.log.warn(
        { node: this.nodeId, ...describeError(error) },
        'could not subscribe to the node channel',
      );
    } finally {
      this.subscribing = false;
    }
    this.refreshStatus();
  }

  private receive(message: string): void {
    let decoded: ReturnType<typeof decodeEnvelope>;
    try {
      decoded = decodeEnvelope(message);
    } catch (error) {
      this.log.warn({ node: this.nodeId, ...describeError(error) }, 'dropped a malformed envelope');
      return;
    }
    this.envelopeListeners.emit(decoded.envelope, decoded.fromNode);
  }

  private directoryLinked(): boolean {
    return this.linked && this.commandsReady && this.phase !== 'closed';
  }

  /** A directory command failed: fall back to the mirror until the next resync. */
  private unlink(error: unknown): void {
    if (this.linked) {
      this.log.warn(
        { node: this.nodeId, ...describeError(error) },
        'Redis directory unavailable; using local sessions',
      );
    }
    this.linked = false;
    this.refreshStatus();
  }

  private resync(): Promise<void> {
    this.resyncInFlight ??= this.writeBack().finally(() => {
      this.resyncInFlight = undefined;
    });
    return this.resyncInFlight;
  }

  /**
   * Renews liveness first (so a survivor sweeping this node stops), then writes back everything
   * the mirror holds and every removal made while unlinked.
   */
  private async writeBack(): Promise<void> {
    const stillAlive = await this.commands.stromHeartbeat(
      this.keys.alive(this.nodeId),
      this.keys.nodes,
      this.nodeId,
      this.nodeTtlMs,
    );
    if (stillAlive === 0 && this.phase === 'running') {
      this.log.warn({ node: this.nodeId }, 'node liveness had expired; registering its sessions again');
    }
    const removals = [...this.pendingRemovals];
    this.pendingRemovals.clear();
    const entries = this.local.entries();
    const pipeline = this.commands.pipeline() as ScriptedPipeline;
    for (const [jid, node] of removals) {
      const { bare, resource } = splitFullJid(jid);
      pipeline.stromUnregister(this.keys.sessions(bare), this.keys.nodeSessions(node), resource, node, jid);
    }
    for (const entry of entries) {
      const { bare, resource } = splitFullJid(entry.jid);
      pipeline.stromRestore(
        this.keys.sessions(bare),
        this.keys.nodeSessions(this.nodeId),
        resource,
        this.nodeId,
        encodeEntry(entry),
        entry.jid,
      );
    }
    // Directory commands issued from now on travel on the same connection behind this pipeline,
    // so they can already go to Redis: they are applied after the write-back.
    this.linked = true;
    this.restoring = true;
    let results: unknown[] = [];
    try {
      if (removals.length + entries.length > 0) results = checked(await pipeline.exec());
    } catch (error) {
      this.linked = false;
      for (const [jid, node] of removals) {
        if (!this.pendingRemovals.has(jid) && this.local.peek(jid)?.node !== node)
          this.pendingRemovals.set(jid, node);
      }
      throw error;
    } finally {
      this.restoring = false;
    }
    const conflicts: string[] = [];
    entries.forEach((entry, index) => {
      const owner = results[removals.length + index];
      // Another node took this full JID while we were away; ours is the stale one, unless it was
      // registered again meanwhile (then the register that followed has already settled it).
      if (owner !== null && this.local.peek(entry.jid) === entry) {
        this.local.delete(entry.jid);
        conflicts.push(entry.jid);
      }
    });
    this.heartbeatFailures = 0;
    this.resyncFailureLogged = false;
    this.refreshStatus();
    if (conflicts.length > 0) {
      this.log.info(
        { node: this.nodeId, sessions: conflicts.length },
        'sessions taken over elsewhere during an outage',
      );
    }
    for (const jid of conflicts)
      this.envelopeListeners.emit({ type: 'kick', jid, condition: 'conflict' }, this.nodeId);
  }

  private noteResyncFailure(error: unknown): void {
    this.linked = false;
    if (!this.resyncFailureLogged) {
      this.resyncFailureLogged = true;
      this.log.warn({ node: this.nodeId, ...describeError(error) }, 'could not sync with Redis; will retry');
    }
    this.refreshStatus();
  }

  private async beat(): Promise<void> {
    if (this.heartbeatInFlight || this.phase !== 'running') return;
    if (this.subscriber.status === 'ready' && !this.subscriberReady) void this.subscribe();
    // While disconnected, the 'ready' event of the reconnection drives recovery.
    if (!this.commandsReady) return;
    this.heartbeatInFlight = true;
    try {
      if (!this.linked) {
        await this.resync();
        return;
      }
      const pipeline = this.commands.pipeline() as ScriptedPipeline;
      pipeline.stromHeartbeat(this.keys.alive(this.nodeId), this.keys.nodes, this.nodeId, this.nodeTtlMs);
      pipeline.pubsub('NUMSUB', this.keys.channel(this.nodeId));
      const [stillAlive, subscription] = checked(await pipeline.exec()) as [number, [string, number]];
      this.heartbeatFailures = 0;
      if (stillAlive === 0) {
        // This process stalled longer than the TTL and may have been cleaned up by a survivor.
        this.log.warn({ node: this.nodeId }, 'node liveness had expired; registering its sessions again');
        this.linked = false;
        await this.resync();
      }
      if (subscription[1] === 0 && this.subscriberReady) {
        // Redis lost our subscription although the connection looks fine: reconnect it.
        this.subscriberReady = false;
        this.refreshStatus();
        this.subscriber.disconnect(true);
      }
    } catch (error) {
      this.heartbeatFailures++;
      this.noteResyncFailure(error);
      // Commands time out on a connection that still looks open: force a fresh one.
      if (this.heartbeatFailures >= 2 && this.commands.status === 'ready') this.commands.disconnect(true);
    } finally {
      this.heartbeatInFlight = false;
    }
  }

  private async sweep(): Promise<void> {
    if (this.sweepInFlight || !this.directoryLinked()) return;
    this.sweepInFlight = true;
    try {
      const others = (await this.commands.smembers(this.keys.nodes)).filter((node) => node !== this.nodeId);
      if (others.length === 0) return;
      const pipeline = this.commands.pipeline();
      for (const node of others) pipeline.exists(this.keys.alive(node));
      const alive = checked(await pipeline.exec());
      for (const [index, node] of others.entries()) {
        if (alive[index] === 0) await this.takeOver(node);
      }
    } catch (error) {
      this.log.warn({ node: this.nodeId, ...describeError(error) }, 'node sweep failed');
    } finally {
      this.sweepInFlight = false;
    }
  }

  /** Cleans up after a node whose liveness key expired, unless another survivor already does. */
  private async takeOver(node: string): Promise<void> {
    const lock = await this.commands.set(
      this.keys.cleanupLock(node),
      this.nodeId,
      'PX',
      this.nodeTtlMs,
      'NX',
    );
    if (lock !== 'OK') return;
    const sessions = await this.removeNodeSessions(node, false);
    if (!sessions) return;
    this.log.info({ node: this.nodeId, lostNode: node, sessions: sessions.length }, 'cluster node down');
    this.nodeDownListeners.emit(node, sessions);
  }

  /**
   * A run with a fixed node id may have died with sessions still registered (within the TTL no
   * survivor cleans them up). They are gone; report them like any lost node's.
   */
  private async clearPreviousRun(): Promise<void> {
    const stale = await this.removeNodeSessions(this.nodeId, true);
    if (!stale || stale.length === 0) return;
    this.log.info({ node: this.nodeId, sessions: stale.length }, 'cleared sessions left by a previous run');
    this.nodeDownListeners.emit(this.nodeId, stale);
  }

  /** Undefined when the node turned out alive or already handled by another survivor. */
  private async removeNodeSessions(node: string, force: boolean): Promise<SessionEntry[] | undefined> {
    const sessions: SessionEntry[] = [];
    for (;;) {
      const [state, ...removed] = await this.commands.stromCleanup(
        this.keys.alive(node),
        this.keys.nodeSessions(node),
        this.keys.nodes,
        node,
        this.keys.sessionPrefix,
        CLEANUP_CHUNK,
        force ? '1' : '0',
      );
      for (let i = 0; i + 1 < removed.length; i += 2) {
        const entry = this.tryDecode(removed[i]!, removed[i + 1]!);
        if (entry) sessions.push(entry);
      }
      if (state === 'done') return sessions;
      if (state !== 'more') return undefined;
    }
  }

  private decodeSessions(bare: string, hash: Record<string, string>): SessionEntry[] {
    const sessions: SessionEntry[] = [];
    for (const [resource, value] of Object.entries(hash)) {
      const entry = this.tryDecode(bare + '/' + resource, value);
      if (entry) sessions.push(entry);
    }
    return sessions;
  }

  private tryDecode(jid: string, value: string): SessionEntry | undefined {
    try {
      return decodeEntry(jid, value);
    } catch (error) {
      this.log.warn({ node: this.nodeId, ...describeError(error) }, 'skipped a malformed directory entry');
      return undefined;
    }
  }

  private computeStatus(): NodeStatus {
    const healthy =
      this.phase === 'running' &&
      this.commandsReady &&
      this.subscriberReady &&
      this.linked &&
      !this.restoring;
    return healthy ? 'ok' : 'degraded';
  }

  private refreshStatus(): void {
    if (this.phase !== 'running') return;
    const status = this.computeStatus();
    if (status === this.reportedStatus) return;
    this.reportedStatus = status;
    this.log.info({ node: this.nodeId, status }, 'cluster status changed');
    this.statusListeners.emit(status);
  }

  private stopTimers(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }
}

/** Pipeline results with the first command error thrown. */
function checked(results: PipelineResults | null): unknown[] {
  if (!results) throw new Error('Pipeline aborted');
  return results.map(([error, result]) => {
    if (error) throw error;
    return result;
  });
}

async function quit(client: Redis): Promise<void> {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

export function createRedisCluster(opts: RedisClusterOptions): RedisCluster {
  return new RedisCluster(opts);
}
