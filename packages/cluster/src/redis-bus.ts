import type { ChainableCommander } from 'ioredis';
import { decodeEnvelope, encodeEnvelope } from './codec.js';
import { describeError } from './log.js';
import type { RedisNodeContext } from './redis-connection.js';
import type { Envelope } from './types.js';

/** Receives every envelope that reaches this node, with the node that sent it. */
export type EnvelopeSink = (envelope: Envelope, fromNode: string) => void;

/**
 * The node bus on Redis pub/sub. Each node subscribes, on its own connection, to its node channel
 * (envelopes sent to it) and to the shared broadcast channel (envelopes for every node, published
 * once). Envelopes travel as JSON naming their sender (codec.ts), which is how a node skips its own
 * broadcasts.
 */
export class RedisBus {
  private subscribed = false;
  private subscribing = false;

  constructor(
    private readonly ctx: RedisNodeContext,
    private readonly deliver: EnvelopeSink,
  ) {
    const { subscriber } = ctx.redis;
    subscriber.on('ready', () => {
      if (ctx.redis.running) void this.subscribe();
    });
    subscriber.on('close', () => {
      this.subscribed = false;
      ctx.refreshStatus();
    });
    subscriber.on('message', (channel: string, message: string) => this.receive(channel, message));
  }

  /** Both channels are subscribed. */
  get ready(): boolean {
    return this.subscribed;
  }

  async subscribe(): Promise<void> {
    if (this.subscribing) return;
    this.subscribing = true;
    const { keys, nodeId, redis, log } = this.ctx;
    try {
      await redis.subscriber.subscribe(keys.channel(nodeId), keys.broadcast);
      this.subscribed = true;
    } catch (error) {
      log.warn({ node: nodeId, ...describeError(error) }, 'could not subscribe to the node channel');
    } finally {
      this.subscribing = false;
    }
    this.ctx.refreshStatus();
  }

  /** Resolves false when nobody listens on that node's channel, or Redis cannot be reached. */
  async send(node: string, envelope: Envelope): Promise<boolean> {
    const payload = encodeEnvelope(this.ctx.nodeId, envelope);
    if (!this.ctx.redis.usable) return false;
    try {
      return (await this.ctx.redis.commands.publish(this.ctx.keys.channel(node), payload)) > 0;
    } catch {
      return false;
    }
  }

  /** One PUBLISH on the broadcast channel; best effort, like send. */
  async broadcast(envelope: Envelope): Promise<void> {
    const payload = encodeEnvelope(this.ctx.nodeId, envelope);
    if (!this.ctx.redis.usable) return;
    try {
      await this.ctx.redis.commands.publish(this.ctx.keys.broadcast, payload);
    } catch {
      // Nothing to re-route: a node that misses a broadcast during an outage misses it.
    }
  }

  /** Re-subscribes when the subscriber connection is up without its subscriptions. */
  ensureSubscribed(): void {
    if (this.ctx.redis.subscriber.status === 'ready' && !this.subscribed) void this.subscribe();
  }

  /** Adds the subscription check to the heartbeat's pipeline: one round trip for both. */
  queueCheck(pipeline: ChainableCommander): void {
    pipeline.pubsub('NUMSUB', this.ctx.keys.channel(this.ctx.nodeId));
  }

  /** Handles the reply to the command `queueCheck` added. */
  checkReply(reply: unknown): void {
    const [, subscribers] = reply as [string, number];
    if (subscribers === 0 && this.subscribed) {
      // Redis lost our subscription although the connection looks fine: reconnect it.
      this.subscribed = false;
      this.ctx.refreshStatus();
      this.ctx.redis.subscriber.disconnect(true);
    }
  }

  private receive(channel: string, message: string): void {
    let decoded: ReturnType<typeof decodeEnvelope>;
    try {
      decoded = decodeEnvelope(message);
    } catch (error) {
      this.ctx.log.warn({ node: this.ctx.nodeId, ...describeError(error) }, 'dropped a malformed envelope');
      return;
    }
    if (channel === this.ctx.keys.broadcast && decoded.fromNode === this.ctx.nodeId) return;
    this.deliver(decoded.envelope, decoded.fromNode);
  }
}
