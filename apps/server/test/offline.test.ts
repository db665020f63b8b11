import { afterAll, beforeAll, describe, it } from 'vitest';
import {
  connectClient,
  STORAGE_KINDS,
  startTestServer,
  type TestClient,
  type TestServer,
} from './harness.js';
import { discoFeatures } from './im-helpers.js';
import {
  accountFactory,
  condition,
  errorFor,
  messageWith,
  online,
  PipeClient,
  POLL,
  startNodePair,
} from './message-helpers.js';

const NS_DELAY = 'urn:xmpp:delay';

describe.concurrent.each(STORAGE_KINDS)('offline messages (%s)', (storage) => {
  let server: TestServer;
  const accounts = accountFactory((username) => server.addUser(username));
  const clients: TestClient[] = [];
  const track = <T extends TestClient>(client: T): T => {
    clients.push(client);
    return client;
  };
  const count = (username: string) => server.strom.storage.offline.count(username);

  beforeAll(async () => {
    server = await startTestServer({ storage });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await server.stop();
  });

  it('stores while offline and delivers once, with a delay, on the next login', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = track(await online(server, alice!, 'desk'));
    const sentAt = Date.now();
    await a.send(`<message to="${bob}@localhost" type="chat" id="first"><body>one</body></message>`);
    await a.send(`<message to="${bob}@localhost"><body>two</body></message>`);
    await expect.poll(() => count(bob!), POLL).toBe(2);
    expect(await a.inbox.nothing((s) => s.attrs.type === 'error')).toBe(true);

    const b = track(await online(server, bob!, 'phone'));
    const first = await b.inbox.waitFor(messageWith('one'));
    const second = await b.inbox.waitFor(messageWith('two'));
    // Oldest first, as sent, from the sender's full JID.
    expect(b.inbox.all.indexOf(first)).toBe(-1);
    expect(first.attrs).toMatchObject({ from: a.jid, to: `${bob}@localhost`, type: 'chat', id: 'first' });
    expect(second.attrs.from).toBe(a.jid);
    for (const message of [first, second]) {
      const delays = message.getChildren('delay', NS_DELAY);
      expect(delays).toHaveLength(1);
      expect(delays[0]!.attrs.from).toBe('localhost');
      const stamp = delays[0]!.attrs.stamp!;
      expect(stamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      expect(Math.abs(Date.parse(stamp) - sentAt)).toBeLessThan(5000);
    }
    await expect.poll(() => count(bob!), POLL).toBe(0);
    expect(await b.inbox.nothing(messageWith('one'), 500)).toBe(true);

    // A second login finds nothing left.
    const again = track(await online(server, bob!, 'tablet'));
    expect(await again.inbox.nothing(messageWith('one'))).toBe(true);
  });

  it('keeps the messages delivered in the order they were sent', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = track(await online(server, alice!, 'desk'));
    const bodies = Array.from({ length: 12 }, (_, i) => `m${i}`);
    for (const body of bodies)
      await a.send(`<message to="${bob}@localhost" type="chat"><body>${body}</body></message>`);
    await expect.poll(() => count(bob!), POLL).toBe(bodies.length);
    const b = track(await online(server, bob!, 'phone'));
    await b.inbox.waitFor(messageWith(bodies.at(-1)!));
    const received = b.inbox.all.filter((s) => s.name === 'message').map((s) => s.getChildText('body'));
    expect(received).toEqual(bodies.slice(0, -1));
  });

  it('delivers exactly once when two resources come online at the same time', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = track(await online(server, alice!, 'desk'));
    const bodies = Array.from({ length: 5 }, (_, i) => `race ${i}`);
    for (const body of bodies)
      await a.send(`<message to="${bob}@localhost" type="chat"><body>${body}</body></message>`);
    await expect.poll(() => count(bob!), POLL).toBe(bodies.length);

    const [one, two] = await Promise.all([
      connectClient(server, { username: bob!, resource: 'one' }),
      connectClient(server, { username: bob!, resource: 'two' }),
    ]);
    track(one);
    track(two);
    await Promise.all([one.send('<presence/>'), two.send('<presence/>')]);
    await expect.poll(() => count(bob!), POLL).toBe(0);
    // Give any duplicate time to arrive before counting, on connections shown to be alive.
    await Promise.all([one.inbox.quiet(500), two.inbox.quiet(500)]);
    const received = [...one.inbox.all, ...two.inbox.all]
      .filter((s) => s.name === 'message')
      .map((s) => s.getChildText('body'))
      .sort();
    expect(received).toEqual([...bodies].sort());
  });

  it('honours the no-store hint by bouncing instead of storing', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = track(await online(server, alice!, 'desk'));
    await a.send(
      `<message to="${bob}@localhost" type="chat"><body>ephemeral</body><no-store xmlns="urn:xmpp:hints"/></message>`,
    );
    const error = await a.inbox.waitFor(errorFor('ephemeral'));
    expect(condition(error)?.name).toBe('service-unavailable');
    expect(await count(bob!)).toBe(0);
  });

  it('discards chat-state-only notifications and headlines without storing them', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = track(await online(server, alice!, 'desk'));
    await a.send(
      `<message to="${bob}@localhost" type="chat" id="typing"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>`,
    );
    await a.send(`<message to="${bob}@localhost" type="headline"><body>flash</body></message>`);
    // A chat state with a body is a real message and is kept.
    await a.send(
      `<message to="${bob}@localhost" type="chat"><body>kept</body><active xmlns="http://jabber.org/protocol/chatstates"/></message>`,
    );
    await expect.poll(() => count(bob!), POLL).toBe(1);
    expect(await a.inbox.nothing((s) => s.attrs.type === 'error')).toBe(true);
    const [stored] = await server.strom.storage.offline.list(bob!);
    expect(stored!.stanza).toContain('kept');
  });

  it('replaces a delay the sender claims came from this server', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = track(await online(server, alice!, 'desk'));
    await a.send(
      `<message to="${bob}@localhost" type="chat"><body>forged delay</body><delay xmlns="${NS_DELAY}" from="localhost" stamp="2001-01-01T00:00:00Z"/><delay xmlns="${NS_DELAY}" from="elsewhere.example" stamp="2002-02-02T00:00:00Z"/></message>`,
    );
    await expect.poll(() => count(bob!), POLL).toBe(1);
    const b = track(await online(server, bob!, 'phone'));
    const got = await b.inbox.waitFor(messageWith('forged delay'));
    const ours = got.getChildren('delay', NS_DELAY).filter((d) => d.attrs.from === 'localhost');
    expect(ours).toHaveLength(1);
    expect(ours[0]!.attrs.stamp).not.toBe('2001-01-01T00:00:00Z');
    expect(got.getChildren('delay', NS_DELAY).some((d) => d.attrs.from === 'elsewhere.example')).toBe(true);
  });

  it('waits for a resource with non-negative priority', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = track(await online(server, alice!, 'desk'));
    await a.send(`<message to="${bob}@localhost" type="chat"><body>patience</body></message>`);
    await expect.poll(() => count(bob!), POLL).toBe(1);
    const hidden = track(await online(server, bob!, 'hidden', -1));
    expect(await hidden.inbox.nothing(messageWith('patience'))).toBe(true);
    expect(await count(bob!)).toBe(1);
    const visible = track(await online(server, bob!, 'visible', 1));
    await visible.inbox.waitFor(messageWith('patience'));
    await expect.poll(() => count(bob!), POLL).toBe(0);
  });

  it('does not deliver to a session that only bound, without presence', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = track(await online(server, alice!, 'desk'));
    const b = track(await connectClient(server, { username: bob!, resource: 'quiet' }));
    await a.send(`<message to="${bob}@localhost" type="chat"><body>not yet</body></message>`);
    await expect.poll(() => count(bob!), POLL).toBe(1);
    expect(await b.inbox.nothing(messageWith('not yet'))).toBe(true);
  });

  it('advertises msgoffline', async ({ expect }) => {
    const [alice] = await accounts('alice');
    const a = track(await connectClient(server, { username: alice! }));
    expect(await discoFeatures(a, 'localhost')).toContain('msgoffline');
  });
});

describe.each(STORAGE_KINDS)('offline message quota (%s)', (storage) => {
  let server: TestServer;
  let disabled: TestServer;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    server = await startTestServer({ storage, env: { OFFLINE_QUOTA: '3' } });
    disabled = await startTestServer({ storage, env: { OFFLINE_QUOTA: '0' } });
    for (const s of [server, disabled]) {
      await s.addUser('alice');
      await s.addUser('bob');
    }
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await server.stop();
    await disabled.stop();
  });

  it('answers resource-constraint beyond OFFLINE_QUOTA and never loses a message silently', async ({
    expect,
  }) => {
    const alice = await online(server, 'alice', 'desk');
    clients.push(alice);
    for (let i = 0; i < 3; i++) {
      await alice.send(`<message to="bob@localhost" type="chat"><body>fits ${i}</body></message>`);
    }
    await expect.poll(() => server.strom.storage.offline.count('bob'), POLL).toBe(3);
    await alice.send('<message to="bob@localhost" type="chat"><body>one too many</body></message>');
    const error = await alice.inbox.waitFor(errorFor('one too many'));
    expect(condition(error)?.name).toBe('resource-constraint');
    expect(error.getChild('error')?.attrs.type).toBe('wait');
    expect(error.getChild('error')?.getChildText('text')).toMatch(/too many messages/);
    expect(await server.strom.storage.offline.count('bob')).toBe(3);
    expect(await alice.inbox.nothing(errorFor('fits 0'))).toBe(true);

    // Once the queue is delivered there is room again.
    const bob = await online(server, 'bob', 'phone');
    clients.push(bob);
    for (let i = 0; i < 3; i++) await bob.inbox.waitFor(messageWith(`fits ${i}`));
    await expect.poll(() => server.strom.storage.offline.count('bob'), POLL).toBe(0);
  });

  it('turns offline storage off with OFFLINE_QUOTA=0: service-unavailable, no msgoffline', async ({
    expect,
  }) => {
    const alice = await online(disabled, 'alice', 'desk');
    clients.push(alice);
    await alice.send('<message to="bob@localhost" type="chat"><body>nowhere to go</body></message>');
    const error = await alice.inbox.waitFor(errorFor('nowhere to go'));
    expect(condition(error)?.name).toBe('service-unavailable');
    expect(await disabled.strom.storage.offline.count('bob')).toBe(0);
    expect(await discoFeatures(alice, 'localhost')).not.toContain('msgoffline');
  });
});

describe('offline messages across nodes', () => {
  it('hands each stored message to exactly one of two resources coming online at once on two nodes', async ({
    expect,
  }) => {
    const pair = await startNodePair('postgres');
    try {
      for (const name of ['alice', 'bob']) await pair.a.createAccount(name, 'secret');
      const total = 120;
      for (let n = 0; n < total; n++) {
        await pair.storage.offline.store(
          'bob',
          `<message xmlns="jabber:client" from="alice@localhost/x" to="bob@localhost" type="chat" id="m${n}"><body>${n}</body></message>`,
          1000,
        );
      }
      const [onA, onB] = await Promise.all([
        PipeClient.online(pair.a, 'bob', 'one'),
        PipeClient.online(pair.b, 'bob', 'two'),
      ]);
      await expect.poll(() => onA.count('<body>') + onB.count('<body>'), POLL).toBe(total);
      await expect.poll(() => pair.storage.offline.count('bob'), POLL).toBe(0);
      // Quiet, alive, and still exactly once each.
      expect(await onA.nothing('<body>never</body>')).toBe(true);
      const seen = [...onA.taken('<body>'), ...onB.taken('<body>')].map(
        (frame) => /id="(m\d+)"/.exec(frame)?.[1],
      );
      expect(new Set(seen).size).toBe(total);
    } finally {
      await pair.stop();
    }
  });
});
