import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ScramClient } from '@strom/sasl';
import { createTestStorage, STORAGE_KINDS, type StorageKind } from '@strom/storage';
import { type Element, parseFrame } from '@strom/xml';
import { client as xmppClient, xml as xmppXml } from '@xmpp/client';
import WebSocket from 'ws';
import { type Strom, startStrom } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { makeTestCertificates, type TestCertificates, trustTestCa } from './tls-fixtures.js';

// @xmpp/client looks for a global WebSocket, which Node 20 does not have.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

export { STORAGE_KINDS, type StorageKind };

/**
 * The transport test clients log in over: WebSocket by default; `STROM_TEST_TRANSPORT=tcp` runs
 * the same suites with @xmpp/client over TCP with STARTTLS (`npm test` does both).
 */
export const TEST_TRANSPORT: 'websocket' | 'tcp' =
  process.env.STROM_TEST_TRANSPORT === 'tcp' ? 'tcp' : 'websocket';

let tcpCertificates: TestCertificates | undefined;
function certificatesForTcp(): TestCertificates {
  if (!tcpCertificates) {
    tcpCertificates = makeTestCertificates();
    trustTestCa(tcpCertificates.ca);
  }
  return tcpCertificates;
}
export const xmlOf = xmppXml;

export interface TestServer {
  strom: Strom;
  wsUrl: string;
  /** `xmpp://` URL of the STARTTLS port when the suite runs over TCP. */
  tcpUrl?: string;
  httpUrl: string;
  domain: string;
  dataDir: string;
  addUser(username: string, password?: string): Promise<void>;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  storage?: StorageKind;
  env?: Record<string, string>;
  adminSocket?: boolean;
}

/** A Strom on a random loopback port with a fresh database of the given kind. */
export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'strom-test-'));
  const tcp =
    TEST_TRANSPORT === 'tcp'
      ? (() => {
          const certs = certificatesForTcp();
          return {
            C2S: 'on',
            C2S_PORT: '0',
            C2S_DIRECT_TLS: 'false',
            XMPP_CERT_FILE: certs.certFile,
            XMPP_KEY_FILE: certs.keyFile,
          };
        })()
      : {};
  const config = loadConfig({
    XMPP_DOMAIN: 'localhost',
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env.STROM_TEST_LOG_LEVEL ?? 'silent',
    ...tcp,
    ...opts.env,
  });
  const storage = await createTestStorage(opts.storage ?? 'pglite');
  const strom = await startStrom(config, {
    storage,
    adminSocket: opts.adminSocket ?? false,
    logger: createLogger(config.logLevel),
  });
  const port = strom.port();
  const tcpPort = strom.tcpPorts().port;
  return {
    strom,
    wsUrl: `ws://127.0.0.1:${port}${config.websocketPath}`,
    ...(tcpPort !== undefined ? { tcpUrl: `xmpp://127.0.0.1:${tcpPort}` } : {}),
    httpUrl: `http://127.0.0.1:${port}`,
    domain: config.domain,
    dataDir,
    async addUser(username, password = 'secret') {
      await strom.xmpp.createAccount(username, password);
    },
    async stop() {
      await strom.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * How long a test waits for something it expects. A deadline, not a delay: a passing wait ends as
 * soon as the stanza arrives, so it can be generous for a loaded two-core machine.
 */
export const WAIT_MS = 10_000;

/** How long a "nothing arrived" check listens before it proves the connection alive. */
export const QUIET_MS = 300;

/** Stanzas a client received, with a way to wait for the next one that matches. */
export class Inbox {
  readonly all: Element[] = [];
  private waiters: Array<{ match: (el: Element) => boolean; resolve: (el: Element) => void }> = [];

  /**
   * @param alive a round trip through the same connection (a ping to the server) that rejects when
   *   no answer comes back: silence on a dead connection proves nothing.
   */
  constructor(private readonly alive: () => Promise<void>) {}

  push(el: Element): void {
    this.all.push(el);
    const waiter = this.waiters.find((w) => w.match(el));
    if (waiter) {
      this.waiters = this.waiters.filter((w) => w !== waiter);
      waiter.resolve(el);
    }
  }

  /** Resolves with the first stanza (already received or future) that matches. */
  waitFor(match: (el: Element) => boolean, timeoutMs = WAIT_MS, what = 'stanza'): Promise<Element> {
    const existing = this.all.find(match);
    if (existing) {
      this.all.splice(this.all.indexOf(existing), 1);
      return Promise.resolve(existing);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`Timed out waiting for ${what}`));
      }, timeoutMs);
      const done = (el: Element) => {
        clearTimeout(timer);
        const index = this.all.indexOf(el);
        if (index !== -1) this.all.splice(index, 1);
        resolve(el);
      };
      this.waiters.push({ match, resolve: done });
    });
  }

  /**
   * For "must not receive" checks: resolves true if nothing matching arrived within `withinMs` and
   * then before the answer to a ping sent through the same connection. Rejects when that answer
   * does not come back, since a dead connection receives nothing either.
   */
  async nothing(match: (el: Element) => boolean, withinMs = QUIET_MS): Promise<boolean> {
    try {
      await this.waitFor(match, withinMs);
      return false;
    } catch {
      // Quiet so far; now show that the connection could have carried it.
    }
    await this.alive();
    return !this.takeExisting(match);
  }

  /** Lets `ms` pass, then proves the connection alive (for checks over everything received). */
  async quiet(ms = QUIET_MS): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    await this.alive();
  }

  private takeExisting(match: (el: Element) => boolean): boolean {
    const index = this.all.findIndex(match);
    if (index === -1) return false;
    this.all.splice(index, 1);
    return true;
  }
}

export type Mechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-1' | 'PLAIN';

export interface TestClient {
  /** The @xmpp/client instance. */
  xmpp: ReturnType<typeof xmppClient>;
  jid: string;
  inbox: Inbox;
  /** Sends a stanza given as XML text (parsed by our own parser into xmpp.js elements). */
  send(stanza: string): Promise<void>;
  /** Sends an IQ and resolves with the response element (result or error), never rejecting on error. */
  iq(stanza: string, timeoutMs?: number): Promise<Element>;
  stop(): Promise<void>;
}

let iqCounter = 0;

/** Logs in with @xmpp/client over a real WebSocket and collects what arrives. */
export async function connectClient(
  server: Pick<TestServer, 'wsUrl' | 'domain' | 'tcpUrl'>,
  opts: { username: string; password?: string; resource?: string; mechanism?: Mechanism; presence?: boolean },
): Promise<TestClient> {
  const password = opts.password ?? 'secret';
  const xmpp = xmppClient({
    service: TEST_TRANSPORT === 'tcp' && server.tcpUrl !== undefined ? server.tcpUrl : server.wsUrl,
    domain: server.domain,
    resource: opts.resource,
    credentials: async (
      authenticate: (creds: object, mechanism: string) => Promise<void>,
      mechanisms: string[],
    ) => {
      const mechanism = opts.mechanism ?? 'SCRAM-SHA-256';
      if (!mechanisms.includes(mechanism)) throw new Error(`Server did not offer ${mechanism}`);
      await authenticate({ username: opts.username, password }, mechanism);
    },
  });
  xmpp.saslFactory.use('SCRAM-SHA-256', ScramSha256Mechanism);
  // Keep the first-offered order so SCRAM-SHA-256 is usable; reconnection is not wanted in tests.
  xmpp.reconnect.stop();
  let client: TestClient | undefined;
  const inbox = new Inbox(async () => {
    const ping = `<iq type="get" to="${server.domain}"><ping xmlns="urn:xmpp:ping"/></iq>`;
    const answer = await client!.iq(ping).catch((error: unknown) => {
      throw new Error(`${client!.jid} did not answer a ping, so its silence proves nothing: ${error}`);
    });
    if (answer.attrs.type !== 'result')
      throw new Error(`ping from ${client!.jid} failed: ${answer.toString()}`);
  });
  xmpp.on('stanza', (stanza: { toString(): string }) => inbox.push(parseFrame(stanza.toString())));
  xmpp.on('error', () => {});
  const address = await xmpp.start();
  if (opts.presence) await xmpp.send(xmppXml('presence'));
  client = {
    xmpp,
    jid: address.toString(),
    inbox,
    async send(stanza) {
      await xmpp.write(withClientNamespace(stanza));
    },
    async iq(stanza, timeoutMs = WAIT_MS) {
      const el = parseFrame(withClientNamespace(stanza));
      const id = el.attrs.id ?? `test-${++iqCounter}`;
      el.attrs.id = id;
      const response = inbox.waitFor(
        (s) =>
          s.name === 'iq' && s.attrs.id === id && (s.attrs.type === 'result' || s.attrs.type === 'error'),
        timeoutMs,
        `IQ response ${id}`,
      );
      try {
        // A write on a closed connection may never settle; the response's deadline still ends the wait.
        await Promise.race([xmpp.write(el.toString()), response]);
      } catch (error) {
        response.catch(() => {});
        throw error;
      }
      return response;
    },
    async stop() {
      await xmpp.stop().catch(() => {});
    },
  };
  return client;
}

/** RFC 7395 wants every stanza to declare its namespace; tests may leave it out for brevity. */
function withClientNamespace(stanza: string): string {
  const el = parseFrame(stanza);
  el.attrs.xmlns ??= 'jabber:client';
  return el.toString();
}

/** SCRAM-SHA-256 for @xmpp/client's mechanism factory, on Strom's own SCRAM client. */
class ScramSha256Mechanism {
  readonly name = 'SCRAM-SHA-256';
  readonly clientFirst = true;
  private scram: ScramClient | undefined;
  private serverFirst: Buffer | undefined;
  private stage = 0;

  async response(creds: { username: string; password: string }): Promise<string> {
    if (this.stage === 0) {
      this.stage = 1;
      this.scram = new ScramClient('SHA-256', creds.username, creds.password);
      return this.scram.first().toString('utf8');
    }
    if (this.stage === 1) {
      this.stage = 2;
      return (await this.scram!.final(this.serverFirst!)).toString('utf8');
    }
    return '';
  }

  challenge(data: string): void {
    if (this.stage === 1) this.serverFirst = Buffer.from(data, 'utf8');
  }
}

/** A bare RFC 7395 client for framing, error and abuse tests. */
export class RawClient {
  readonly frames: string[] = [];
  closeCode: number | undefined;
  private waiters: Array<() => void> = [];
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(data.toString());
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        this.wake();
        resolve(code);
      }),
    );
    ws.on('error', () => {});
  }

  static async connect(
    url: string,
    protocols: string[] = ['xmpp'],
    options: WebSocket.ClientOptions = {},
  ): Promise<RawClient> {
    const ws = new WebSocket(url, protocols, options);
    const client = new RawClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) =>
        reject(Object.assign(new Error('upgrade refused'), { status: res.statusCode })),
      );
      ws.once('error', reject);
    });
    return client;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  send(frame: string): void {
    this.ws.send(frame);
  }

  /** Waits for the next frame that contains `needle` (or any frame when omitted). */
  async next(needle?: string | RegExp, timeoutMs = WAIT_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex((f) =>
        needle === undefined ? true : typeof needle === 'string' ? f.includes(needle) : needle.test(f),
      );
      if (index !== -1) return this.frames.splice(index, 1)[0]!;
      if (this.closeCode !== undefined)
        throw new Error(`Connection closed (${this.closeCode}) before ${String(needle)}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0)
        throw new Error(`Timed out waiting for ${String(needle)}; got ${this.frames.join(' | ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Opens the stream and reads the stream features. */
  async open(domain = 'localhost'): Promise<string> {
    this.send(`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="${domain}" version="1.0"/>`);
    await this.next('<open');
    return this.next('features');
  }

  /** Opens, authenticates with PLAIN and binds (loopback counts as secure). */
  async login(username: string, password = 'secret', resource = 'raw'): Promise<string> {
    await this.open();
    const payload = Buffer.from(`\0${username}\0${password}`).toString('base64');
    this.send(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${payload}</auth>`);
    await this.next('<success');
    await this.open();
    this.send(
      `<iq xmlns="jabber:client" type="set" id="bind"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>${resource}</resource></bind></iq>`,
    );
    const bound = await this.next('id="bind"');
    return /<jid>([^<]+)<\/jid>/.exec(bound)![1]!;
  }

  /** Sends an IQ in jabber:client and returns the response frame. */
  async iq(id: string, type: 'get' | 'set', payload: string): Promise<string> {
    this.send(`<iq xmlns="jabber:client" type="${type}" id="${id}">${payload}</iq>`);
    return this.next(`id="${id}"`);
  }

  close(): void {
    this.ws.close();
  }
}

export { type Strom, startStrom };
