import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisThrottleStore } from './redis-throttle-store.js';
import { connectAdmin, deleteKeys, TEST_REDIS_URL, uniquePrefix } from './test-support.js';

describe('login throttle counts in Redis', () => {
  const keyPrefix = uniquePrefix();
  let a: RedisThrottleStore;
  let b: RedisThrottleStore;
  beforeAll(async () => {
    a = new RedisThrottleStore({ url: TEST_REDIS_URL, keyPrefix });
    b = new RedisThrottleStore({ url: TEST_REDIS_URL, keyPrefix });
    await Promise.all([a.ready(), b.ready()]);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
    const admin = await connectAdmin();
    await deleteKeys(admin, keyPrefix);
    await admin.quit();
  });

  it('shares one count between nodes, with the latest time and an expiry', async () => {
    const now = Date.now();
    expect(await a.get('k1', now)).toBeUndefined();
    await a.add('k1', { ttlMs: 60_000, sliding: true }, now);
    const record = await b.add('k1', { ttlMs: 60_000, sliding: true }, now + 5);
    expect(record.count).toBe(2);
    const seen = await a.get('k1', now + 5);
    expect(seen).toMatchObject({ count: 2, lastAt: now + 5 });
    expect(seen!.expiresAt - (now + 5)).toBeGreaterThan(59_000);
    expect(seen!.expiresAt - (now + 5)).toBeLessThanOrEqual(60_000);
  });

  it('keeps a fixed window from the first event, and holds a key that reached its limit', async () => {
    const now = Date.now();
    const rule = { ttlMs: 2_000, sliding: false, limit: 3, holdMs: 30_000 };
    await a.add('k2', rule, now);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await b.add('k2', rule, now + 50);
    // Not extended by the second event.
    expect(second.expiresAt - (now + 50)).toBeLessThan(2_000);
    const third = await a.add('k2', rule, now + 60);
    expect(third.count).toBe(3);
    expect(third.expiresAt - (now + 60)).toBeGreaterThan(29_000);
  });

  it('forgets a key when it expires or is deleted, and clears only its own prefix', async () => {
    const now = Date.now();
    await a.add('k3', { ttlMs: 50, sliding: true }, now);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(await b.get('k3', Date.now())).toBeUndefined();
    await a.add('k4', { ttlMs: 60_000, sliding: true }, now);
    await b.delete('k4');
    expect(await a.get('k4', now)).toBeUndefined();

    const other = new RedisThrottleStore({ url: TEST_REDIS_URL, keyPrefix: uniquePrefix() });
    await other.ready();
    await other.add('k5', { ttlMs: 60_000, sliding: true }, now);
    await a.add('k6', { ttlMs: 60_000, sliding: true }, now);
    await a.clear();
    expect(await b.get('k6', now)).toBeUndefined();
    expect((await other.get('k5', now))?.count).toBe(1);
    await other.clear();
    await other.close();
  });

  it('fails fast rather than waiting while Redis is unreachable', async () => {
    const down = new RedisThrottleStore({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 200 });
    const started = Date.now();
    await expect(down.get('k', started)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(1000);
    await down.close();
  });
});
