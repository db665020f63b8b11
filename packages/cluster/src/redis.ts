import { describeError, fallbackLog } from './log.js';
import { ClusterNodeBase } from './node-base.js';
import { randomNodeId } from './node-id.js';
import { RedisBus } from './redis-bus.js';
import { RedisConnections, type RedisNodeContext } from './redis-connection.js';
import { RedisDirectory } from './redis-directory.js';
import { RedisKeys } from './redis-keys.js';
import { RedisMembership } from './redis-membership.js';
import { nodeStatus, StatusReporter } from './redis-status.js';
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

/**
 * A cluster node on Redis, composed of the session directory (redis-directory.ts), the node bus
 * (redis-bus.ts) and node membership (redis-membership.ts) over one pair of connections
 * (redis-connection.ts). Each node keeps a mirror of the sessions it registered: while Redis is
 * unreachable the directory falls back to that mirror, and once Redis is back the mirror (plus
 * removals made meanwhile) is written back before the node reports 'ok' again.
 */
export class RedisCluster extends ClusterNodeBase implements Cluster {
  private readonly redis: RedisConnections;
  private readonly directory: RedisDirectory;
  private readonly bus: RedisBus;
  private readonly membership: RedisMembership;
  private readonly reporter: StatusReporter;

  constructor(opts: RedisClusterOptions) {
    super(opts.nodeId ?? randomNodeId(), opts.log ?? fallbackLog);
    this.redis = new RedisConnections(opts.url, this.nodeId, opts.commandTimeoutMs ?? 2000, this.log);
    this.reporter = new StatusReporter(
      () => this.status(),
      () => this.redis.running,
      (status) => {
        this.log.info({ node: this.nodeId, status }, 'cluster status changed');
        this.statusListeners.emit(status);
      },
    );
    const ctx: RedisNodeContext = {
      nodeId: this.nodeId,
      keys: new RedisKeys(opts.keyPrefix ?? 'strom:'),
      redis: this.redis,
      log: this.log,
      refreshStatus: () => this.reporter.refresh(),
    };
    this.directory = new RedisDirectory(ctx);
    this.bus = new RedisBus(ctx, (envelope, fromNode) => this.envelopeListeners.emit(envelope, fromNode));
    this.membership = new RedisMembership(
      ctx,
      this.directory,
      this.bus,
      {
        heartbeatMs: opts.heartbeatMs ?? 3000,
        nodeTtlMs: opts.nodeTtlMs ?? 10_000,
        sweepMs: opts.sweepMs ?? 2000,
      },
      {
        nodeDown: (node, sessions) => this.nodeDownListeners.emit(node, sessions),
        sessionsTakenOver: (jids) => {
          for (const jid of jids)
            this.envelopeListeners.emit({ type: 'kick', jid, condition: 'conflict' }, this.nodeId);
        },
      },
    );
    this.redis.onCommandsClosed(() => {
      this.directory.markUnlinked();
      this.reporter.refresh();
    });
  }

  async start(): Promise<void> {
    if (this.redis.phase !== 'idle') throw new Error('Cluster node already started');
    this.redis.phase = 'starting';
    try {
      await this.redis.connect();
      await this.bus.subscribe();
      if (!this.bus.ready) throw new Error('Could not subscribe to the node channel');
      await this.membership.join();
    } catch (error) {
      this.redis.phase = 'closed';
      this.redis.disconnect();
      throw new Error('Could not join the cluster through Redis', { cause: error });
    }
    this.redis.phase = 'running';
    this.reporter.reset();
    this.membership.startTimers();
  }

  async close(): Promise<void> {
    if (this.redis.phase === 'closed') return;
    const wasRunning = this.redis.running;
    this.redis.phase = 'closed';
    this.membership.stopTimers();
    if (wasRunning && this.redis.commandsReady) {
      try {
        await this.membership.leave();
      } catch (error) {
        this.log.warn(
          { node: this.nodeId, ...describeError(error) },
          'could not unregister sessions on close',
        );
      }
    }
    this.directory.clear();
    await this.redis.quit();
  }

  /**
   * Drops both connections without any cleanup, like a process that died: the liveness key runs
   * out and a surviving node takes over. For tests.
   */
  simulateCrash(): void {
    this.redis.phase = 'closed';
    this.membership.stopTimers();
    this.redis.disconnect();
  }

  /** @internal One heartbeat right away, as its timer runs it (tests use it instead of waiting). */
  beat(): Promise<void> {
    return this.membership.beat();
  }

  status(): NodeStatus {
    return nodeStatus({
      running: this.redis.running,
      commandsReady: this.redis.commandsReady,
      subscribed: this.bus.ready,
      linked: this.directory.linked,
      restoring: this.directory.restoring,
    });
  }

  register(entry: SessionEntry): Promise<SessionEntry | undefined> {
    return this.directory.register(entry);
  }

  update(jid: string, patch: SessionPatch): Promise<void> {
    return this.directory.update(jid, patch);
  }

  unregister(jid: string, node: string = this.nodeId): Promise<void> {
    return this.directory.unregister(jid, node);
  }

  resources(bareJid: string): Promise<SessionEntry[]> {
    return this.directory.resources(bareJid);
  }

  resourcesMany(bareJids: string[]): Promise<Map<string, SessionEntry[]>> {
    return this.directory.resourcesMany(bareJids);
  }

  send(node: string, envelope: Envelope): Promise<boolean> {
    return this.bus.send(node, envelope);
  }

  broadcast(envelope: Envelope): Promise<void> {
    return this.bus.broadcast(envelope);
  }

  liveNodes(): Promise<string[]> {
    return this.membership.liveNodes();
  }
}

export function createRedisCluster(opts: RedisClusterOptions): RedisCluster {
  return new RedisCluster(opts);
}
