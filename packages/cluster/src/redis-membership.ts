import type { ChainableCommander } from 'ioredis';
import { describeError } from './log.js';
import type { RedisNodeContext, ScriptedPipeline } from './redis-connection.js';
import type { RedisDirectory } from './redis-directory.js';
import { checked, partitionByLiveness } from './redis-replies.js';
import type { SessionEntry } from './types.js';

export interface MembershipTimings {
  heartbeatMs: number;
  /** Lifetime of the liveness key each heartbeat renews. */
  nodeTtlMs: number;
  sweepMs: number;
}

/** What the heartbeat also checks on the bus, in the same round trip (implemented by RedisBus). */
export interface HeartbeatProbe {
  ensureSubscribed(): void;
  queueCheck(pipeline: ChainableCommander): void;
  checkReply(reply: unknown): void;
}

export interface MembershipEvents {
  /** Another node (or a previous run of this one) is gone; its sessions are already out of the directory. */
  nodeDown(node: string, sessions: SessionEntry[]): void;
  /** These sessions of this node were taken over by another node during an outage and must go. */
  sessionsTakenOver(jids: string[]): void;
}

/**
 * Node membership on Redis: a liveness key per node renewed by the heartbeat (PX TTL) plus the set
 * of known nodes. A sweep finds nodes whose key ran out and, under a per-node lock so only one
 * survivor does it, removes their sessions and reports them. When Redis was unreachable or this
 * node's own key had expired, the heartbeat resyncs: it renews liveness, then has the directory
 * write back its mirror.
 */
export class RedisMembership {
  private resyncInFlight: Promise<void> | undefined;
  private heartbeatInFlight = false;
  private sweepInFlight = false;
  private heartbeatFailures = 0;
  private resyncFailureLogged = false;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly ctx: RedisNodeContext,
    private readonly directory: RedisDirectory,
    private readonly probe: HeartbeatProbe,
    private readonly timings: MembershipTimings,
    private readonly events: MembershipEvents,
  ) {
    ctx.redis.onCommandsReady(() => {
      if (ctx.redis.running) this.resync().catch((error) => this.noteResyncFailure(error));
    });
  }

  /** Joins on start: clears what a previous run with this node id left, then registers liveness and sessions. */
  async join(): Promise<void> {
    await this.clearPreviousRun();
    await this.resync();
  }

  startTimers(): void {
    this.timers.push(
      setInterval(() => void this.beat(), this.timings.heartbeatMs).unref(),
      setInterval(() => void this.sweep(), this.timings.sweepMs).unref(),
    );
  }

  stopTimers(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  /** Leaves on close. Sessions first, liveness last: a survivor seeing the liveness key gone finds nothing left to clean. */
  async leave(): Promise<void> {
    await this.directory.removeNodeSessions(this.ctx.nodeId, true);
    await this.ctx.redis.commands.del(this.ctx.keys.alive(this.ctx.nodeId));
  }

  /** This node while it runs, plus every other node whose liveness key is present; sorted. */
  async liveNodes(): Promise<string[]> {
    const self = this.ctx.redis.running ? [this.ctx.nodeId] : [];
    if (!this.ctx.redis.usable) return self;
    try {
      const { alive } = await this.otherNodes();
      return [...self, ...alive].sort();
    } catch {
      // Unreachable: this node is all it can vouch for, as directory reads then see only its sessions.
      return self;
    }
  }

  resync(): Promise<void> {
    this.resyncInFlight ??= this.writeBack().finally(() => {
      this.resyncInFlight = undefined;
    });
    return this.resyncInFlight;
  }

  /** Renews liveness first (so a survivor sweeping this node stops), then writes back the directory mirror. */
  private async writeBack(): Promise<void> {
    const { keys, nodeId, redis, log } = this.ctx;
    const stillAlive = await redis.commands.stromHeartbeat(
      keys.alive(nodeId),
      keys.nodes,
      nodeId,
      this.timings.nodeTtlMs,
    );
    if (stillAlive === 0 && redis.running) {
      log.warn({ node: nodeId }, 'node liveness had expired; registering its sessions again');
    }
    const conflicts = await this.directory.writeBack();
    this.heartbeatFailures = 0;
    this.resyncFailureLogged = false;
    this.ctx.refreshStatus();
    if (conflicts.length > 0) {
      log.info(
        { node: nodeId, sessions: conflicts.length },
        'sessions taken over elsewhere during an outage',
      );
      this.events.sessionsTakenOver(conflicts);
    }
  }

  private noteResyncFailure(error: unknown): void {
    this.directory.markUnlinked();
    if (!this.resyncFailureLogged) {
      this.resyncFailureLogged = true;
      this.ctx.log.warn(
        { node: this.ctx.nodeId, ...describeError(error) },
        'could not sync with Redis; will retry',
      );
    }
    this.ctx.refreshStatus();
  }

  async beat(): Promise<void> {
    const { keys, nodeId, redis, log } = this.ctx;
    if (this.heartbeatInFlight || !redis.running) return;
    this.probe.ensureSubscribed();
    // While disconnected, the 'ready' event of the reconnection drives recovery.
    if (!redis.commandsReady) return;
    this.heartbeatInFlight = true;
    try {
      if (!this.directory.linked) {
        await this.resync();
        return;
      }
      const pipeline = redis.commands.pipeline() as ScriptedPipeline;
      pipeline.stromHeartbeat(keys.alive(nodeId), keys.nodes, nodeId, this.timings.nodeTtlMs);
      this.probe.queueCheck(pipeline);
      const [stillAlive, subscription] = checked(await pipeline.exec());
      this.heartbeatFailures = 0;
      if (stillAlive === 0) {
        // This process stalled longer than the TTL and may have been cleaned up by a survivor.
        log.warn({ node: nodeId }, 'node liveness had expired; registering its sessions again');
        this.directory.markUnlinked();
        await this.resync();
      }
      this.probe.checkReply(subscription);
    } catch (error) {
      this.heartbeatFailures++;
      this.noteResyncFailure(error);
      // Commands time out on a connection that still looks open: force a fresh one.
      if (this.heartbeatFailures >= 2 && redis.commands.status === 'ready') redis.commands.disconnect(true);
    } finally {
      this.heartbeatInFlight = false;
    }
  }

  private async sweep(): Promise<void> {
    if (this.sweepInFlight || !this.directory.usesRedis) return;
    this.sweepInFlight = true;
    try {
      const { dead } = await this.otherNodes();
      for (const node of dead) await this.takeOver(node);
    } catch (error) {
      this.ctx.log.warn({ node: this.ctx.nodeId, ...describeError(error) }, 'node sweep failed');
    } finally {
      this.sweepInFlight = false;
    }
  }

  /** The other known nodes, split by whether their liveness key is still there. */
  private async otherNodes(): Promise<{ alive: string[]; dead: string[] }> {
    const { keys, nodeId, redis } = this.ctx;
    const others = (await redis.commands.smembers(keys.nodes)).filter((node) => node !== nodeId);
    if (others.length === 0) return { alive: [], dead: [] };
    const pipeline = redis.commands.pipeline();
    for (const node of others) pipeline.exists(keys.alive(node));
    return partitionByLiveness(others, checked(await pipeline.exec()));
  }

  /** Cleans up after a node whose liveness key expired, unless another survivor already does. */
  private async takeOver(node: string): Promise<void> {
    const { keys, nodeId, redis, log } = this.ctx;
    const lock = await redis.commands.set(keys.cleanupLock(node), nodeId, 'PX', this.timings.nodeTtlMs, 'NX');
    if (lock !== 'OK') return;
    const sessions = await this.directory.removeNodeSessions(node, false);
    if (!sessions) return;
    log.info({ node: nodeId, lostNode: node, sessions: sessions.length }, 'cluster node down');
    this.events.nodeDown(node, sessions);
  }

  /**
   * A run with a fixed node id may have died with sessions still registered (within the TTL no
   * survivor cleans them up). They are gone; report them like any lost node's.
   */
  private async clearPreviousRun(): Promise<void> {
    const { nodeId, log } = this.ctx;
    const stale = await this.directory.removeNodeSessions(nodeId, true);
    if (!stale || stale.length === 0) return;
    log.info({ node: nodeId, sessions: stale.length }, 'cleared sessions left by a previous run');
    this.events.nodeDown(nodeId, stale);
  }
}
