import { Redis } from 'ioredis';

/*
 * Failure counts for login throttling, shared by every node through Redis. The shapes match
 * `ThrottleStore` in @strom/sasl, which this package does not depend on; the server hands one to
 * the other.
 */

export interface SharedCount {
  count: number;
  lastAt: number;
  expiresAt: number;
}

export interface SharedCountRule {
  ttlMs: number;
  sliding: boolean;
  limit?: number;
  holdMs?: number;
}

export interface RedisThrottleStoreOptions {
  url: string;
  /** Namespace of the deployment's keys (the cluster's `REDIS_KEY_PREFIX`); `throttle:` is added. */
  keyPrefix?: string;
  /** A command not answered within this time fails, and the throttle counts locally instead. */
  commandTimeoutMs?: number;
}

// One hash per key: c = count, l = latest event (the counting node's clock). Expiry is Redis's own
// (PEXPIRE, relative), so nodes' clocks never decide when a count is forgotten.
const ADD = `
local c = redis.call('HINCRBY', KEYS[1], 'c', 1)
redis.call('HSET', KEYS[1], 'l', ARGV[1])
if ARGV[3] == '1' or c == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
local limit = tonumber(ARGV[4])
if limit > 0 and c >= limit and redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return {c, redis.call('PTTL', KEYS[1])}
`;

const GET = `
local v = redis.call('HMGET', KEYS[1], 'c', 'l')
if not v[1] then return nil end
return {tonumber(v[1]), tonumber(v[2]), redis.call('PTTL', KEYS[1])}
`;

type ScriptedRedis = Redis & {
  throttleAdd(
    key: string,
    now: number,
    ttlMs: number,
    sliding: string,
    limit: number,
    holdMs: number,
  ): Promise<[number, number]>;
  throttleGet(key: string): Promise<[number, number, number] | null>;
};

/** Login failure counts in Redis, so a client cannot escape its throttle by reaching another node. */
export class RedisThrottleStore {
  private readonly redis: ScriptedRedis;
  private readonly prefix: string;

  constructor(options: RedisThrottleStoreOptions) {
    this.prefix = `${options.keyPrefix ?? 'strom:'}throttle:`;
    // Nothing waits for Redis: while it is away commands fail at once and the throttle counts locally.
    this.redis = new Redis(options.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: options.commandTimeoutMs ?? 1000,
      retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
      connectionName: 'strom-throttle',
    }) as ScriptedRedis;
    this.redis.defineCommand('throttleAdd', { numberOfKeys: 1, lua: ADD });
    this.redis.defineCommand('throttleGet', { numberOfKeys: 1, lua: GET });
    // Errors reach the caller through the failed command; the event itself needs no handling.
    this.redis.on('error', () => {});
  }

  /** Resolves once the connection is up (commands sent before fail, and the throttle counts locally). */
  ready(): Promise<void> {
    if (this.redis.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => this.redis.once('ready', () => resolve()));
  }

  async get(key: string, now: number): Promise<SharedCount | undefined> {
    const reply = await this.redis.throttleGet(this.prefix + key);
    if (!reply) return undefined;
    const [count, lastAt, ttl] = reply;
    return { count, lastAt, expiresAt: now + Math.max(0, ttl) };
  }

  async add(key: string, rule: SharedCountRule, now: number): Promise<SharedCount> {
    const [count, ttl] = await this.redis.throttleAdd(
      this.prefix + key,
      now,
      Math.max(1, Math.round(rule.ttlMs)),
      rule.sliding ? '1' : '0',
      rule.limit ?? 0,
      Math.max(1, Math.round(rule.holdMs ?? 0)),
    );
    return { count, lastAt: now, expiresAt: now + Math.max(0, ttl) };
  }

  async delete(key: string): Promise<void> {
    await this.redis.del(this.prefix + key);
  }

  async clear(): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await this.redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
