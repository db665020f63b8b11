import { createCluster, InProcessHub } from '@strom/cluster';
import { type Transport, XmppServer } from '@strom/core';
import { defaultModules } from '@strom/modules';
import { createTestStorage, type Storage, type StorageKind } from '@strom/storage';
import { type Element, parseFrame } from '@strom/xml';
import { connectClient, QUIET_MS, type TestClient, type TestServer, WAIT_MS } from './harness.js';
import { becomeAvailable } from './im-helpers.js';

/** For `expect.poll` on storage: the server works asynchronously after a client write. */
export const POLL = { timeout: 10_000, interval: 50 };

export const messageWith = (body: string) => (s: Element) =>
  s.name === 'message' && s.getChildText('body') === body;
export const errorFor = (body: string) => (s: Element) => messageWith(body)(s) && s.attrs.type === 'error';
/** The defined condition element of an error stanza. */
export const condition = (s: Element) => s.getChild('error')?.elements()[0];

/** A logged-in client that has sent available presence (with `priority`) and seen it come back. */
export async function online(
  server: TestServer,
  username: string,
  resource: string,
  priority = 0,
): Promise<TestClient> {
  const client = await connectClient(server, { username, resource });
  await becomeAvailable(client, `<presence><priority>${priority}</priority></presence>`, 15_000);
  return client;
}

/** Fresh accounts for each test (a counter suffix), so concurrent tests never see each other's traffic. */
export function accountFactory(create: (username: string) => Promise<unknown>) {
  let counter = 0;
  return async <const T extends string[]>(...names: T): Promise<{ [K in keyof T]: string }> => {
    const suffix = ++counter;
    const usernames = names.map((name) => `${name}${suffix}`);
    for (const username of usernames) await create(username);
    return usernames as { [K in keyof T]: string };
  };
}

/** Two nodes of one deployment in this process: one storage, and an in-process hub between them. */
export interface NodePair {
  a: XmppServer;
  b: XmppServer;
  storage: Storage;
  stop(): Promise<void>;
}

export async function startNodePair(kind: StorageKind): Promise<NodePair> {
  const storage = await createTestStorage(kind);
  const hub = new InProcessHub();
  const node = (nodeId: string) =>
    new XmppServer({
      domain: 'localhost',
      storage,
      cluster: createCluster({ hub, nodeId }),
      modules: defaultModules(),
    });
  const a = node('node-a');
  const b = node('node-b');
  await a.start();
  await b.start();
  return {
    a,
    b,
    storage,
    async stop() {
      await a.stop();
      await b.stop();
      await storage.close();
    },
  };
}

/**
 * A client on an in-memory transport, for servers the tests build themselves (module options the
 * app does not expose, several nodes on one in-process hub). Logs in with PLAIN, password "secret".
 */
export class PipeClient implements Transport {
  readonly secure = true;
  readonly remoteAddress = undefined;
  private readonly frames: string[] = [];
  private wake: (() => void) | undefined;
  private receive: (frame: string) => void = () => {};
  private closed = false;
  private pings = 0;
  jid = '';

  static async online(
    xmpp: XmppServer,
    username: string,
    resource: string,
    priority = 0,
  ): Promise<PipeClient> {
    const client = new PipeClient();
    const session = xmpp.openStream(client);
    client.receive = (frame) => session.receive(frame);
    const open = '<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="localhost" version="1.0"/>';
    client.receive(open);
    await client.next('<mechanism>');
    const plain = Buffer.from(`\0${username}\0secret`).toString('base64');
    client.receive(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${plain}</auth>`);
    await client.next('<success');
    client.receive(open);
    await client.next('<bind');
    client.receive(
      `<iq xmlns="jabber:client" type="set" id="bind"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>${resource}</resource></bind></iq>`,
    );
    client.jid = /<jid>([^<]+)<\/jid>/.exec(await client.next('id="bind"'))![1]!;
    client.receive(`<presence xmlns="jabber:client"><priority>${priority}</priority></presence>`);
    await client.next((f) => f.startsWith('<presence') && f.includes(`from="${client.jid}"`));
    return client;
  }

  /** Sends a stanza (or any frame) from the client. */
  stanza(xml: string): void {
    this.receive(xml);
  }

  chat(to: string, body: string): void {
    this.stanza(`<message xmlns="jabber:client" to="${to}" type="chat"><body>${body}</body></message>`);
  }

  send(frame: string): void {
    this.frames.push(frame);
    this.wake?.();
  }

  close(): void {
    this.closed = true;
  }

  /** Removes and returns the next frame containing `needle` (or matching it). */
  async next(needle: string | ((frame: string) => boolean), timeoutMs = WAIT_MS): Promise<string> {
    const match = typeof needle === 'string' ? (f: string) => f.includes(needle) : needle;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex(match);
      if (index !== -1) return this.frames.splice(index, 1)[0]!;
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${String(needle)}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  }

  async nextStanza(needle: string): Promise<Element> {
    return parseFrame(await this.next(needle));
  }

  /** Removes and returns every frame received so far that contains `needle`. */
  taken(needle: string): string[] {
    const matching = this.frames.filter((f) => f.includes(needle));
    for (const frame of matching) this.frames.splice(this.frames.indexOf(frame), 1);
    return matching;
  }

  /** How many frames not yet taken contain `needle`. */
  count(needle: string): number {
    return this.frames.filter((f) => f.includes(needle)).length;
  }

  /**
   * For "must not receive" checks: true if no frame containing `needle` is there after `withinMs`
   * and a ping round trip through this session. Throws when the session does not answer the
   * ping, since a closed session receives nothing either.
   */
  async nothing(needle: string, withinMs = QUIET_MS): Promise<boolean> {
    if (this.count(needle) > 0) return false;
    await new Promise((resolve) => setTimeout(resolve, withinMs));
    if (this.closed)
      throw new Error(`${this.jid}: the server closed the session, so its silence proves nothing`);
    const id = `alive-${++this.pings}`;
    this.stanza(
      `<iq xmlns="jabber:client" type="get" id="${id}" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>`,
    );
    const answer = await this.next(`id="${id}"`).catch((error: unknown) => {
      throw new Error(`${this.jid} did not answer a ping, so its silence proves nothing: ${error}`);
    });
    if (!answer.includes('type="result"')) throw new Error(`ping from ${this.jid} failed: ${answer}`);
    return this.count(needle) === 0;
  }
}
