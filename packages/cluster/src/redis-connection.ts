import { type ChainableCommander, Redis, type RedisOptions } from 'ioredis';
import { describeError } from './log.js';
import type { RedisKeys } from './redis-keys.js';
import { SCRIPTS, type ScriptCommands } from './redis-scripts.js';
import type { ClusterLog } from './types.js';

export type ScriptedRedis = Redis & ScriptCommands<{ type: 'default' }>;
export type ScriptedPipeline = ChainableCommander & ScriptCommands<{ type: 'pipeline' }>;

export type Phase = 'idle' | 'starting' | 'running' | 'closed';

/**
 * A node's two Redis connections (commands, and the bus's subscriptions) and its lifecycle phase,
 * which every part of the node consults before using Redis.
 */
export class RedisConnections {
  readonly commands: ScriptedRedis;
  readonly subscriber: Redis;
  phase: Phase = 'idle';
  /** The command connection is up. */
  commandsReady = false;
  private outageLogged = false;

  constructor(url: string, nodeId: string, commandTimeoutMs: number, log: ClusterLog) {
    // Nothing waits for Redis: commands fail at once while disconnected (no offline queue, no
    // resending after a reconnect), so callers fall back or re-route instead of hanging.
    const connection: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      commandTimeout: commandTimeoutMs,
      retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    };
    const name = 'strom-' + nodeId.replace(/[^\w.-]/g, '_');
    this.commands = new Redis(url, { ...connection, connectionName: name + '-commands' }) as ScriptedRedis;
    for (const [command, definition] of Object.entries(SCRIPTS))
      this.commands.defineCommand(command, definition);
    this.subscriber = new Redis(url, { ...connection, connectionName: name + '-bus' });

    this.commands.on('ready', () => {
      this.commandsReady = true;
      this.outageLogged = false;
    });
    this.commands.on('close', () => {
      this.commandsReady = false;
    });
    const onError = (error: unknown) => {
      // ioredis reports every failed reconnection attempt; one line per outage is enough.
      if (this.outageLogged || this.phase !== 'running') return;
      this.outageLogged = true;
      log.warn({ node: nodeId, ...describeError(error) }, 'Redis connection lost; retrying');
    };
    this.commands.on('error', onError);
    this.subscriber.on('error', onError);
  }

  get running(): boolean {
    return this.phase === 'running';
  }

  /** Commands can be sent: the connection is up and the node not closed. */
  get usable(): boolean {
    return this.commandsReady && this.phase !== 'closed';
  }

  /** Runs after the command connection's own bookkeeping, each time it comes (back) up. */
  onCommandsReady(handler: () => void): void {
    this.commands.on('ready', handler);
  }

  /** Runs after the command connection's own bookkeeping, each time it goes down. */
  onCommandsClosed(handler: () => void): void {
    this.commands.on('close', handler);
  }

  async connect(): Promise<void> {
    await Promise.all([this.commands.connect(), this.subscriber.connect()]);
    this.commandsReady = true;
  }

  /** Drops both connections at once, without waiting for anything. */
  disconnect(): void {
    this.commands.disconnect();
    this.subscriber.disconnect();
  }

  async quit(): Promise<void> {
    await Promise.all([quit(this.commands), quit(this.subscriber)]);
  }
}

/** What every part of a Redis node shares. */
export interface RedisNodeContext {
  readonly nodeId: string;
  readonly keys: RedisKeys;
  readonly redis: RedisConnections;
  readonly log: ClusterLog;
  /** Re-evaluates (and reports, if changed) the node's status after a part's state changed. */
  readonly refreshStatus: () => void;
}

async function quit(client: Redis): Promise<void> {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
