import { afterAll, beforeAll, describe, it } from 'vitest';
import { STORAGE_KINDS, startTestServer, type TestClient, type TestServer } from './harness.js';
import {
  accountFactory,
  condition,
  errorFor,
  messageWith,
  type NodePair,
  online,
  PipeClient,
  POLL,
  startNodePair,
} from './message-helpers.js';

const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

describe.concurrent.each(STORAGE_KINDS)('message delivery (%s)', (storage) => {
  let server: TestServer;
  const accounts = accountFactory((username) => server.addUser(username));
  const clients: TestClient[] = [];
  const track = (...list: TestClient[]) => {
    clients.push(...list);
    return list;
  };

  beforeAll(async () => {
    server = await startTestServer({ storage });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await server.stop();
  });

  it('sends chat and normal messages to the highest-priority resource only', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const [a, high, low] = track(
      await online(server, alice!, 'desk'),
      await online(server, bob!, 'high', 5),
      await online(server, bob!, 'low', 1),
    );
    for (const type of ['chat', 'normal']) {
      const body = `hello ${type}`;
      await a!.send(`<message to="${bob}@localhost" type="${type}"><body>${body}</body></message>`);
      const got = await high!.inbox.waitFor(messageWith(body));
      expect(got.attrs.from).toBe(a!.jid);
      expect(got.attrs.to).toBe(`${bob}@localhost`);
      expect(await low!.inbox.nothing(messageWith(body))).toBe(true);
    }
  });

  it('sends to every resource sharing the highest priority', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const [a, one, two, lower] = track(
      await online(server, alice!, 'desk'),
      await online(server, bob!, 'one', 3),
      await online(server, bob!, 'two', 3),
      await online(server, bob!, 'three', 2),
    );
    await a!.send(`<message to="${bob}@localhost" type="chat"><body>tie</body></message>`);
    await one!.inbox.waitFor(messageWith('tie'));
    await two!.inbox.waitFor(messageWith('tie'));
    expect(await lower!.inbox.nothing(messageWith('tie'))).toBe(true);
  });

  it('sends headlines to every non-negative resource and never to a negative one', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const [a, high, low, hidden] = track(
      await online(server, alice!, 'desk'),
      await online(server, bob!, 'high', 5),
      await online(server, bob!, 'low', 0),
      await online(server, bob!, 'hidden', -1),
    );
    await a!.send(`<message to="${bob}@localhost" type="headline"><body>news</body></message>`);
    await high!.inbox.waitFor(messageWith('news'));
    await low!.inbox.waitFor(messageWith('news'));
    expect(await hidden!.inbox.nothing(messageWith('news'))).toBe(true);
  });

  it('keeps bare-JID messages away from negative-priority resources and stores them instead', async ({
    expect,
  }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const [a, hidden] = track(await online(server, alice!, 'desk'), await online(server, bob!, 'hidden', -1));
    await a!.send(`<message to="${bob}@localhost" type="chat"><body>for later</body></message>`);
    await expect.poll(() => server.strom.storage.offline.count(bob!), POLL).toBe(1);
    expect(await hidden!.inbox.nothing(messageWith('for later'))).toBe(true);
    expect(await a!.inbox.nothing(errorFor('for later'))).toBe(true);
  });

  it('delivers a message to a full JID to that resource whatever its priority', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const [a, high, low] = track(
      await online(server, alice!, 'desk'),
      await online(server, bob!, 'high', 5),
      await online(server, bob!, 'low', -1),
    );
    await a!.send(`<message to="${low!.jid}" type="chat"><body>just you</body></message>`);
    const got = await low!.inbox.waitFor(messageWith('just you'));
    expect(got.attrs.to).toBe(low!.jid);
    expect(await high!.inbox.nothing(messageWith('just you'))).toBe(true);
  });

  it('falls back to the bare JID when the addressed resource is offline', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const [a, high, low] = track(
      await online(server, alice!, 'desk'),
      await online(server, bob!, 'high', 5),
      await online(server, bob!, 'low', 1),
    );
    await a!.send(`<message to="${bob}@localhost/gone" type="chat"><body>where are you</body></message>`);
    await high!.inbox.waitFor(messageWith('where are you'));
    expect(await low!.inbox.nothing(messageWith('where are you'))).toBe(true);
    expect(await a!.inbox.nothing(errorFor('where are you'))).toBe(true);
  });

  it('stores a chat for an offline resource when the account has no resource online', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const [a] = track(await online(server, alice!, 'desk'));
    await a!.send(`<message to="${bob}@localhost/gone" type="chat"><body>stored</body></message>`);
    await expect.poll(() => server.strom.storage.offline.count(bob!), POLL).toBe(1);
  });

  it('answers groupchat to a bare JID with service-unavailable', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const [a, b] = track(await online(server, alice!, 'desk'), await online(server, bob!, 'phone'));
    await a!.send(`<message to="${bob}@localhost" type="groupchat"><body>room?</body></message>`);
    const error = await a!.inbox.waitFor(errorFor('room?'));
    expect(condition(error)?.name).toBe('service-unavailable');
    expect(error.attrs.from).toBe(`${bob}@localhost`);
    expect(await b!.inbox.nothing(messageWith('room?'))).toBe(true);
  });

  it('silently ignores an error message to a bare JID', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const [a, b] = track(await online(server, alice!, 'desk'), await online(server, bob!, 'phone'));
    await a!.send(
      `<message to="${bob}@localhost" type="error"><body>oops</body><error type="cancel"><item-not-found xmlns="${NS_STANZAS}"/></error></message>`,
    );
    expect(await b!.inbox.nothing(messageWith('oops'))).toBe(true);
    expect(await a!.inbox.nothing(messageWith('oops'))).toBe(true);
    expect(await server.strom.storage.offline.count(bob!)).toBe(0);
  });

  it('drops a headline for an account with nobody online, without storing it', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const [a] = track(await online(server, alice!, 'desk'));
    await a!.send(`<message to="${bob}@localhost" type="headline"><body>old news</body></message>`);
    expect(await a!.inbox.nothing(errorFor('old news'))).toBe(true);
    expect(await server.strom.storage.offline.count(bob!)).toBe(0);
  });

  it('answers a message for an account that does not exist with service-unavailable', async ({ expect }) => {
    const [alice] = await accounts('alice');
    const [a] = track(await online(server, alice!, 'desk'));
    await a!.send(`<message to="nobody-here@localhost" type="chat"><body>anyone?</body></message>`);
    const error = await a!.inbox.waitFor(errorFor('anyone?'));
    expect(condition(error)?.name).toBe('service-unavailable');
    expect(condition(error)?.getNS()).toBe(NS_STANZAS);
    expect(error.attrs.from).toBe('nobody-here@localhost');
    expect(error.attrs.to).toBe(a!.jid);
  });

  it('stamps the sender full JID as from, whatever the client wrote', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const [a, b] = track(await online(server, alice!, 'desk'), await online(server, bob!, 'phone'));
    await a!.send(
      `<message from="mallory@localhost/x" to="${bob}@localhost" type="chat"><body>forged</body></message>`,
    );
    expect((await b!.inbox.waitFor(messageWith('forged'))).attrs.from).toBe(a!.jid);
    await a!.send(
      `<message from="${alice}@localhost/stale" to="${b!.jid}" type="chat"><body>stale</body></message>`,
    );
    expect((await b!.inbox.waitFor(messageWith('stale'))).attrs.from).toBe(a!.jid);
  });

  it('delivers a message to the own bare JID to the own resources', async ({ expect }) => {
    const [alice] = await accounts('alice');
    const [one, two] = track(await online(server, alice!, 'one', 1), await online(server, alice!, 'two', 1));
    await one!.send(`<message to="${alice}@localhost" type="chat"><body>note to self</body></message>`);
    const got = await two!.inbox.waitFor(messageWith('note to self'));
    expect(got.attrs.from).toBe(one!.jid);
    await one!.inbox.waitFor(messageWith('note to self'));
  });

  it('keeps the payload of a delivered message intact', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const [a, b] = track(await online(server, alice!, 'desk'), await online(server, bob!, 'phone'));
    await a!.send(
      `<message to="${bob}@localhost" type="chat" id="m1"><body>payload</body><thread>t1</thread><active xmlns="http://jabber.org/protocol/chatstates"/></message>`,
    );
    const got = await b!.inbox.waitFor(messageWith('payload'));
    expect(got.attrs.id).toBe('m1');
    expect(got.getChildText('thread')).toBe('t1');
    expect(got.getChild('active', 'http://jabber.org/protocol/chatstates')).toBeDefined();
  });
});

describe.each(STORAGE_KINDS)('message delivery across nodes (%s)', (storage) => {
  let nodes: NodePair;
  const accounts = accountFactory((username) => nodes.a.createAccount(username, 'secret'));

  beforeAll(async () => {
    nodes = await startNodePair(storage);
  });
  afterAll(() => nodes.stop());

  /** A directory entry for a resource on a node that died and is not yet cleaned up. */
  const ghost = (jid: string, priority: number) =>
    nodes.a.cluster.register({ jid, node: 'node-gone', priority, available: true, interested: false });

  it('reaches a resource on another node and back', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const onA = await PipeClient.online(nodes.a, alice!, 'desk');
    const onB = await PipeClient.online(nodes.b, bob!, 'phone');
    onA.chat(`${bob}@localhost`, 'across');
    const got = await onB.nextStanza('across');
    expect(got.attrs.from).toBe(onA.jid);
    onB.chat(`${alice}@localhost`, 'and back');
    expect((await onA.nextStanza('and back')).attrs.from).toBe(onB.jid);
  });

  it('re-routes once to the next resource when the chosen ones sit on a dead node', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const sender = await PipeClient.online(nodes.a, alice!, 'desk');
    const phone = await PipeClient.online(nodes.b, bob!, 'phone', 1);
    await ghost(`${bob}@localhost/gone-1`, 10);
    await ghost(`${bob}@localhost/gone-2`, 10);
    sender.chat(`${bob}@localhost`, 'survivor');
    await phone.next('survivor');
    expect(await phone.nothing('survivor')).toBe(true);
    expect(await sender.nothing('type="error"')).toBe(true);
    expect(await nodes.storage.offline.count(bob!)).toBe(0);
  });

  it('stores the message once when its only resources sit on a dead node', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const sender = await PipeClient.online(nodes.a, alice!, 'desk');
    await ghost(`${bob}@localhost/gone-1`, 5);
    await ghost(`${bob}@localhost/gone-2`, 5);
    sender.chat(`${bob}@localhost`, 'later');
    await expect.poll(() => nodes.storage.offline.count(bob!), POLL).toBe(1);
    expect(await sender.nothing('type="error"')).toBe(true);
    expect(await nodes.storage.offline.count(bob!)).toBe(1);
  });
});
