import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  befriend,
  type InProcessNode,
  isAvailableFrom,
  isMessageWith,
  isUnavailableFrom,
  online,
  TestCluster,
} from './cluster-harness.js';
import type { TestClient } from './harness.js';
import {
  freePort,
  loopbackNginxConf,
  type RunningNginx,
  readShippedNginxConf,
  selfSignedCertificate,
  startNginx,
} from './nginx-conf.js';

const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';

/** Certificates the WebSocket clients of this file trust (nginx's self-signed one). */
let trustedCa: Buffer | undefined;

// @xmpp/client builds its sockets from the global WebSocket; this one trusts the test certificate.
class TrustingWebSocket extends WebSocket {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols, trustedCa ? { ca: trustedCa } : {});
  }
}
(globalThis as { WebSocket?: unknown }).WebSocket = TrustingWebSocket;

/** The SASL mechanisms offered on a fresh stream at `url`. */
async function offeredMechanisms(url: string): Promise<string[]> {
  const ws = new TrustingWebSocket(url, ['xmpp']);
  try {
    const features = await new Promise<string>((resolve, reject) => {
      ws.once('error', reject);
      ws.on('message', (data) => {
        const frame = data.toString();
        if (frame.includes('features')) resolve(frame);
      });
      ws.once('open', () => ws.send(`<open xmlns="${FRAMING}" to="localhost" version="1.0"/>`));
    });
    return [...features.matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((match) => match[1]!);
  } finally {
    ws.close();
  }
}

/** Two nodes behind Debian's nginx running the shipped deploy/nginx.conf. */
describe('two nodes behind nginx', () => {
  let cluster: TestCluster;
  let nodes: InProcessNode[];
  let nginx: RunningNginx;
  let prefix: string;
  let plainUrl: string;
  let tlsUrl: string;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.create('nginx');
    for (const user of ['alice', 'bob']) await cluster.addUser(user);
    const env = { TRUSTED_PROXIES: '127.0.0.1' };
    nodes = await Promise.all([cluster.startNode('edge-a', env), cluster.startNode('edge-b', env)]);

    prefix = await mkdtemp(path.join(os.tmpdir(), 'strom-nginx-'));
    // nginx workers run unprivileged and need to reach their temporary directories below it.
    await chmod(prefix, 0o755);
    const { certFile, keyFile } = await selfSignedCertificate(path.join(prefix, 'certs'));
    trustedCa = await readFile(certFile);
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const conf = loopbackNginxConf(await readShippedNginxConf(), {
      upstreams: nodes.map((node) => node.port),
      httpPort,
      httpsPort,
      certFile,
      keyFile,
      prefix,
    });
    const confFile = path.join(prefix, 'nginx.conf');
    await writeFile(confFile, conf);
    nginx = await startNginx(confFile, prefix, httpPort);
    plainUrl = `ws://127.0.0.1:${httpPort}/xmpp-websocket`;
    tlsUrl = `wss://127.0.0.1:${httpsPort}/xmpp-websocket`;
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.stop()));
    await nginx?.stop();
    await cluster?.close();
    if (prefix) await rm(prefix, { recursive: true, force: true });
  });

  const nodeHolding = (jid: string) => nodes.find((node) => node.strom.xmpp.sessions.has(jid))?.id;

  it('spreads users over both nodes, and they chat and see each other’s presence', async () => {
    const alice = await online({ wsUrl: tlsUrl, domain: 'localhost' }, 'alice', 'browser');
    clients.push(alice);
    const bob = await online({ wsUrl: tlsUrl, domain: 'localhost' }, 'bob', 'browser');
    clients.push(bob);
    const [aliceNode, bobNode] = [nodeHolding(alice.jid), nodeHolding(bob.jid)];
    expect(aliceNode).toBeDefined();
    expect(bobNode).toBeDefined();
    expect(aliceNode).not.toBe(bobNode);
    expect(await cluster.directory('alice@localhost')).toEqual([{ jid: alice.jid, node: aliceNode }]);

    await befriend(alice, bob);
    await alice.send('<message to="bob@localhost" type="chat"><body>through nginx</body></message>');
    expect((await bob.inbox.waitFor(isMessageWith('through nginx'))).attrs.from).toBe(alice.jid);
    await bob.send(`<message to="${alice.jid}" type="chat"><body>and back</body></message>`);
    await alice.inbox.waitFor(isMessageWith('and back'));

    await bob.send('<presence><show>xa</show></presence>');
    await alice.inbox.waitFor((el) => isAvailableFrom(bob.jid)(el) && el.getChildText('show') === 'xa');
    await bob.stop();
    await alice.inbox.waitFor(isUnavailableFrom(bob.jid));
  });

  it('offers SASL PLAIN only when nginx says the client came over TLS', async () => {
    const overTls = await offeredMechanisms(tlsUrl);
    expect(overTls).toContain('PLAIN');
    expect(overTls).toContain('SCRAM-SHA-256');
    const overPlainHttp = await offeredMechanisms(plainUrl);
    expect(overPlainHttp).not.toContain('PLAIN');
    expect(overPlainHttp).toContain('SCRAM-SHA-256');
  });

  it('serves a plain-HTTP client through the same upstreams', async () => {
    const plain = await online({ wsUrl: plainUrl, domain: 'localhost' }, 'alice', 'plain');
    clients.push(plain);
    expect(nodeHolding(plain.jid)).toBeDefined();
  });

  it('passes health checks through to a node', async () => {
    const response = await fetch(plainUrl.replace('ws://', 'http://').replace('/xmpp-websocket', '/health'));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok' });
    expect(nginx.output()).not.toMatch(/\[(emerg|alert|crit)\]/);
  });
});
