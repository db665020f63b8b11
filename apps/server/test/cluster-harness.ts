import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SessionEntry } from '@strom/cluster';
import { createAccount } from '@strom/core';
import { migrate, openStorage, type Storage } from '@strom/storage';
import type { Element } from '@strom/xml';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { type Strom, startStrom } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { connectClient, type TestClient, WAIT_MS } from './harness.js';

/**
 * Several Strom nodes forming one service: one shared PostgreSQL database, one Redis key prefix.
 * Nodes run in this process (routing tests) or as `strom serve` child processes (fault tests,
 * where a node must be killed like a real process).
 */

export const TEST_REDIS_URL = process.env.STROM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TEST_DATABASE_SERVER = process.env.STROM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
export const DOMAIN = 'localhost';

/** Timings short enough for a test: a dead node is noticed within about a second. */
export const FAST_CLUSTER_ENV = { CLUSTER_HEARTBEAT_MS: '150', CLUSTER_NODE_TTL_MS: '800' } as const;

export interface NodeHandle {
  readonly id: string;
  readonly wsUrl: string;
  readonly httpUrl: string;
  readonly domain: string;
  readonly port: number;
}

export interface InProcessNode extends NodeHandle {
  readonly strom: Strom;
  stop(): Promise<void>;
}

export interface ProcessNode extends NodeHandle {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Everything the process printed, for failure messages. */
  output(): string;
  kill(signal: NodeJS.Signals): void;
}

export interface ClusterOptions {
  /** Defaults to the test Redis; a test may put a proxy in between. */
  redisUrl?: string;
}

/** One test file's cluster: a fresh database, a unique key prefix, and the nodes started on them. */
export class TestCluster {
  private readonly inProcess: InProcessNode[] = [];
  private readonly processes: ProcessNode[] = [];
  private readonly tempDirs: string[] = [];
  private adminRedis: Redis | undefined;

  private constructor(
    readonly databaseUrl: string,
    readonly keyPrefix: string,
    readonly redisUrl: string,
    private readonly dropDatabase: () => Promise<void>,
    /** Direct access to the shared database, for accounts and for checking what was stored. */
    readonly storage: Storage,
  ) {}

  static async create(name: string, opts: ClusterOptions = {}): Promise<TestCluster> {
    const database = await createDatabase(name);
    try {
      // Migrated once here so nodes starting together find the schema ready.
      await migrate({ databaseUrl: database.url });
      const storage = await openStorage({ databaseUrl: database.url, poolSize: 2 });
      const prefix = `strom-test:${name}:${randomBytes(6).toString('hex')}:`;
      return new TestCluster(database.url, prefix, opts.redisUrl ?? TEST_REDIS_URL, database.drop, storage);
    } catch (error) {
      await database.drop();
      throw error;
    }
  }

  async addUser(username: string, password = 'secret'): Promise<void> {
    await createAccount(this.storage, DOMAIN, username, password);
  }

  /** Environment every node of this cluster shares. */
  nodeEnv(nodeId: string, dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      XMPP_DOMAIN: DOMAIN,
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDir,
      ADMIN_SOCKET: path.join(dataDir, 'admin.sock'),
      DATABASE_URL: this.databaseUrl,
      DATABASE_POOL_SIZE: '4',
      REDIS_URL: this.redisUrl,
      REDIS_KEY_PREFIX: this.keyPrefix,
      NODE_ID: nodeId,
      REGISTRATION: 'closed',
      WEB_CLIENT: 'false',
      ...extra,
    };
  }

  /** A node in this process, with its own storage pool on the shared database. */
  async startNode(nodeId: string, env: Record<string, string> = {}): Promise<InProcessNode> {
    const dataDir = await this.tempDir();
    const config = loadConfig({
      LOG_LEVEL: process.env.STROM_TEST_LOG_LEVEL ?? 'silent',
      ...this.nodeEnv(nodeId, dataDir, env),
    });
    const storage = await openStorage({ databaseUrl: this.databaseUrl, poolSize: 4 });
    const strom = await startStrom(config, {
      storage,
      adminSocket: false,
      logger: createLogger(config.logLevel),
    });
    const port = strom.port();
    let stopped: Promise<void> | undefined;
    const node: InProcessNode = {
      id: nodeId,
      strom,
      port,
      domain: DOMAIN,
      wsUrl: `ws://127.0.0.1:${port}${config.websocketPath}`,
      httpUrl: `http://127.0.0.1:${port}`,
      stop: () => {
        stopped ??= strom.stop();
        return stopped;
      },
    };
    this.inProcess.push(node);
    return node;
  }

  /** `strom serve` from the build output in a child process; resolves once it reports ready. */
  async spawnNode(nodeId: string, env: Record<string, string> = {}): Promise<ProcessNode> {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
    const dataDir = await this.tempDir();
    const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, LOG_LEVEL: 'info' };
    Object.assign(childEnv, this.nodeEnv(nodeId, dataDir, env));
    const child = spawn(process.execPath, [CLI, 'serve'], {
      env: childEnv,
      cwd: dataDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const port = await new Promise<number>((resolve, reject) => {
      let lineBuffer = '';
      const timer = setTimeout(() => reject(new Error(`node ${nodeId} did not start:\n${output}`)), 30_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        lineBuffer += chunk.toString();
        const lines = lineBuffer.split('\n');
        lineBuffer = lines.pop()!;
        for (const line of lines) {
          const port = startupPort(line);
          if (port !== undefined) {
            clearTimeout(timer);
            resolve(port);
          }
        }
      });
      child.stderr!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`node ${nodeId} exited with ${code} before it was up:\n${output}`));
      });
    });
    const node: ProcessNode = {
      id: nodeId,
      child,
      pid: child.pid!,
      port,
      domain: DOMAIN,
      wsUrl: `ws://127.0.0.1:${port}/xmpp-websocket`,
      httpUrl: `http://127.0.0.1:${port}`,
      exited,
      output: () => output,
      kill: (signal) => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
    };
    this.processes.push(node);
    await waitUntil(async () => (await readiness(node)).status === 200, 30_000, `node ${nodeId} ready`);
    return node;
  }

  /** A plain Redis client for looking at the directory. */
  async redis(): Promise<Redis> {
    if (!this.adminRedis) {
      this.adminRedis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await this.adminRedis.connect();
    }
    return this.adminRedis;
  }

  /** The directory's entries for an account, read straight from Redis. */
  async directory(bare: string): Promise<Array<Pick<SessionEntry, 'jid' | 'node'>>> {
    const hash = await (await this.redis()).hgetall(`${this.keyPrefix}sess:${bare}`);
    return Object.entries(hash).map(([resource, value]) => ({
      jid: `${bare}/${resource}`,
      node: (JSON.parse(value) as { n: string }).n,
    }));
  }

  /** Removes every key of this cluster, as a Redis restart without persistence would. */
  async flushKeys(): Promise<void> {
    const redis = await this.redis();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${this.keyPrefix}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  }

  async close(): Promise<void> {
    for (const node of this.processes) node.kill('SIGKILL');
    await Promise.all(this.processes.map((node) => node.exited));
    await Promise.allSettled(this.inProcess.map((node) => node.stop()));
    await this.flushKeys().catch(() => {});
    this.adminRedis?.disconnect();
    await this.storage.close();
    await this.dropDatabase();
    await Promise.all(this.tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  }

  private async tempDir(): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'strom-cluster-'));
    this.tempDirs.push(dir);
    return dir;
  }
}

/** The port from Strom's "Strom is up" log line. */
function startupPort(line: string): number | undefined {
  if (!line.includes('Strom is up')) return undefined;
  try {
    const record = JSON.parse(line) as { port?: unknown };
    return typeof record.port === 'number' ? record.port : undefined;
  } catch {
    return undefined;
  }
}

export async function readiness(
  node: Pick<NodeHandle, 'httpUrl'>,
): Promise<{ status: number; body: unknown }> {
  try {
    const response = await fetch(`${node.httpUrl}/health/ready`);
    return { status: response.status, body: await response.json() };
  } catch (error) {
    return { status: 0, body: String(error) };
  }
}

export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A uniquely named empty database on the test server; fails (never skips) when it is unreachable. */
async function createDatabase(name: string): Promise<{ url: string; drop(): Promise<void> }> {
  const database = `strom_${name.replace(/\W/g, '_')}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await onServer(`create database "${database}"`);
  const url = new URL(TEST_DATABASE_SERVER);
  url.pathname = `/${database}`;
  return {
    url: url.toString(),
    drop: () => onServer(`drop database if exists "${database}" with (force)`),
  };
}

async function onServer(statement: string): Promise<void> {
  const admin = postgres(TEST_DATABASE_SERVER, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    await admin.unsafe(statement);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

// ---------------------------------------------------------------------------------------------
// Clients

export function bareOf(jid: string | undefined): string {
  return (jid ?? '').split('/')[0]!;
}

/** Logs in, fetches the roster (so it gets roster pushes and subscription requests), then goes available. */
export async function online(
  node: Pick<NodeHandle, 'wsUrl' | 'domain'>,
  username: string,
  resource: string,
  opts: { priority?: number } = {},
): Promise<TestClient> {
  const client = await connectClient(node, { username, resource });
  await client.iq('<iq type="get"><query xmlns="jabber:iq:roster"/></iq>');
  await client.send(
    opts.priority === undefined
      ? '<presence/>'
      : `<presence><priority>${opts.priority}</priority></presence>`,
  );
  await settled(client);
  return client;
}

/** `online` for a suite that stops its clients at the end: every client it logs in joins `clients`. */
export function trackedOnline(clients: TestClient[]): typeof online {
  return async (...args) => {
    const client = await online(...args);
    clients.push(client);
    return client;
  };
}

/**
 * Waits until the server has processed everything the client sent so far: a session handles its
 * stanzas strictly in order, so the answer to a ping comes after all of them.
 */
export async function settled(client: TestClient): Promise<void> {
  const response = await client.iq(`<iq type="get" to="${DOMAIN}"><ping xmlns="urn:xmpp:ping"/></iq>`);
  if (response.attrs.type !== 'result') throw new Error(`ping failed: ${response.toString()}`);
}

export const isMessageWith =
  (body: string) =>
  (el: Element): boolean =>
    el.name === 'message' && el.getChildText('body') === body;

export const isAvailableFrom =
  (jid: string) =>
  (el: Element): boolean =>
    el.name === 'presence' &&
    el.attrs.type === undefined &&
    (el.attrs.from === jid || bareOf(el.attrs.from) === jid);

export const isUnavailableFrom =
  (jid: string) =>
  (el: Element): boolean =>
    el.name === 'presence' &&
    el.attrs.type === 'unavailable' &&
    (el.attrs.from === jid || bareOf(el.attrs.from) === jid);

/** Mutual presence subscription between two online clients, each seeing the other's presence at the end. */
export async function befriend(a: TestClient, b: TestClient): Promise<void> {
  const aBare = bareOf(a.jid);
  const bBare = bareOf(b.jid);
  const subscribeFrom = (bare: string) => (el: Element) =>
    el.name === 'presence' && el.attrs.type === 'subscribe' && bareOf(el.attrs.from) === bare;
  await a.send(`<presence to="${bBare}" type="subscribe"/>`);
  await b.inbox.waitFor(subscribeFrom(aBare), WAIT_MS, `subscribe from ${aBare}`);
  await b.send(`<presence to="${aBare}" type="subscribed"/>`);
  await a.inbox.waitFor(isAvailableFrom(b.jid), WAIT_MS, `presence of ${b.jid}`);
  await b.send(`<presence to="${aBare}" type="subscribe"/>`);
  await a.inbox.waitFor(subscribeFrom(bBare), WAIT_MS, `subscribe from ${bBare}`);
  await a.send(`<presence to="${bBare}" type="subscribed"/>`);
  await b.inbox.waitFor(isAvailableFrom(a.jid), WAIT_MS, `presence of ${a.jid}`);
}

/**
 * Resolves with the stream error condition the server ends the client's stream with. Other errors
 * the client reports are not the server's word: @xmpp/client's stream management, for one, throws
 * on an ack covering stanzas the harness wrote past it (`TestClient.send` writes raw frames).
 */
export function streamErrorOf(client: TestClient): Promise<string> {
  return new Promise((resolve) =>
    client.xmpp.on('error', (err: { condition?: string }) => {
      if (err.condition !== undefined) resolve(err.condition);
    }),
  );
}
