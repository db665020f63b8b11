import { createInProcessCluster, type InProcessHub } from '@strom/cluster';
import { createTestStorage, type Storage } from '@strom/storage';
import { type Element, parseFrame } from '@strom/xml';
import { createAccount } from './accounts.js';
import type { AnyModule } from './context.js';
import { XmppServer } from './server.js';
import type { ClientSession, Transport } from './session.js';

/** A transport that records frames, for driving sessions without a network. */
export class FakeTransport implements Transport {
  readonly frames: string[] = [];
  closed = false;
  attachedTo: ClientSession | undefined;
  constructor(
    readonly secure = true,
    readonly remoteAddress: string | undefined = '192.0.2.1',
  ) {}
  send(frame: string): void {
    if (!this.closed) this.frames.push(frame);
  }
  close(): void {
    this.closed = true;
  }
  attach(session: ClientSession): void {
    this.attachedTo = session;
  }
  /** Frames parsed, from `from` on. */
  elements(from = 0): Element[] {
    return this.frames.slice(from).map((frame) => parseFrame(frame));
  }
  /** Waits until a frame matches (polling the recorded frames), or fails after `ms`. */
  async waitFor(match: (el: Element) => boolean, ms = 2000): Promise<Element> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.elements().find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`No matching frame; got:\n${this.frames.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

export interface CoreTestServer {
  server: XmppServer;
  storage: Storage;
  stop(): Promise<void>;
}

/** A server on in-memory storage and an in-process cluster, with the given modules. */
export async function startCoreServer(
  modules: AnyModule[],
  options: { hub?: InProcessHub; storage?: Storage; nodeId?: string } = {},
): Promise<CoreTestServer> {
  const storage = options.storage ?? (await createTestStorage('pglite'));
  const cluster = createInProcessCluster({ hub: options.hub, nodeId: options.nodeId });
  const server = new XmppServer({ domain: 'example.test', storage, cluster, modules });
  await server.start();
  return {
    server,
    storage,
    async stop() {
      await server.stop();
      if (!options.storage) await storage.close();
    },
  };
}

let accountCounter = 0;

/** Opens a stream, creates an account, logs in with PLAIN and binds `resource`. */
export async function bindClient(
  server: XmppServer,
  resource = 'r',
): Promise<{ session: ClientSession; transport: FakeTransport; jid: string }> {
  const username = `user${++accountCounter}`;
  await createAccount(server.storage, server.domain, username, 'secret');
  const transport = new FakeTransport();
  const session = server.openStream(transport);
  const open = '<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.test" version="1.0"/>';
  session.receive(open);
  const plain = Buffer.from(`\0${username}\0secret`).toString('base64');
  session.receive(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${plain}</auth>`);
  await transport.waitFor((el) => el.localName === 'success');
  session.receive(open);
  session.receive(
    `<iq xmlns="jabber:client" type="set" id="b1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>${resource}</resource></bind></iq>`,
  );
  await transport.waitFor((el) => el.localName === 'iq' && el.attrs.id === 'b1');
  return { session, transport, jid: `${username}@example.test/${resource}` };
}
