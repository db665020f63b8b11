import { readFileSync } from 'node:fs';
import { createCluster } from '@strom/cluster';
import { type Transport, XmppServer } from '@strom/core';
import { discoModule, versionModule } from '@strom/modules';
import { createTestStorage, type Storage } from '@strom/storage';
import { type Element, parseFrame } from '@strom/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, STORAGE_KINDS, startTestServer, type TestServer, WAIT_MS } from './harness.js';

const NS_VERSION = 'jabber:iq:version';
const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const rootVersion = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

function featuresOf(info: Element): string[] {
  return info
    .getChild('query')!
    .getChildren('feature')
    .map((f) => f.attrs.var!);
}

/** A session on an in-memory transport, for servers built with a chosen module set. */
class TransportClient {
  readonly frames: string[] = [];
  private readonly session;

  constructor(server: XmppServer) {
    const transport: Transport = {
      send: (frame) => this.frames.push(frame),
      close: () => {},
      secure: true,
      remoteAddress: '127.0.0.1',
    };
    this.session = server.openStream(transport);
  }

  send(frame: string): void {
    this.session.receive(frame);
  }

  async next(needle: string, timeoutMs = WAIT_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex((f) => f.includes(needle));
      if (index !== -1) return this.frames.splice(index, 1)[0]!;
      if (Date.now() > deadline)
        throw new Error(`Timed out waiting for ${needle}; got ${this.frames.join(' | ')}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async login(username: string, password: string): Promise<void> {
    const open = `<open xmlns="${FRAMING}" to="localhost" version="1.0"/>`;
    this.send(open);
    await this.next('features');
    const plain = Buffer.from(`\0${username}\0${password}`).toString('base64');
    this.send(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${plain}</auth>`);
    await this.next('<success');
    this.send(open);
    await this.next('features');
    this.send(
      '<iq xmlns="jabber:client" type="set" id="bind"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>',
    );
    await this.next('id="bind"');
  }

  async iq(id: string, body: string): Promise<Element> {
    this.send(`<iq xmlns="jabber:client" type="get" to="localhost" id="${id}">${body}</iq>`);
    return parseFrame(await this.next(`id="${id}"`));
  }
}

describe.each(STORAGE_KINDS)('software version (%s)', (storage) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ storage });
    await server.addUser('alice');
  });
  afterAll(() => server.stop());

  it("answers with Strom's name and version, and no operating system", async () => {
    const client = await connectClient(server, { username: 'alice' });
    const reply = await client.iq(`<iq type="get" to="localhost"><query xmlns="${NS_VERSION}"/></iq>`);
    expect(reply.attrs.type).toBe('result');
    expect(reply.attrs.from).toBe('localhost');
    const query = reply.getChild('query', NS_VERSION)!;
    expect(query.getChildText('name')).toBe('Strom');
    expect(query.getChildText('version')).toBe(rootVersion);
    expect(query.getChild('os')).toBeUndefined();

    const info = await client.iq(
      '<iq type="get" to="localhost"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>',
    );
    expect(featuresOf(info)).toContain(NS_VERSION);
    await client.stop();
  });

  describe('with hideVersion', () => {
    let db: Storage;
    let xmpp: XmppServer;
    beforeAll(async () => {
      db = await createTestStorage(storage);
      xmpp = new XmppServer({
        domain: 'localhost',
        storage: db,
        cluster: createCluster(),
        modules: [discoModule, versionModule],
        env: { HIDE_VERSION: 'true' },
      });
      await xmpp.start();
      await xmpp.createAccount('alice', 'secret');
    });
    afterAll(async () => {
      await xmpp.stop();
      await db.close();
    });

    it('answers service-unavailable and does not advertise the feature', async () => {
      const client = new TransportClient(xmpp);
      await client.login('alice', 'secret');
      const reply = await client.iq('v1', `<query xmlns="${NS_VERSION}"/>`);
      expect(reply.attrs.type).toBe('error');
      expect(reply.getChild('error')?.getChild('service-unavailable')).toBeDefined();

      const info = await client.iq('d1', '<query xmlns="http://jabber.org/protocol/disco#info"/>');
      expect(info.attrs.type).toBe('result');
      expect(featuresOf(info)).not.toContain(NS_VERSION);
    });
  });
});
