import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ScramClient } from '@strom/sasl';
import { createTestStorage } from '@strom/storage';
import { type Element, parseFrame } from '@strom/xml';
import pino from 'pino';
import { afterAll, beforeAll, describe, it } from 'vitest';
import WebSocket from 'ws';
import { type Strom, startStrom } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { connectClient, STORAGE_KINDS, type TestClient, WAIT_MS } from './harness.js';
import { messageWith, POLL } from './message-helpers.js';

/** The sender's real address as a trusted proxy reports it; it must never leave the server. */
const CLIENT_ADDRESS = '203.0.113.77';
const PROXY_ADDRESS = '127.0.0.1';
/** Every message body in the exchange, none of which may show up in the log. */
const BODIES = {
  toBob: 'privacy-body-alice-to-bob',
  toBobFull: 'privacy-body-alice-to-bob-phone',
  toAlice: 'privacy-body-bob-to-alice',
  toCarolOffline: 'privacy-body-alice-to-carol-offline',
  toNobody: 'privacy-body-alice-to-nobody',
  groupchat: 'privacy-body-alice-groupchat',
};

/**
 * A client behind a reverse proxy: the WebSocket upgrade carries X-Forwarded-For, so the server
 * counts the connection as not private and offers SCRAM only.
 */
class ProxiedClient {
  /** Every frame the server sent, in order, for the scan. */
  readonly received: string[] = [];
  private readonly unread: string[] = [];
  private wake: (() => void) | undefined;
  jid = '';
  private iqCounter = 0;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = data.toString();
      this.received.push(frame);
      this.unread.push(frame);
      this.wake?.();
    });
    ws.on('error', () => {});
  }

  static async connect(url: string): Promise<ProxiedClient> {
    const ws = new WebSocket(url, ['xmpp'], { headers: { 'X-Forwarded-For': CLIENT_ADDRESS } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new ProxiedClient(ws);
  }

  send(frame: string): void {
    this.ws.send(frame);
  }

  async next(match: (frame: string) => boolean, what: string, timeoutMs = WAIT_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.unread.findIndex(match);
      if (index !== -1) return this.unread.splice(index, 1)[0]!;
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  }

  async stanza(match: (el: Element) => boolean, what: string): Promise<Element> {
    let found: Element | undefined;
    await this.next((frame) => {
      if (found) return false;
      const el = parseFrame(frame);
      if (!match(el)) return false;
      found = el;
      return true;
    }, what);
    return found!;
  }

  async iq(xml: string): Promise<Element> {
    const id = `p${++this.iqCounter}`;
    this.send(xml.replace('<iq ', `<iq xmlns="jabber:client" id="${id}" `));
    return this.stanza((el) => el.name === 'iq' && el.attrs.id === id, `IQ ${id}`);
  }

  async login(username: string, resource: string): Promise<void> {
    const open = '<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="localhost" version="1.0"/>';
    this.send(open);
    const features = await this.next((f) => f.includes('<mechanisms'), 'SASL mechanisms');
    if (features.includes('>PLAIN<')) throw new Error('PLAIN offered to a proxied, unencrypted connection');
    const scram = new ScramClient('SHA-256', username, 'secret');
    this.send(
      `<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="SCRAM-SHA-256">${scram.first().toString('base64')}</auth>`,
    );
    const challenge = parseFrame(await this.next((f) => f.includes('<challenge'), 'SCRAM challenge'));
    const final = await scram.final(Buffer.from(challenge.text(), 'base64'));
    this.send(`<response xmlns="urn:ietf:params:xml:ns:xmpp-sasl">${final.toString('base64')}</response>`);
    await this.next((f) => f.includes('<success'), 'SASL success');
    this.send(open);
    await this.next((f) => f.includes('<bind'), 'bind feature');
    const bound = await this.iq(
      `<iq type="set"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>${resource}</resource></bind></iq>`,
    );
    this.jid = bound.getChild('bind')!.getChildText('jid')!;
  }

  close(): void {
    this.ws.close();
  }
}

/** A normal client whose every received frame, stream features and errors included, is kept. */
async function recordedClient(
  url: string,
  username: string,
  resource: string,
): Promise<{ client: TestClient; received: string[] }> {
  const client = await connectClient({ wsUrl: url, domain: 'localhost' }, { username, resource });
  const received: string[] = [];
  // Frames as they came off the socket, after login (the login itself is the harness's business).
  (client.xmpp as unknown as { socket: NodeJS.EventEmitter }).socket.on('data', (data: unknown) =>
    received.push(String(data)),
  );
  return { client, received };
}

const presenceFrom = (jid: string, type?: string) => (s: Element) =>
  s.name === 'presence' && s.attrs.from === jid && s.attrs.type === type;

describe.each(STORAGE_KINDS)('privacy scan (%s)', (storage) => {
  let strom: Strom;
  let dataDir: string;
  let wsUrl: string;
  const log: string[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'strom-privacy-'));
    const config = loadConfig({
      XMPP_DOMAIN: 'localhost',
      HOST: PROXY_ADDRESS,
      PORT: '0',
      DATA_DIR: dataDir,
      TRUSTED_PROXIES: PROXY_ADDRESS,
    });
    // The default level, on a logger of our own so every line can be read back.
    const logger = pino({ level: config.logLevel }, { write: (line: string) => log.push(line) });
    strom = await startStrom(config, {
      storage: await createTestStorage(storage),
      logger,
      adminSocket: false,
    });
    wsUrl = `ws://${PROXY_ADDRESS}:${strom.port()}${config.websocketPath}`;
    for (const name of ['alice', 'bob', 'carol']) await strom.xmpp.createAccount(name, 'secret');
  });
  afterAll(async () => {
    await strom.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('never sends the client address to anyone, nor logs it or a message body', async ({ expect }) => {
    expect(strom.config.logLevel).toBe('info');
    const alice = await ProxiedClient.connect(wsUrl);
    await alice.login('alice', 'laptop');
    // The server did learn the address from the proxy (it throttles logins by it)...
    expect(strom.xmpp.sessions.get(alice.jid)?.transport.remoteAddress).toBe(CLIENT_ADDRESS);

    const { client: bob, received: bobFrames } = await recordedClient(wsUrl, 'bob', 'phone');

    // Roster and mutual subscription.
    const roster = await alice.iq(
      '<iq type="set"><query xmlns="jabber:iq:roster"><item jid="bob@localhost" name="Bob"><group>Friends</group></item></query></iq>',
    );
    expect(roster.attrs.type).toBe('result');
    expect((await bob.iq('<iq type="get"><query xmlns="jabber:iq:roster"/></iq>')).attrs.type).toBe('result');
    alice.send('<presence xmlns="jabber:client"/>');
    await alice.stanza(presenceFrom(alice.jid), 'own presence');
    await bob.send('<presence/>');
    alice.send('<presence xmlns="jabber:client" to="bob@localhost" type="subscribe"/>');
    await bob.inbox.waitFor((s) => s.name === 'presence' && s.attrs.type === 'subscribe');
    await bob.send('<presence to="alice@localhost" type="subscribed"/>');
    await alice.stanza(presenceFrom(bob.jid), "bob's presence");
    await bob.send('<presence to="alice@localhost" type="subscribe"/>');
    await alice.stanza((s) => s.name === 'presence' && s.attrs.type === 'subscribe', 'subscription request');
    alice.send('<presence xmlns="jabber:client" to="bob@localhost" type="subscribed"/>');
    await bob.inbox.waitFor(presenceFrom(alice.jid));
    alice.send('<presence xmlns="jabber:client"><show>away</show><status>in a meeting</status></presence>');
    await bob.inbox.waitFor((s) => presenceFrom(alice.jid)(s) && s.getChildText('show') === 'away');
    expect((await alice.iq('<iq type="get"><query xmlns="jabber:iq:roster"/></iq>')).attrs.type).toBe(
      'result',
    );

    // Messages both ways, to bare and full JIDs.
    alice.send(
      `<message xmlns="jabber:client" to="bob@localhost" type="chat"><body>${BODIES.toBob}</body></message>`,
    );
    await bob.inbox.waitFor(messageWith(BODIES.toBob));
    alice.send(
      `<message xmlns="jabber:client" to="${bob.jid}" type="chat"><body>${BODIES.toBobFull}</body></message>`,
    );
    await bob.inbox.waitFor(messageWith(BODIES.toBobFull));
    await bob.send(`<message to="alice@localhost" type="chat"><body>${BODIES.toAlice}</body></message>`);
    await alice.stanza(messageWith(BODIES.toAlice), 'message from bob');

    // An offline message, delivered on carol's next login.
    alice.send(
      `<message xmlns="jabber:client" to="carol@localhost" type="chat"><body>${BODIES.toCarolOffline}</body></message>`,
    );
    await expect.poll(() => strom.storage.offline.count('carol'), POLL).toBe(1);
    const { client: carol, received: carolFrames } = await recordedClient(wsUrl, 'carol', 'tablet');
    await carol.send('<presence/>');
    const offline = await carol.inbox.waitFor(messageWith(BODIES.toCarolOffline));
    expect(offline.getChild('delay', 'urn:xmpp:delay')?.attrs.from).toBe('localhost');

    // vCard, disco, version, ping, blocklist.
    const vcard = await alice.iq(
      '<iq type="set"><vCard xmlns="vcard-temp"><FN>Alice Liddell</FN><NICKNAME>alice</NICKNAME></vCard></iq>',
    );
    expect(vcard.attrs.type).toBe('result');
    const bobSees = await bob.iq('<iq type="get" to="alice@localhost"><vCard xmlns="vcard-temp"/></iq>');
    expect(bobSees.getChild('vCard')?.getChildText('FN')).toBe('Alice Liddell');
    const info = await alice.iq(
      '<iq type="get" to="localhost"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>',
    );
    expect(info.attrs.type).toBe('result');
    const accountInfo = await bob.iq(
      '<iq type="get" to="alice@localhost"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>',
    );
    expect(accountInfo.attrs.type).toBe('result');
    const version = await alice.iq('<iq type="get" to="localhost"><query xmlns="jabber:iq:version"/></iq>');
    expect(version.attrs.type).toBe('result');
    expect(
      (await alice.iq('<iq type="get" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>')).attrs.type,
    ).toBe('result');
    expect((await alice.iq('<iq type="get"><blocklist xmlns="urn:xmpp:blocking"/></iq>')).attrs.type).toBe(
      'result',
    );

    // Errors of several kinds.
    alice.send(
      `<message xmlns="jabber:client" to="nobody@localhost" type="chat"><body>${BODIES.toNobody}</body></message>`,
    );
    await alice.stanza(
      (s) => messageWith(BODIES.toNobody)(s) && s.attrs.type === 'error',
      'unknown user error',
    );
    alice.send(
      `<message xmlns="jabber:client" to="bob@localhost" type="groupchat"><body>${BODIES.groupchat}</body></message>`,
    );
    await alice.stanza(
      (s) => messageWith(BODIES.groupchat)(s) && s.attrs.type === 'error',
      'groupchat error',
    );
    const unknown = await alice.iq('<iq type="get" to="localhost"><query xmlns="urn:example:unknown"/></iq>');
    expect(unknown.attrs.type).toBe('error');
    const toClient = await alice.iq(`<iq type="get" to="${bob.jid}"><query xmlns="jabber:iq:version"/></iq>`);
    expect(['result', 'error']).toContain(toClient.attrs.type);
    const malformed = await alice.iq('<iq type="get" to="@bad@"><ping xmlns="urn:xmpp:ping"/></iq>');
    expect(malformed.attrs.type).toBe('error');

    // Alice leaves; bob sees her go.
    alice.send('<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>');
    await bob.inbox.waitFor(presenceFrom(alice.jid, 'unavailable'));
    await bob.stop();
    await carol.stop();
    alice.close();

    const frames = [...alice.received, ...bobFrames, ...carolFrames];
    expect(alice.received.length).toBeGreaterThan(20);
    expect(bobFrames.length).toBeGreaterThan(10);
    expect(carolFrames.length).toBeGreaterThan(1);
    for (const frame of frames) {
      expect(frame).not.toContain(CLIENT_ADDRESS);
      expect(frame).not.toContain(PROXY_ADDRESS);
    }

    await strom.stop();
    const text = log.join('');
    expect(text).toContain('Strom is up');
    expect(text).not.toContain(CLIENT_ADDRESS);
    for (const body of Object.values(BODIES)) expect(text).not.toContain(body);
    expect(text).not.toContain('Alice Liddell');
  });
});
