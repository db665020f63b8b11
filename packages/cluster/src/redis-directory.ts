import { decodeEntry, encodeEntry } from './codec.js';
import { splitFullJid } from './jid.js';
import { describeError } from './log.js';
import type { RedisNodeContext, ScriptedPipeline } from './redis-connection.js';
import { checked, decodeSessionHash, parseCleanupReply } from './redis-replies.js';
import { SessionTable } from './session-table.js';
import type { SessionEntry, SessionPatch } from './types.js';

/** Entries removed per cleanup script call, so a large dead node never blocks Redis for long. */
const CLEANUP_CHUNK = 500;

/**
 * The session directory on Redis (one hash per bare JID, changed through the Lua scripts of
 * redis-scripts.ts). It keeps a mirror of the sessions this node registered: while unlinked
 * (Redis unreachable, or not yet written back after an outage) reads and writes use that mirror,
 * and removals are kept until `writeBack` hands them to Redis together with the mirror.
 */
export class RedisDirectory {
  private readonly local = new SessionTable();
  /** Removals Redis has not seen yet: full JID → node the entry must still belong to. */
  private readonly pendingRemovals = new Map<string, string>();
  private isLinked = false;
  private isRestoring = false;

  constructor(private readonly ctx: RedisNodeContext) {}

  /** Directory commands go to Redis (once the command connection is up), rather than only to the mirror. */
  get linked(): boolean {
    return this.isLinked;
  }

  /** A write-back is under way. */
  get restoring(): boolean {
    return this.isRestoring;
  }

  /** Reads and writes go to Redis right now. */
  get usesRedis(): boolean {
    return this.isLinked && this.ctx.redis.usable;
  }

  async register(entry: SessionEntry): Promise<SessionEntry | undefined> {
    const { bare, resource } = splitFullJid(entry.jid);
    const stored = { ...entry };
    let previousLocal: SessionEntry | undefined;
    if (stored.node === this.ctx.nodeId) {
      previousLocal = this.local.set(stored);
      this.pendingRemovals.delete(stored.jid);
    }
    if (!this.usesRedis) return previousLocal && { ...previousLocal };
    const { keys, redis } = this.ctx;
    try {
      const previous = await redis.commands.stromRegister(
        keys.sessions(bare),
        keys.nodeSessions(stored.node),
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
    if (!entry || !this.usesRedis) return;
    const { bare, resource } = splitFullJid(jid);
    const { keys, redis, nodeId } = this.ctx;
    try {
      await redis.commands.stromUpdate(keys.sessions(bare), resource, nodeId, encodeEntry(entry));
    } catch (error) {
      this.unlink(error);
    }
  }

  async unregister(jid: string, node: string): Promise<void> {
    const { bare, resource } = splitFullJid(jid);
    if (node === this.ctx.nodeId) this.local.delete(jid);
    if (!this.usesRedis) {
      this.pendingRemovals.set(jid, node);
      return;
    }
    const { keys, redis } = this.ctx;
    try {
      await redis.commands.stromUnregister(keys.sessions(bare), keys.nodeSessions(node), resource, node, jid);
    } catch (error) {
      this.pendingRemovals.set(jid, node);
      this.unlink(error);
    }
  }

  async resources(bareJid: string): Promise<SessionEntry[]> {
    if (!this.usesRedis) return this.local.forBare(bareJid);
    try {
      const hash = await this.ctx.redis.commands.hgetall(this.ctx.keys.sessions(bareJid));
      return decodeSessionHash(bareJid, hash, this.onMalformed);
    } catch (error) {
      this.unlink(error);
      return this.local.forBare(bareJid);
    }
  }

  async resourcesMany(bareJids: string[]): Promise<Map<string, SessionEntry[]>> {
    const bares = [...new Set(bareJids)];
    if (bares.length === 0) return new Map();
    if (this.usesRedis) {
      try {
        const pipeline = this.ctx.redis.commands.pipeline();
        for (const bare of bares) pipeline.hgetall(this.ctx.keys.sessions(bare));
        const results = checked(await pipeline.exec());
        return new Map(
          bares.map((bare, index) => [
            bare,
            decodeSessionHash(bare, results[index] as Record<string, string>, this.onMalformed),
          ]),
        );
      } catch (error) {
        this.unlink(error);
      }
    }
    return new Map(bares.map((bare) => [bare, this.local.forBare(bare)]));
  }

  /** A directory command failed: fall back to the mirror until the next write-back. */
  unlink(error: unknown): void {
    if (this.isLinked) {
      this.ctx.log.warn(
        { node: this.ctx.nodeId, ...describeError(error) },
        'Redis directory unavailable; using local sessions',
      );
    }
    this.isLinked = false;
    this.ctx.refreshStatus();
  }

  /** Falls back to the mirror without logging or reporting (the caller does what is needed). */
  markUnlinked(): void {
    this.isLinked = false;
  }

  /**
   * Writes back everything the mirror holds and every removal made while unlinked, and links the
   * directory again. Returns the full JIDs of this node's sessions that another node took over
   * meanwhile; they are already dropped from the mirror. Throws, still unlinked, when Redis fails.
   */
  async writeBack(): Promise<string[]> {
    const { keys, redis, nodeId } = this.ctx;
    const removals = [...this.pendingRemovals];
    this.pendingRemovals.clear();
    const entries = this.local.entries();
    const pipeline = redis.commands.pipeline() as ScriptedPipeline;
    for (const [jid, node] of removals) {
      const { bare, resource } = splitFullJid(jid);
      pipeline.stromUnregister(keys.sessions(bare), keys.nodeSessions(node), resource, node, jid);
    }
    for (const entry of entries) {
      const { bare, resource } = splitFullJid(entry.jid);
      pipeline.stromRestore(
        keys.sessions(bare),
        keys.nodeSessions(nodeId),
        resource,
        nodeId,
        encodeEntry(entry),
        entry.jid,
      );
    }
    // Directory commands issued from now on travel on the same connection behind this pipeline,
    // so they can already go to Redis: they are applied after the write-back.
    this.isLinked = true;
    this.isRestoring = true;
    let results: unknown[] = [];
    try {
      if (removals.length + entries.length > 0) results = checked(await pipeline.exec());
    } catch (error) {
      this.isLinked = false;
      for (const [jid, node] of removals) {
        if (!this.pendingRemovals.has(jid) && this.local.peek(jid)?.node !== node)
          this.pendingRemovals.set(jid, node);
      }
      throw error;
    } finally {
      this.isRestoring = false;
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
    return conflicts;
  }

  /**
   * Removes the entries still pointing at `node`, in chunks, and forgets the node. Unless `force`
   * (this node's own sessions), only while the node's liveness key is gone and no other survivor
   * has done it: otherwise resolves undefined.
   */
  async removeNodeSessions(node: string, force: boolean): Promise<SessionEntry[] | undefined> {
    const { keys, redis } = this.ctx;
    const sessions: SessionEntry[] = [];
    for (;;) {
      const reply = await redis.commands.stromCleanup(
        keys.alive(node),
        keys.nodeSessions(node),
        keys.nodes,
        node,
        keys.sessionPrefix,
        CLEANUP_CHUNK,
        force ? '1' : '0',
      );
      const { state, removed } = parseCleanupReply(reply, this.onMalformed);
      sessions.push(...removed);
      if (state === 'done') return sessions;
      if (state !== 'more') return undefined;
    }
  }

  /** Forgets the mirror and the pending removals (the node is closing). */
  clear(): void {
    this.local.clear();
    this.pendingRemovals.clear();
  }

  private readonly onMalformed = (error: unknown): void => {
    this.ctx.log.warn(
      { node: this.ctx.nodeId, ...describeError(error) },
      'skipped a malformed directory entry',
    );
  };
}
