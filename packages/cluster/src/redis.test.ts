import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCluster, createRedisCluster, RedisCluster } from './index.js';
import { describeClusterContract } from './test-contract.js';
import {
  connectAdmin,
  deleteKeys,
  FAST_TIMINGS,
  recordingLog,
  TEST_REDIS_URL,
  uniquePrefix,
} from './test-support.js';
import type { SessionEntry } from './types.js';

const prefix = uniquePrefix();
let admin: Redis;
let environments = 0;

beforeAll(async () => {
  admin = await connectAdmin();
});

afterAll(async () => {
  await deleteKeys(admin, prefix);
  await admin.quit();
});

describeClusterContract('Redis', () => {
  // A key space per test, so no test sees another's nodes or sessions.
  const keyPrefix = `${prefix}${environments++}:`;
  return {
    async node() {
      const node = createRedisCluster({
        url: TEST_REDIS_URL,
        keyPrefix,
        log: recordingLog(),
        ...FAST_TIMINGS,
      });
      await node.start();
      return node;
    },
    async dispose() {},
  };
});

const session = (jid: string, node: string, overrides: Partial<SessionEntry> = {}): SessionEntry => ({
  jid,
  node,
  priority: 0,
  available: false,
  interested: false,
  ...overrides,
});

describe('Redis cluster', () => {
  it('is what createCluster builds with a Redis URL', async () => {
    const node = createCluster({
      redisUrl: TEST_REDIS_URL,
      keyPrefix: `${prefix}factory:`,
      nodeId: 'factory',
    });
    expect(node).toBeInstanceOf(RedisCluster);
    expect(node.nodeId).toBe('factory');
    await node.start();
    expect(node.status()).toBe('ok');
    await node.close();
  });

  it('stores compact entries per bare JID and leaves no keys behind after close', async () => {
    const keyPrefix = `${prefix}layout:`;
    const node = createRedisCluster({ url: TEST_REDIS_URL, keyPrefix, nodeId: 'n1', ...FAST_TIMINGS });
    await node.start();
    await node.register(session('alice@wonderland.lit/rabbit/hole', 'n1', { priority: 7, available: true }));
    expect(await admin.hgetall(`${keyPrefix}sess:alice@wonderland.lit`)).toEqual({
      'rabbit/hole': '{"n":"n1","p":7,"a":1,"i":0}',
    });
    expect(await admin.smembers(`${keyPrefix}node-sessions:n1`)).toEqual([
      'alice@wonderland.lit/rabbit/hole',
    ]);
    expect(await admin.smembers(`${keyPrefix}nodes`)).toEqual(['n1']);
    const ttl = await admin.pttl(`${keyPrefix}alive:n1`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(FAST_TIMINGS.nodeTtlMs);

    await node.close();
    await node.close();
    expect(await admin.keys(`${keyPrefix}*`)).toEqual([]);
  });

  it('clears and reports what a previous run with the same node id left behind', async () => {
    const keyPrefix = `${prefix}restart:`;
    const first = createRedisCluster({ url: TEST_REDIS_URL, keyPrefix, nodeId: 'fixed', ...FAST_TIMINGS });
    await first.start();
    await first.register(session('bob@builder.lit/1', 'fixed'));
    await first.register(session('bob@builder.lit/2', 'fixed', { available: true }));
    first.simulateCrash();

    const second = createRedisCluster({ url: TEST_REDIS_URL, keyPrefix, nodeId: 'fixed', ...FAST_TIMINGS });
    const reports: Array<[string, SessionEntry[]]> = [];
    second.onNodeDown((node, sessions) => reports.push([node, sessions]));
    await second.start();
    expect(reports).toHaveLength(1);
    expect(reports[0]?.[0]).toBe('fixed');
    expect(reports[0]?.[1].map((e) => e.jid).sort()).toEqual(['bob@builder.lit/1', 'bob@builder.lit/2']);
    expect(await second.resources('bob@builder.lit')).toEqual([]);
    await second.close();
  });

  it('fails start when Redis cannot be reached', async () => {
    const node = createRedisCluster({
      url: 'redis://127.0.0.1:1',
      keyPrefix: `${prefix}down:`,
      log: recordingLog(),
    });
    await expect(node.start()).rejects.toThrow(/Could not join the cluster/);
    expect(node.status()).toBe('degraded');
    await node.close();
  });

  it('broadcasts with one PUBLISH on a shared channel and skips its own by sender id', async () => {
    const keyPrefix = `${prefix}broadcast:`;
    const nodes = ['p', 'q', 'r'].map((nodeId) =>
      createRedisCluster({ url: TEST_REDIS_URL, keyPrefix, nodeId, log: recordingLog(), ...FAST_TIMINGS }),
    );
    const received = new Map<string, Array<[string, string]>>();
    for (const node of nodes) {
      const log: Array<[string, string]> = [];
      received.set(node.nodeId, log);
      node.onEnvelope((envelope, from) => {
        if (envelope.type === 'custom') log.push([envelope.name, from]);
      });
    }
    await Promise.all(nodes.map((node) => node.start()));
    const [p, q, r] = nodes as [RedisCluster, RedisCluster, RedisCluster];
    expect(await admin.pubsub('NUMSUB', `${keyPrefix}broadcast`)).toEqual([`${keyPrefix}broadcast`, 3]);

    const watcher = admin.duplicate();
    const published: string[] = [];
    watcher.on('pmessage', (_pattern: string, channel: string) => published.push(channel));
    await watcher.psubscribe(`${keyPrefix}*`);
    await p.broadcast({ type: 'custom', name: 'all', data: null });
    await expect.poll(() => received.get('q')!.length + received.get('r')!.length).toBe(2);
    // The watcher gets messages in publish order: once this marker is in, every publish of the broadcast is too.
    await admin.publish(`${keyPrefix}marker`, '');
    await expect.poll(() => published.length).toBeGreaterThanOrEqual(2);
    expect(published).toEqual([`${keyPrefix}broadcast`, `${keyPrefix}marker`]);

    // Anything on the channel reaches every node, except what names the node itself as sender.
    await admin.publish(
      `${keyPrefix}broadcast`,
      JSON.stringify({ from: 'q', type: 'custom', name: 'as-q', data: 1 }),
    );
    await expect.poll(() => received.get('r')!.length).toBe(2);
    await expect.poll(() => received.get('p')!.length).toBe(1);
    expect(received.get('p')).toEqual([['as-q', 'q']]);
    expect(received.get('q')).toEqual([['all', 'p']]);
    expect(received.get('r')).toEqual([
      ['all', 'p'],
      ['as-q', 'q'],
    ]);
    await watcher.quit();
    await Promise.all([p.close(), q.close(), r.close()]);
    expect(await p.liveNodes()).toEqual([]);
  });

  it('drops malformed bus messages without logging their content', async () => {
    const log = recordingLog();
    const keyPrefix = `${prefix}malformed:`;
    const node = createRedisCluster({ url: TEST_REDIS_URL, keyPrefix, nodeId: 'm', log, ...FAST_TIMINGS });
    const received: unknown[] = [];
    node.onEnvelope((envelope) => received.push(envelope));
    await node.start();
    await admin.publish(`${keyPrefix}node:m`, 'not json secret-body');
    await admin.publish(
      `${keyPrefix}node:m`,
      JSON.stringify({
        from: 'x',
        type: 'deliver',
        items: [{ stanza: '<message><body>secret-body', to: [] }],
      }),
    );
    await admin.publish(
      `${keyPrefix}node:m`,
      JSON.stringify({ from: 'x', type: 'custom', name: 'ok', data: 1 }),
    );
    await expect.poll(() => received.length).toBe(1);
    expect(received).toEqual([{ type: 'custom', name: 'ok', data: 1 }]);
    const warnings = log.lines.filter((line) => line.msg === 'dropped a malformed envelope');
    expect(warnings).toHaveLength(2);
    expect(JSON.stringify(log.lines)).not.toContain('secret-body');
    await node.close();
  });
});
