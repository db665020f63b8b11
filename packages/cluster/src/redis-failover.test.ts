import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisCluster, type RedisCluster, type RedisClusterOptions } from './index.js';
import { redisTarget, TcpProxy } from './test-proxy.js';
import {
  connectAdmin,
  deleteKeys,
  FAST_TIMINGS,
  recordingLog,
  sleep,
  TEST_REDIS_URL,
  uniquePrefix,
  waitFor,
} from './test-support.js';
import type { Envelope, NodeStatus, SessionEntry } from './types.js';

const prefix = uniquePrefix();
let admin: Redis;
let scope = 0;
const nodes: RedisCluster[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  admin = await connectAdmin();
});

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((node) => node.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.stop()));
});

afterAll(async () => {
  await deleteKeys(admin, prefix);
  await admin.quit();
});

function keySpace(): string {
  return `${prefix}${scope++}:`;
}

async function startNode(keyPrefix: string, nodeId: string, extra: Partial<RedisClusterOptions> = {}) {
  const log = recordingLog();
  const node = createRedisCluster({ url: TEST_REDIS_URL, keyPrefix, nodeId, log, ...FAST_TIMINGS, ...extra });
  nodes.push(node);
  await node.start();
  return Object.assign(node, { logLines: log.lines });
}

const session = (jid: string, node: string, overrides: Partial<SessionEntry> = {}): SessionEntry => ({
  jid,
  node,
  priority: 0,
  available: true,
  interested: true,
  ...overrides,
});

const jids = (entries: SessionEntry[]) => entries.map((entry) => entry.jid).sort();

describe('Redis cluster failure handling', () => {
  it('reports a dead node once, on one survivor, within TTL plus a sweep', async () => {
    const keyPrefix = keySpace();
    const a = await startNode(keyPrefix, 'a');
    const b = await startNode(keyPrefix, 'b');
    const c = await startNode(keyPrefix, 'c');
    const reports: Array<{ by: string; node: string; sessions: SessionEntry[]; at: number }> = [];
    for (const survivor of [b, c]) {
      survivor.onNodeDown((node, sessions) =>
        reports.push({ by: survivor.nodeId, node, sessions, at: Date.now() }),
      );
    }
    await a.register(session('kate@shrew.lit/one', 'a'));
    await a.register(session('kate@shrew.lit/two', 'a', { priority: 4 }));
    await a.register(session('petruchio@shrew.lit/horse', 'a', { available: false }));
    // Taken over by b before a dies: it must survive the cleanup and not be reported.
    await b.register(session('kate@shrew.lit/two', 'b'));

    const crashedAt = Date.now();
    a.simulateCrash();
    await waitFor(() => reports.length > 0, 3000);
    const { nodeTtlMs, sweepMs } = FAST_TIMINGS;
    // Generous slack for a loaded test machine; the bound that matters is "not waiting for much more than the TTL".
    expect(reports[0]!.at - crashedAt).toBeLessThan(nodeTtlMs + sweepMs + 600);
    expect(reports[0]!.node).toBe('a');
    expect(jids(reports[0]!.sessions)).toEqual(['kate@shrew.lit/one', 'petruchio@shrew.lit/horse']);
    expect(reports[0]!.sessions.find((entry) => entry.jid === 'petruchio@shrew.lit/horse')).toEqual(
      session('petruchio@shrew.lit/horse', 'a', { available: false }),
    );

    expect(await c.resources('kate@shrew.lit')).toEqual([session('kate@shrew.lit/two', 'b')]);
    expect(await b.resources('petruchio@shrew.lit')).toEqual([]);
    expect(await b.send('a', { type: 'custom', name: 'x', data: null })).toBe(false);

    // Several more sweeps on both survivors: still exactly one report.
    await sleep(nodeTtlMs * 2 + sweepMs * 3);
    expect(reports).toHaveLength(1);
    expect(await admin.sismember(`${keyPrefix}nodes`, 'a')).toBe(0);
    expect(await admin.exists(`${keyPrefix}node-sessions:a`)).toBe(0);
  });

  it('puts back the sessions of a node that stalled past its TTL and was cleaned up', async () => {
    const keyPrefix = keySpace();
    const a = await startNode(keyPrefix, 'a', { heartbeatMs: 60_000 });
    const b = await startNode(keyPrefix, 'b');
    const reports: string[] = [];
    b.onNodeDown((node) => reports.push(node));
    await a.register(session('viola@illyria.lit/ship', 'a'));
    // With its heartbeat far away, a looks dead once the key runs out; b cleans up.
    await admin.pexpire(`${keyPrefix}alive:a`, 1);
    await waitFor(() => reports.length === 1, 3000);
    expect(await b.resources('viola@illyria.lit')).toEqual([]);

    // The next heartbeat notices the expired key and writes the sessions back.
    await (a as unknown as { beat(): Promise<void> }).beat();
    expect(await b.resources('viola@illyria.lit')).toEqual([session('viola@illyria.lit/ship', 'a')]);
    expect(a.status()).toBe('ok');
    expect(a.logLines.some((line) => line.msg?.includes('liveness had expired'))).toBe(true);
  });

  it('degrades while Redis is unreachable, falls back to local sessions and restores them after', async () => {
    const keyPrefix = keySpace();
    const proxy = new TcpProxy(redisTarget(TEST_REDIS_URL));
    proxies.push(proxy);
    await proxy.start();
    const a = await startNode(keyPrefix, 'a', { url: proxy.url });
    const b = await startNode(keyPrefix, 'b');
    const statuses: NodeStatus[] = [];
    a.onStatusChange((status) => statuses.push(status));
    const kicks: Envelope[] = [];
    a.onEnvelope((envelope) => kicks.push(envelope));
    const downReports: Array<[string, SessionEntry[]]> = [];
    b.onNodeDown((node, sessions) => downReports.push([node, sessions]));

    await a.register(session('olivia@illyria.lit/house', 'a'));
    await a.register(session('olivia@illyria.lit/garden', 'a'));
    await a.register(session('orsino@illyria.lit/court', 'a'));
    await b.register(session('olivia@illyria.lit/church', 'b'));

    await proxy.stop();
    await waitFor(() => a.status() === 'degraded', 3000);
    expect(statuses).toEqual(['degraded']);

    // Only this node's own sessions are visible now, and writes land in the local mirror.
    expect(jids(await a.resources('olivia@illyria.lit'))).toEqual([
      'olivia@illyria.lit/garden',
      'olivia@illyria.lit/house',
    ]);
    await a.register(session('orsino@illyria.lit/ship', 'a'));
    await a.update('olivia@illyria.lit/house', { priority: 2 });
    await a.unregister('olivia@illyria.lit/garden');
    const many = await a.resourcesMany(['olivia@illyria.lit', 'orsino@illyria.lit', 'sebastian@illyria.lit']);
    expect(jids(many.get('orsino@illyria.lit') ?? [])).toEqual([
      'orsino@illyria.lit/court',
      'orsino@illyria.lit/ship',
    ]);
    expect(many.get('sebastian@illyria.lit') ?? []).toEqual([]);
    const sendStarted = Date.now();
    expect(await a.send('b', { type: 'custom', name: 'x', data: 1 })).toBe(false);
    expect(Date.now() - sendStarted).toBeLessThan(200);

    // Meanwhile b sees a's liveness expire, cleans it up, and another client takes one of a's full JIDs.
    await waitFor(() => downReports.length === 1, 3000);
    expect(jids(downReports[0]![1])).toEqual([
      'olivia@illyria.lit/garden',
      'olivia@illyria.lit/house',
      'orsino@illyria.lit/court',
    ]);
    await b.register(session('orsino@illyria.lit/court', 'b'));

    await proxy.start();
    await waitFor(() => a.status() === 'ok', 5000);
    expect(statuses).toEqual(['degraded', 'ok']);

    expect(await b.resources('olivia@illyria.lit')).toEqual(
      expect.arrayContaining([
        session('olivia@illyria.lit/house', 'a', { priority: 2 }),
        session('olivia@illyria.lit/church', 'b'),
      ]),
    );
    expect(await b.resources('olivia@illyria.lit')).toHaveLength(2);
    // The full JID b took meanwhile stays b's; a's stale session is told to go.
    expect(byJid(await b.resources('orsino@illyria.lit'))).toEqual([
      session('orsino@illyria.lit/court', 'b'),
      session('orsino@illyria.lit/ship', 'a'),
    ]);
    expect(kicks).toEqual([{ type: 'kick', jid: 'orsino@illyria.lit/court', condition: 'conflict' }]);
    expect(jids(await a.resources('orsino@illyria.lit'))).toEqual([
      'orsino@illyria.lit/court',
      'orsino@illyria.lit/ship',
    ]);

    // The bus works again in both directions.
    const received: Envelope[] = [];
    a.onEnvelope((envelope) => received.push(envelope));
    expect(await b.send('a', { type: 'custom', name: 'back', data: 1 })).toBe(true);
    expect(await a.send('b', { type: 'custom', name: 'back', data: 2 })).toBe(true);
    await waitFor(() => received.length === 1);

    // Nothing logged names an address.
    expect(JSON.stringify(a.logLines)).not.toMatch(/127\.0\.0\.1|\d+\.\d+\.\d+\.\d+/);
  });

  it('leaves a crashed node out of liveNodes, and a degraded node lists only itself', async () => {
    const keyPrefix = keySpace();
    const proxy = new TcpProxy(redisTarget(TEST_REDIS_URL));
    proxies.push(proxy);
    await proxy.start();
    const a = await startNode(keyPrefix, 'a', { url: proxy.url });
    const b = await startNode(keyPrefix, 'b');
    const c = await startNode(keyPrefix, 'c');
    expect(await b.liveNodes()).toEqual(['a', 'b', 'c']);

    c.simulateCrash();
    // Gone once its liveness key runs out, whether or not a sweep has cleaned up after it yet.
    await waitFor(async () => (await b.liveNodes()).join() === 'a,b', 3000);

    await proxy.stop();
    await waitFor(() => a.status() === 'degraded', 3000);
    expect(await a.liveNodes()).toEqual(['a']);
    await proxy.start();
    await waitFor(() => a.status() === 'ok', 5000);
    expect(await a.liveNodes()).toEqual(['a', 'b']);
  });

  it('recovers when Redis drops its connections', async () => {
    const keyPrefix = keySpace();
    const a = await startNode(keyPrefix, 'a');
    const b = await startNode(keyPrefix, 'b');
    const statuses: NodeStatus[] = [];
    a.onStatusChange((status) => statuses.push(status));
    await a.register(session('feste@illyria.lit/song', 'a'));

    const clients = (await admin.client('LIST')) as string;
    const ids = clients
      .split('\n')
      .filter((line) => / name=strom-a-(commands|bus) /.test(line))
      .map((line) => /\bid=(\d+)/.exec(line)![1]!);
    expect(ids).toHaveLength(2);
    // Killing a's connections also takes the directory entry away, as a flushed or restarted Redis would.
    await admin.del(`${keyPrefix}sess:feste@illyria.lit`);
    for (const id of ids) await admin.client('KILL', 'ID', id);

    await waitFor(() => statuses.length >= 2 && a.status() === 'ok', 5000);
    expect(statuses).toEqual(['degraded', 'ok']);
    expect(await b.resources('feste@illyria.lit')).toEqual([session('feste@illyria.lit/song', 'a')]);
    const received: Envelope[] = [];
    a.onEnvelope((envelope) => received.push(envelope));
    expect(await b.send('a', { type: 'custom', name: 'again', data: null })).toBe(true);
    await waitFor(() => received.length === 1);
  });
});

function byJid(entries: SessionEntry[]): SessionEntry[] {
  return [...entries].sort((x, y) => x.jid.localeCompare(y.jid));
}
