import { parseElement } from '@strom/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisTarget, TcpProxy } from '../../../packages/cluster/src/test-proxy.js';
import {
  bareOf,
  befriend,
  FAST_CLUSTER_ENV,
  isMessageWith,
  isUnavailableFrom,
  online,
  type ProcessNode,
  readiness,
  settled,
  streamErrorOf,
  TEST_REDIS_URL,
  TestCluster,
  trackedOnline,
  waitUntil,
} from './cluster-harness.js';
import { connectClient, RawClient, type TestClient, WAIT_MS } from './harness.js';

const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';

/** Nodes as separate `strom serve` processes, so one can die like a real process does. */
describe('node failures', () => {
  let cluster: TestCluster;
  const clients: TestClient[] = [];
  const login = trackedOnline(clients);

  beforeAll(async () => {
    cluster = await TestCluster.create('faults');
    for (const user of ['alice', 'bob', 'erin', 'frank', 'gina']) await cluster.addUser(user);
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.stop()));
    await cluster?.close();
  });

  it('clears a killed node’s sessions within 15 s with the default timings; contacts see them leave, nothing sent to them is lost', async () => {
    // No timing overrides: this checks the documented bound itself.
    const [a, b] = await Promise.all([cluster.spawnNode('kill-a'), cluster.spawnNode('kill-b')]);
    const alice = await login(a, 'alice', 'doomed');
    const bob = await login(b, 'bob', 'survivor');
    await befriend(alice, bob);
    expect(await cluster.directory('alice@localhost')).toEqual([{ jid: alice.jid, node: 'kill-a' }]);

    const killedAt = Date.now();
    a.kill('SIGKILL');
    expect(await a.exited).toBeNull();

    // Until the node is declared dead the directory still points at it: nothing sent there may vanish.
    await bob.send(
      `<message to="${alice.jid}" type="chat" id="gap-1"><body>into the gap, full</body></message>`,
    );
    await bob.send(
      '<message to="alice@localhost" type="chat" id="gap-2"><body>into the gap, bare</body></message>',
    );
    const iq = await bob.iq(`<iq type="get" to="${alice.jid}"><query xmlns="urn:example:gap"/></iq>`);
    expect(iq.attrs.type).toBe('error');
    expect(iq.getChild('error')?.getChild('service-unavailable')).toBeDefined();
    await settled(bob);

    await bob.inbox.waitFor(
      isUnavailableFrom(alice.jid),
      16_000,
      'unavailable presence of the killed session',
    );
    const detectedAfter = Date.now() - killedAt;
    expect(detectedAfter).toBeLessThanOrEqual(15_000);
    expect(await cluster.directory('alice@localhost')).toEqual([]);
    expect(await readiness(b)).toMatchObject({ status: 200 });

    expect(await bob.inbox.nothing((el) => el.name === 'message' && el.attrs.type === 'error', 200)).toBe(
      true,
    );
    const back = await connectClient(b, { username: 'alice', resource: 'again', presence: true });
    clients.push(back);
    for (const body of ['into the gap, full', 'into the gap, bare']) {
      const stored = await back.inbox.waitFor(isMessageWith(body), WAIT_MS, `offline copy of "${body}"`);
      expect(stored.getChild('delay', 'urn:xmpp:delay')).toBeDefined();
    }
  }, 60_000);

  it('hands clients see-other-uri on graceful shutdown; their contacts see them leave', async () => {
    const b = await cluster.spawnNode('shutdown-b');
    const a = await cluster.spawnNode('shutdown-a', { SHUTDOWN_REDIRECT_URL: b.wsUrl });
    const erin = await login(a, 'erin', 'web');
    const frank = await login(b, 'frank', 'web');
    await befriend(erin, frank);
    const raw = await RawClient.connect(a.wsUrl);
    await raw.login('erin', 'secret', 'raw');

    a.kill('SIGTERM');
    expect(await raw.next('<close')).toBe(`<close xmlns="${FRAMING}" see-other-uri="${b.wsUrl}"/>`);
    expect(await a.exited).toBe(0);
    await frank.inbox.waitFor(isUnavailableFrom(erin.jid), WAIT_MS, 'unavailable presence after shutdown');
    expect(await cluster.directory('erin@localhost')).toEqual([]);

    // Following the redirect lands on a node that serves the same accounts.
    const moved = await online({ wsUrl: b.wsUrl, domain: 'localhost' }, 'erin', 'moved');
    clients.push(moved);
    await moved.send('<message to="frank@localhost" type="chat"><body>moved over</body></message>');
    await frank.inbox.waitFor(isMessageWith('moved over'));
  }, 60_000);

  it('ends streams with system-shutdown when no redirect is configured', async () => {
    const node = await cluster.spawnNode('shutdown-plain');
    const raw = await RawClient.connect(node.wsUrl);
    await raw.login('gina');
    node.kill('SIGTERM');
    expect(await raw.next('stream:error')).toContain(
      '<system-shutdown xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>',
    );
    expect(await node.exited).toBe(0);
    expect(await cluster.directory('gina@localhost')).toEqual([]);
  }, 60_000);
});

/**
 * Redis disappears while messages flow between two nodes (a relay in front of it is cut), loses
 * its data, and comes back. Every message must end up delivered, stored offline or bounced.
 */
describe('Redis outage', () => {
  let cluster: TestCluster;
  let proxy: TcpProxy;
  let a: ProcessNode;
  let b: ProcessNode;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    proxy = new TcpProxy(redisTarget(TEST_REDIS_URL));
    await proxy.start();
    cluster = await TestCluster.create('outage', { redisUrl: proxy.url });
    for (const user of ['carol', 'dave', 'hugo']) await cluster.addUser(user);
    [a, b] = await Promise.all([
      cluster.spawnNode('outage-a', FAST_CLUSTER_ENV),
      cluster.spawnNode('outage-b', FAST_CLUSTER_ENV),
    ]);
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.stop()));
    await cluster?.close();
    await proxy?.stop();
  });

  it('loses no message, reports degraded readiness, and re-registers sessions when Redis returns', async () => {
    const carol = await online(a, 'carol', 'sender');
    const dave = await online(b, 'dave', 'receiver');
    clients.push(carol, dave);
    const total = 240;
    const ids = Array.from({ length: total }, (_, i) => `m${i}`);
    const send = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        await carol.send(
          `<message to="dave@localhost" type="chat" id="${ids[i]}"><body>n ${i}</body></message>`,
        );
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };

    await send(0, 80);
    await proxy.stop();
    await send(80, 120);
    // Both nodes notice and say so, while still serving their own clients.
    await waitUntil(async () => (await readiness(a)).status === 503, WAIT_MS, 'node A degraded');
    await waitUntil(async () => (await readiness(b)).status === 503, WAIT_MS, 'node B degraded');
    expect((await readiness(a)).body).toMatchObject({
      status: 'not-ready',
      cluster: 'degraded',
      storage: 'ok',
    });
    await send(120, 160);
    await settled(carol);
    // Redis restarted empty: the directory has to be rebuilt by the nodes.
    await cluster.flushKeys();
    await proxy.start();
    await send(160, total);

    await waitUntil(async () => (await readiness(a)).status === 200, 15_000, 'node A ready again');
    await waitUntil(async () => (await readiness(b)).status === 200, 15_000, 'node B ready again');
    await waitUntil(
      async () => (await cluster.directory('dave@localhost')).some((e) => e.node === 'outage-b'),
      WAIT_MS,
      'dave registered again',
    );
    expect(await cluster.directory('carol@localhost')).toEqual([{ jid: carol.jid, node: 'outage-a' }]);
    await settled(carol);

    const outcome = async () => {
      const delivered = dave.inbox.all
        .filter(
          (el) =>
            el.name === 'message' && el.attrs.type === 'chat' && bareOf(el.attrs.from) === 'carol@localhost',
        )
        .map((el) => el.attrs.id!);
      const bounced = carol.inbox.all
        .filter((el) => el.name === 'message' && el.attrs.type === 'error')
        .map((el) => el.attrs.id!);
      const stored = (await cluster.storage.offline.list('dave')).map(
        (message) => parseElement(message.stanza).attrs.id!,
      );
      return { delivered, bounced, stored };
    };
    let result = await outcome();
    const accounted = () => result.delivered.length + result.bounced.length + result.stored.length;
    await waitUntil(
      async () => {
        result = await outcome();
        return accounted() >= total;
      },
      10_000,
      'every message accounted for',
    );
    const seen = [...result.delivered, ...result.bounced, ...result.stored].sort();
    // Each message exactly once: none lost, none both delivered and stored.
    expect(seen).toEqual([...ids].sort());
    // Messages were delivered before and after the outage; the rest went to offline storage.
    expect(result.delivered.length).toBeGreaterThan(0);
    expect(result.stored.length).toBeGreaterThan(0);

    // Routing across nodes works again after the outage.
    await carol.send('<message to="dave@localhost" type="chat"><body>after the outage</body></message>');
    await dave.inbox.waitFor(isMessageWith('after the outage'));
  }, 90_000);

  it('settles a full JID bound on two nodes during the outage with one conflict once Redis returns', async () => {
    await proxy.stop();
    await waitUntil(async () => (await readiness(a)).status === 503, WAIT_MS, 'node A degraded');
    await waitUntil(async () => (await readiness(b)).status === 503, WAIT_MS, 'node B degraded');
    // Each node only sees its own sessions now, so both accept the same full JID.
    const onA = await online(a, 'hugo', 'twice');
    const onB = await online(b, 'hugo', 'twice');
    clients.push(onA, onB);
    const endings = [onA, onB].map((client, index) =>
      streamErrorOf(client).then((condition) => ({ index, condition })),
    );
    await proxy.start();
    const first = await Promise.race([
      ...endings,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 15_000)),
    ]);
    expect(first?.condition).toBe('conflict');
    const survivor = first!.index === 0 ? b : a;
    await waitUntil(async () => (await readiness(a)).status === 200, 15_000, 'node A ready again');
    await waitUntil(async () => (await readiness(b)).status === 200, 15_000, 'node B ready again');
    expect(await cluster.directory('hugo@localhost')).toEqual([
      { jid: 'hugo@localhost/twice', node: survivor.id },
    ]);
    // The session that stayed is the one the directory names, and it is reachable from the other node.
    const stayed = first!.index === 0 ? onB : onA;
    const carol = clients.find((client) => bareOf(client.jid) === 'carol@localhost')!;
    await carol.send('<message to="hugo@localhost/twice" type="chat"><body>which one</body></message>');
    await stayed.inbox.waitFor(isMessageWith('which one'));
  }, 60_000);
});
