import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../packages/storage/src/testing.js';
import { loadConfig } from '../../server/src/config.js';
import { type Strom, startStrom, startTestServer, type TestServer } from '../../server/test/harness.js';
import { parseArgs } from '../src/args.js';
import { runBench } from '../src/bench.js';

/**
 * Every scenario at toy scale against a real Strom: the figures must be there and make sense, and
 * nothing may be lost. No timing thresholds: this machine's speed is not under test.
 */
// biome-ignore lint/suspicious/noExplicitAny: the figures are JSON, checked field by field below
type Figures = any;

let server: TestServer;
const adminSocket = () => path.join(server.dataDir, 'admin.sock');

beforeAll(async () => {
  server = await startTestServer({ env: { REGISTRATION: 'open' }, adminSocket: true });
});
afterAll(async () => {
  await server?.stop();
});

function bench(scenario: string, ...args: string[]) {
  const argv = [
    scenario,
    '--ws',
    server.wsUrl,
    '--server-pid',
    String(process.pid),
    '--key-cache',
    'none',
    '--quiet',
    ...args,
  ];
  return runBench(parseArgs(argv), argv);
}

const cli = () => ['--provision', 'cli', '--admin-socket', adminSocket()];

describe('bench against Strom', () => {
  it('connect: registers in-band, logs in, holds and pings', async () => {
    // Strom allows one in-band registration per network every few seconds.
    const result = await bench(
      'connect',
      '--users',
      '1',
      '--hold',
      '1',
      '--ping-sample',
      '1',
      '--ping-interval',
      '0.2',
      '--user-prefix',
      'reg',
    );
    const r = result.results as Figures;
    expect(r.provisioning).toMatchObject({ method: 'register', created: 1 });
    expect(r.sessions).toBe(1);
    expect(r.mechanism).toBe('SCRAM-SHA-256');
    expect(r.handshake.count).toBe(1);
    expect(r.handshake.p50Ms).toBeGreaterThan(0);
    expect(r.ping.count).toBeGreaterThan(0);
    expect(r.closedByServerWhileHolding).toBe(0);
    expect(r.server.cpuSecondsPer1000Logins).toBeGreaterThan(0);
    expect(r.server.rssBeforeBytes).toBeGreaterThan(0);
    expect(result.command).toContain('connect');
    expect(result.rows.find((row) => row.label === 'logins/s')).toBeDefined();
  });

  it('provisioning on its own: in-band registration first, then the admin socket once Strom throttles it', async () => {
    const result = await bench(
      'connect',
      '--users',
      '3',
      '--hold',
      '0',
      '--user-prefix',
      'auto',
      '--admin-socket',
      adminSocket(),
    );
    const r = result.results as Figures;
    expect(r.provisioning.created).toBe(3);
    expect(r.provisioning.method).toMatch(/cli$/);
    expect(r.handshake.count).toBe(3);
  });

  it('connect: ten sessions provisioned through the admin socket', async () => {
    const result = await bench(
      'connect',
      '--users',
      '10',
      '--hold',
      '0.5',
      '--user-prefix',
      'conn',
      ...cli(),
    );
    const r = result.results as Figures;
    expect(r.provisioning).toMatchObject({ method: 'cli', created: 10 });
    expect(r.loginsPerSecond).toBeGreaterThan(0);
    expect(r.handshake.count).toBe(10);
    // The keys derived while priming are reused by the measured logins.
    expect(r.primed).toBe(10);
  });

  it('messages: pairs deliver with nothing lost', async () => {
    const result = await bench(
      'messages',
      '--pairs',
      '5',
      '--window',
      '4',
      '--duration',
      '1.5',
      '--warmup',
      '0.5',
      '--user-prefix',
      'msg',
      ...cli(),
    );
    const r = result.results as Figures;
    expect(r.delivered).toBeGreaterThan(0);
    expect(r.deliveredPerSecond).toBeGreaterThan(0);
    expect(r.latency.count).toBe(r.delivered);
    expect(r.latency.p99Ms).toBeGreaterThan(0);
    expect(r.errors).toBe(0);
    expect(r.lost).toBe(0);
    expect(r.sent).toBe(r.received);
    expect(r.server.deliveredPerCpuSecond).toBeGreaterThan(0);
    expect(r.tool.cpuSeconds).toBeGreaterThan(0);
  });

  it('messages: paced to a rate, and compared with the echo ceiling', async () => {
    const result = await bench(
      'messages',
      '--pairs',
      '3',
      '--rate',
      '100',
      '--duration',
      '1',
      '--warmup',
      '0.2',
      '--user-prefix',
      'msg',
      '--compare-echo',
      ...cli(),
    );
    const r = result.results as Figures;
    expect(r.rateTarget).toBe(100);
    expect(r.deliveredPerSecond).toBeGreaterThan(0);
    expect(r.deliveredPerSecond).toBeLessThan(200);
    expect(r.lost).toBe(0);
    expect(r.echo.traffic.delivered).toBeGreaterThan(0);
    expect(r.fractionOfEchoPerCore).toBeGreaterThan(0);
  });

  it('presence: subscribes the contacts over XMPP, then times every broadcast to all of them', async () => {
    const result = await bench(
      'presence',
      '--contacts',
      '6',
      '--rounds',
      '3',
      '--user-prefix',
      'pres',
      ...cli(),
    );
    const r = result.results as Figures;
    expect(r.subscriptionsMade).toBe(6);
    expect(r.deliveries).toBe(18);
    expect(r.missedDeliveries).toBe(0);
    expect(r.allReached.count).toBe(3);
    expect(r.allReached.p50Ms).toBeGreaterThan(0);
    expect(r.server.cpuSecondsPer10000Deliveries).toBeGreaterThan(0);
    // A second run finds the subscriptions in the roster and makes none.
    const again = await bench(
      'presence',
      '--contacts',
      '6',
      '--rounds',
      '2',
      '--user-prefix',
      'pres',
      '--provision',
      'none',
    );
    expect((again.results as Figures).subscriptionsMade).toBe(0);
    expect((again.results as Figures).missedDeliveries).toBe(0);
  });

  it('echo: drives a plain ws echo server in a child process', async () => {
    const result = await bench('echo', '--pairs', '3', '--window', '5', '--duration', '1', '--warmup', '0.2');
    const r = result.results as Figures;
    expect(r.serverPid).not.toBe(process.pid);
    expect(r.traffic.delivered).toBeGreaterThan(0);
    expect(r.traffic.lost).toBe(0);
    expect(r.traffic.server.deliveredPerCpuSecond).toBeGreaterThan(0);
  });
});

describe('bench against a two-node Strom cluster', () => {
  let database: TestDatabase;
  let dataDir: string;
  const nodes: Strom[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'strom-bench-cluster-'));
    const prefix = `bench-${randomBytes(4).toString('hex')}:`;
    for (const nodeId of ['a', 'b']) {
      const config = loadConfig({
        XMPP_DOMAIN: 'localhost',
        HOST: '127.0.0.1',
        PORT: '0',
        DATA_DIR: dataDir,
        ADMIN_SOCKET: path.join(dataDir, `admin-${nodeId}.sock`),
        DATABASE_URL: database.url,
        REDIS_URL: process.env.STROM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
        REDIS_KEY_PREFIX: prefix,
        NODE_ID: nodeId,
        LOG_LEVEL: 'silent',
      });
      nodes.push(await startStrom(config, { adminSocket: nodeId === 'a' }));
    }
  });
  afterAll(async () => {
    for (const node of nodes) await node.stop();
    await database?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('cluster: same-node and cross-node runs both deliver everything', async () => {
    const url = (node: Strom) => `ws://127.0.0.1:${node.port()}/xmpp-websocket`;
    const argv = [
      'cluster',
      '--ws',
      url(nodes[0]!),
      '--ws2',
      url(nodes[1]!),
      '--pairs',
      '4',
      '--duration',
      '1',
      '--warmup',
      '0.3',
      '--server-pid',
      String(process.pid),
      '--provision',
      'cli',
      '--admin-socket',
      path.join(dataDir, 'admin-a.sock'),
      '--key-cache',
      'none',
      '--quiet',
    ];
    const result = await runBench(parseArgs(argv), argv);
    const r = result.results as Figures;
    for (const run of [r.sameNode, r.crossNode]) {
      expect(run.delivered).toBeGreaterThan(0);
      expect(run.lost).toBe(0);
      expect(run.errors).toBe(0);
    }
    expect(r.ratioPerCore).toBeGreaterThan(0);
    expect(r.ratioThroughput).toBeGreaterThan(0);
  });
});
