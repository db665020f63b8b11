import { rm } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, startTestServer, type TestServer, WAIT_MS } from './harness.js';
import { becomeAvailable, storeMutualSubscription } from './im-helpers.js';
import { makeTestCertificates, type TestCertificates, trustTestCa } from './tls-fixtures.js';

const HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`;
const STARTTLS = `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`;

/** A raw RFC 6120 client: bytes in, text out, for the cases a library would not send. */
class RawTcp {
  text = '';
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(public socket: net.Socket) {
    this.listen(socket);
  }

  static async connect(port: number): Promise<RawTcp> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawTcp(socket);
  }

  private listen(socket: net.Socket): void {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.text += chunk;
      for (const wake of this.waiters.splice(0)) wake();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const wake of this.waiters.splice(0)) wake();
    });
    socket.on('error', () => {});
  }

  write(data: string): void {
    this.socket.write(data);
  }

  /** Waits until the received text matches, and returns it. */
  async until(pattern: RegExp, timeoutMs = WAIT_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.text)) {
      if (this.closed || Date.now() > deadline) throw new Error(`No ${pattern} in: ${this.text}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return this.text;
  }

  async waitClosed(timeoutMs = WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(this.closed).toBe(true);
  }

  /** STARTTLS on this connection; then a new stream over TLS. */
  async startTls(ca: Buffer): Promise<void> {
    this.write(HEADER);
    await this.until(/<required\/><\/starttls>/);
    this.write(STARTTLS);
    await this.until(/<proceed/);
    this.socket.removeAllListeners('data');
    const secure = tls.connect({ socket: this.socket, servername: 'localhost', ca });
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
    this.socket = secure;
    this.text = '';
    this.listen(secure);
  }
}

describe('XMPP over TCP for native clients (RFC 6120, XEP-0368)', () => {
  let certs: TestCertificates;
  let server: TestServer;
  let port: number;
  let tlsPort: number;
  const tcpServer = () => ({ wsUrl: `xmpp://127.0.0.1:${port}`, domain: 'localhost' });

  beforeAll(async () => {
    certs = makeTestCertificates();
    trustTestCa(certs.ca);
    server = await startTestServer({
      env: {
        C2S: 'on',
        C2S_PORT: '0',
        C2S_DIRECT_TLS_PORT: '0',
        XMPP_CERT_FILE: certs.certFile,
        XMPP_KEY_FILE: certs.keyFile,
      },
    });
    ({ port, tlsPort } = server.strom.tcpPorts() as { port: number; tlsPort: number });
    for (const name of ['alice', 'bob', 'carol']) await server.addUser(name);
    await storeMutualSubscription(server.strom.storage, 'alice', 'bob');
  });
  afterAll(async () => {
    await server.stop();
    await rm(certs.dir, { recursive: true, force: true });
  });

  it('logs in with STARTTLS and chats with a WebSocket user, both ways', async () => {
    const alice = await connectClient(tcpServer(), { username: 'alice', resource: 'gajim' });
    const bob = await connectClient(server, { username: 'bob', resource: 'browser' });
    await becomeAvailable(bob);
    await becomeAvailable(alice);
    await bob.inbox.waitFor(
      (s) => s.name === 'presence' && s.attrs.from === alice.jid,
      undefined,
      'presence over TCP',
    );
    await alice.send(`<message to="${bob.jid}" type="chat" id="t1"><body>from TCP</body></message>`);
    const got = await bob.inbox.waitFor((s) => s.attrs.id === 't1', undefined, 'message from TCP');
    expect(got.getChildText('body')).toBe('from TCP');
    expect(got.attrs.from).toBe(alice.jid);
    await bob.send(`<message to="${alice.jid}" type="chat" id="w1"><body>from the web</body></message>`);
    expect(
      (await alice.inbox.waitFor((s) => s.attrs.id === 'w1', undefined, 'message over TCP')).getChildText(
        'body',
      ),
    ).toBe('from the web');
    const roster = await alice.iq('<iq type="get"><query xmlns="jabber:iq:roster"/></iq>');
    expect(
      roster
        .getChild('query')
        ?.getChildren('item')
        .map((i) => i.attrs.jid),
    ).toEqual(['bob@localhost']);
    await alice.stop();
    await bob.stop();
  });

  it('logs in over direct TLS (XEP-0368)', async () => {
    const carol = await connectClient(
      { wsUrl: `xmpps://127.0.0.1:${tlsPort}`, domain: 'localhost' },
      { username: 'carol' },
    );
    const ping = await carol.iq('<iq type="get" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>');
    expect(ping.attrs.type).toBe('result');
    await carol.stop();
  });

  it('offers only STARTTLS before encryption and refuses anything else', async () => {
    const raw = await RawTcp.connect(port);
    raw.write(HEADER);
    const features = await raw.until(/<\/stream:features>/);
    expect(features).toContain('<stream:stream xmlns="jabber:client"');
    expect(features).toMatch(
      /<stream:features[^>]*><starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"><required\/><\/starttls><\/stream:features>/,
    );
    expect(features).not.toContain('mechanism');
    raw.write(
      `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from('\0alice\0secret').toString('base64')}</auth>`,
    );
    const refused = await raw.until(/<\/stream:stream>/);
    expect(refused).toContain('<policy-violation');
    expect(refused).not.toContain('<success');
    await raw.waitClosed();
  });

  it('offers PLAIN after STARTTLS, and answers bad input with stream errors while others keep being served', async () => {
    const bystander = await connectClient(tcpServer(), { username: 'bob', resource: 'bystander' });
    const raw = await RawTcp.connect(port);
    await raw.startTls(certs.ca);
    raw.write(HEADER);
    const features = await raw.until(/<\/stream:features>/);
    expect(features).toContain('<mechanism>PLAIN</mechanism>');
    expect(features).not.toContain('starttls');
    // A stanza before authentication.
    raw.write('<message to="bob@localhost"><body>sneaky</body></message>');
    expect(await raw.until(/<\/stream:stream>/)).toContain('<not-authorized');
    await raw.waitClosed();

    const malformed = await RawTcp.connect(port);
    await malformed.startTls(certs.ca);
    malformed.write(`${HEADER}<message><body>unclosed</message>`);
    expect(await malformed.until(/<\/stream:stream>/)).toMatch(/<not-well-formed|<invalid-xml/);
    await malformed.waitClosed();

    const oversized = await RawTcp.connect(port);
    await oversized.startTls(certs.ca);
    oversized.write(`${HEADER}<message><body>${'x'.repeat(300_000)}</body></message>`);
    expect(await oversized.until(/<\/stream:stream>/)).toContain('<policy-violation');
    await oversized.waitClosed();

    const wrongNamespace = await RawTcp.connect(port);
    wrongNamespace.write(
      `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`,
    );
    expect(await wrongNamespace.until(/<\/stream:stream>/)).toContain('<invalid-namespace');
    await wrongNamespace.waitClosed();

    expect(
      (await bystander.iq('<iq type="get" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>')).attrs.type,
    ).toBe('result');
    await bystander.stop();
  });

  it('logs in over TCP with PLAIN after STARTTLS using a raw stream, binds, and gets the roster', async () => {
    const raw = await RawTcp.connect(port);
    await raw.startTls(certs.ca);
    raw.write(HEADER);
    await raw.until(/<\/stream:features>/);
    raw.write(
      `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from('\0alice\0secret').toString('base64')}</auth>`,
    );
    await raw.until(/<success/);
    raw.text = '';
    raw.write(HEADER);
    expect(await raw.until(/<\/stream:features>/)).toContain('urn:ietf:params:xml:ns:xmpp-bind');
    raw.write(
      `<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>raw</resource></bind></iq>`,
    );
    expect(await raw.until(/<jid>alice@localhost\/raw<\/jid>/)).toContain('type="result"');
    raw.write(`<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>`);
    expect(await raw.until(/id="r"[^>]*>[\s\S]*<\/iq>/)).toContain('bob@localhost');
    raw.write('</stream:stream>');
    await raw.until(/<\/stream:stream>/);
    await raw.waitClosed();
  });
});
