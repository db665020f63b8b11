import { rm } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, startTestServer, type TestServer, WAIT_MS } from './harness.js';
import { makeTestCertificates, type TestCertificates } from './tls-fixtures.js';

const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const TCP_HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`;
/** Short enough for tests, long enough for a login on a loaded machine. */
const AUTH_TIMEOUT_S = 2;

/** A WebSocket client as seen through the trusted proxy (127.0.0.1) from `address`. */
function connectFrom(server: TestServer, address: string): Promise<RawClient> {
  return RawClient.connect(server.wsUrl, ['xmpp'], {
    headers: { 'x-forwarded-for': address, 'x-forwarded-proto': 'https' },
  });
}

/** Proves a logged-in client is served: a ping round trip. */
async function pingOk(client: RawClient, id: string): Promise<void> {
  const pong = await client.iq(id, 'get', '<ping xmlns="urn:xmpp:ping"/>');
  expect(pong).toContain('type="result"');
}

async function expectStreamError(raw: RawClient, condition: string): Promise<string> {
  const error = await raw.next('stream:error');
  expect(error).toContain(`<${condition} xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>`);
  expect(await raw.next('<close')).toBe(`<close xmlns="${FRAMING}"/>`);
  expect(await raw.closed).toBe(1000);
  return error;
}

/** A raw TCP connection collecting text until it closes. */
class RawSocket {
  text = '';
  readonly closed: Promise<void>;

  constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.text += chunk;
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async connect(port: number): Promise<RawSocket> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawSocket(socket);
  }

  /** Resolves once the server has closed the connection, failing after WAIT_MS. */
  async waitClosed(): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closed,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still open; got: ${this.text}`)), WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    return this.text;
  }
}

describe('connection limits', () => {
  let certs: TestCertificates;
  let server: TestServer;
  let tcpPort: number;
  let tlsPort: number;
  /** A logged-in user from an address of its own, whose pings must keep working. */
  let bystander: RawClient;
  let pings = 0;
  const bystanderServed = () => pingOk(bystander, `bystander-${++pings}`);

  beforeAll(async () => {
    certs = makeTestCertificates();
    server = await startTestServer({
      env: {
        TRUSTED_PROXIES: '127.0.0.1',
        AUTH_TIMEOUT: String(AUTH_TIMEOUT_S),
        MAX_CONNECTIONS_PER_ADDRESS: '3',
        CONNECTION_RATE_PER_ADDRESS: '5',
        MAX_SESSIONS_PER_ACCOUNT: '2',
        C2S: 'on',
        C2S_PORT: '0',
        C2S_DIRECT_TLS_PORT: '0',
        XMPP_CERT_FILE: certs.certFile,
        XMPP_KEY_FILE: certs.keyFile,
      },
    });
    ({ port: tcpPort, tlsPort } = server.strom.tcpPorts() as { port: number; tlsPort: number });
    for (const name of ['alice', 'bob', 'carol']) await server.addUser(name);
    bystander = await connectFrom(server, '198.51.100.1');
    await bystander.login('bob', 'secret', 'bystander');
  });
  afterAll(async () => {
    bystander?.close();
    await server?.stop();
    if (certs) await rm(certs.dir, { recursive: true, force: true });
  });

  it('drops an HTTP connection whose upgrade request never completes', async () => {
    const { port } = new URL(server.wsUrl);
    const started = Date.now();
    const silent = await RawSocket.connect(Number(port));
    const partial = await RawSocket.connect(Number(port));
    partial.socket.write('GET /xmpp-websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n');
    expect(await partial.waitClosed()).toMatch(/^HTTP\/1\.1 408/);
    await silent.waitClosed();
    expect(Date.now() - started).toBeGreaterThanOrEqual(AUTH_TIMEOUT_S * 1000 - 100);
    await bystanderServed();
  });

  it('ends a WebSocket stream that does not log in in time with connection-timeout', async () => {
    const idle = await connectFrom(server, '203.0.113.10');
    const opened = await connectFrom(server, '203.0.113.10');
    await opened.open();
    const started = Date.now();
    const error = await expectStreamError(opened, 'connection-timeout');
    expect(error).toContain('Not logged in within 2 seconds');
    // Without even an <open/>, the error still comes inside an opened stream.
    expect(await idle.next('<open')).toContain(FRAMING);
    await expectStreamError(idle, 'connection-timeout');
    expect(Date.now() - started).toBeLessThan(WAIT_MS);
    await bystanderServed();
  });

  it('leaves logged-in sessions alone after the login deadline', async () => {
    const alice = await connectFrom(server, '203.0.113.11');
    await alice.login('alice', 'secret', 'stays');
    await new Promise((resolve) => setTimeout(resolve, AUTH_TIMEOUT_S * 1000 + 700));
    await pingOk(alice, 'still-here');
    alice.close();
    await alice.closed;
  });

  it('ends a TCP stream that does not log in in time, and drops an unfinished TLS handshake', async () => {
    const header = await RawSocket.connect(tcpPort);
    header.socket.write(TCP_HEADER);
    const silent = await RawSocket.connect(tcpPort);
    // A direct TLS connection that never starts its handshake.
    const handshake = await RawSocket.connect(tlsPort);
    const text = await header.waitClosed();
    expect(text).toContain('<connection-timeout xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>');
    expect(text).toMatch(/<\/stream:stream>$/);
    const silentText = await silent.waitClosed();
    expect(silentText).toContain('<stream:stream');
    expect(silentText).toContain('<connection-timeout');
    await handshake.waitClosed();
    await bystanderServed();
  });

  it('refuses more open connections from one address than allowed with 429, and admits again after one closes', async () => {
    const address = '203.0.113.20';
    const open = [
      await connectFrom(server, address),
      await connectFrom(server, address),
      await connectFrom(server, address),
    ];
    await expect(connectFrom(server, address)).rejects.toMatchObject({ status: 429 });
    // Another address behind the same proxy is unaffected.
    const other = await connectFrom(server, '203.0.113.21');
    other.close();
    await other.closed;
    open[0]!.close();
    await open[0]!.closed;
    // The server counts the connection until its socket has closed on its side too.
    let again: RawClient | undefined;
    await expect
      .poll(
        async () => {
          again = await connectFrom(server, address).catch(() => undefined);
          return again !== undefined;
        },
        { timeout: WAIT_MS, interval: 300 },
      )
      .toBe(true);
    for (const client of [...open.slice(1), again!]) {
      client.close();
      await client.closed;
    }
    await bystanderServed();
  });

  it('refuses new connections from one address faster than the rate with 429, and admits again a second later', async () => {
    const address = '203.0.113.30';
    const admitted: RawClient[] = [];
    let refused: unknown;
    // Five a second with a burst of five: the sixth in a row is refused (each closes first, so
    // only the rate is in play, not the cap on open connections).
    for (let i = 0; i < 6 && refused === undefined; i++) {
      try {
        const client = await connectFrom(server, address);
        admitted.push(client);
        client.close();
        await client.closed;
      } catch (error) {
        refused = error;
      }
    }
    expect(admitted.length).toBeLessThanOrEqual(5);
    expect(refused).toMatchObject({ status: 429 });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const later = await connectFrom(server, address);
    later.close();
    await later.closed;
    await bystanderServed();
  });

  it('refuses a TCP connection from a full address with a policy-violation stream error', async () => {
    // Connections from loopback itself (no forwarded address) share one count with TCP.
    const held = [await RawSocket.connect(tcpPort), await RawSocket.connect(tcpPort)];
    const ws = await RawClient.connect(server.wsUrl, ['xmpp']);
    const refused = await RawSocket.connect(tcpPort);
    const text = await refused.waitClosed();
    expect(text).toContain('<stream:stream');
    expect(text).toContain('<policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>');
    expect(text).toContain('Too many connections from your network address');
    expect(text).toMatch(/<\/stream:stream>$/);
    // A direct TLS connection is refused without a handshake.
    const tlsRefused = tls.connect({
      port: tlsPort,
      host: '127.0.0.1',
      ca: certs.ca,
      servername: 'localhost',
    });
    await new Promise<void>((resolve) => {
      tlsRefused.once('error', () => resolve());
      tlsRefused.once('close', () => resolve());
    });
    expect(tlsRefused.authorized).toBe(false);
    for (const socket of held) socket.socket.destroy();
    ws.close();
    await ws.closed;
    await bystanderServed();
  });

  it('refuses a bind beyond the per-account session limit with resource-constraint', async () => {
    const first = await connectFrom(server, '203.0.113.40');
    await first.login('carol', 'secret', 'one');
    const second = await connectFrom(server, '203.0.113.41');
    await second.login('carol', 'secret', 'two');
    // Binding an existing resource replaces it (conflict) instead of adding one.
    const replacing = await connectFrom(server, '203.0.113.42');
    expect(await replacing.login('carol', 'secret', 'two')).toBe('carol@localhost/two');
    await expectStreamError(second, 'conflict');

    const third = await connectFrom(server, '203.0.113.43');
    await third.open();
    third.send(
      `<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${Buffer.from('\0carol\0secret').toString('base64')}</auth>`,
    );
    await third.next('<success');
    await third.open();
    const refusal = await third.iq(
      'bind1',
      'set',
      '<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>three</resource></bind>',
    );
    expect(refusal).toContain('type="error"');
    expect(refusal).toMatch(
      /<error type="wait"><resource-constraint xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/>/,
    );
    third.close();
    await third.closed;
    // Once a resource is gone, a new one binds.
    first.close();
    await first.closed;
    await expect
      .poll(async () => (await server.strom.xmpp.cluster.resources('carol@localhost')).length, {
        timeout: WAIT_MS,
      })
      .toBe(1);
    const fourth = await connectFrom(server, '203.0.113.44');
    expect(await fourth.login('carol', 'secret', 'three')).toBe('carol@localhost/three');
    await pingOk(fourth, 'bound-late');
    for (const client of [replacing, fourth]) {
      client.close();
      await client.closed;
    }
    await bystanderServed();
  });
});

describe('the connection limit per node', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ env: { MAX_CONNECTIONS: '2' } });
    await server.addUser('alice');
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('refuses upgrades beyond it with 503 and the users already connected keep working', async () => {
    const alice = await RawClient.connect(server.wsUrl);
    await alice.login('alice', 'secret', 'first');
    const second = await RawClient.connect(server.wsUrl);
    await expect(RawClient.connect(server.wsUrl)).rejects.toMatchObject({ status: 503 });
    await pingOk(alice, 'p1');
    second.close();
    await second.closed;
    alice.close();
    await alice.closed;
  });
});
