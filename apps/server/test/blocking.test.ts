import { JID } from '@strom/jid';
import { itemCovers, matchesBlocklist, presenceTargets } from '@strom/modules';
import type { Element } from '@strom/xml';
import { afterAll, beforeAll, describe, it } from 'vitest';
import {
  connectClient,
  STORAGE_KINDS,
  startTestServer,
  type TestClient,
  type TestServer,
} from './harness.js';
import { discoFeatures, storeMutualSubscription } from './im-helpers.js';
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

const NS_BLOCKING = 'urn:xmpp:blocking';
const NS_BLOCKING_ERRORS = 'urn:xmpp:blocking:errors';

const pushOf = (name: 'block' | 'unblock') => (s: Element) =>
  s.name === 'iq' && s.attrs.type === 'set' && s.getChild(name, NS_BLOCKING) !== undefined;
const itemJids = (el: Element | undefined) => (el?.getChildren('item') ?? []).map((item) => item.attrs.jid);

describe.concurrent.each(STORAGE_KINDS)('blocking (%s)', (storage) => {
  let server: TestServer;
  const accounts = accountFactory((username) => server.addUser(username));
  const clients: TestClient[] = [];
  const track = <T extends TestClient>(client: T): T => {
    clients.push(client);
    return client;
  };
  const blocklist = async (client: TestClient) =>
    itemJids(
      (await client.iq(`<iq type="get"><blocklist xmlns="${NS_BLOCKING}"/></iq>`)).getChild('blocklist'),
    );
  const block = (client: TestClient, ...jids: string[]) =>
    client.iq(
      `<iq type="set"><block xmlns="${NS_BLOCKING}">${jids.map((j) => `<item jid="${j}"/>`).join('')}</block></iq>`,
    );
  const unblock = (client: TestClient, ...jids: string[]) =>
    client.iq(
      `<iq type="set"><unblock xmlns="${NS_BLOCKING}">${jids.map((j) => `<item jid="${j}"/>`).join('')}</unblock></iq>`,
    );
  const befriend = (a: string, b: string) => storeMutualSubscription(server.strom.storage, a, b);

  beforeAll(async () => {
    server = await startTestServer({ storage });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await server.stop();
  });

  it('advertises urn:xmpp:blocking', async ({ expect }) => {
    const [alice] = await accounts('alice');
    const a = track(await connectClient(server, { username: alice! }));
    expect(await discoFeatures(a, 'localhost')).toContain(NS_BLOCKING);
  });

  it('keeps the blocklist and pushes each change to every resource that asked for it', async ({ expect }) => {
    const [bob] = await accounts('bob');
    const one = track(await online(server, bob!, 'one'));
    const two = track(await online(server, bob!, 'two'));
    const three = track(await online(server, bob!, 'three'));
    expect(await blocklist(one)).toEqual([]);
    expect(await blocklist(two)).toEqual([]);

    const result = await block(one, 'Mallory@Evil.Example', 'eve@localhost/phone');
    expect(result.attrs.type).toBe('result');
    for (const client of [one, two]) {
      const push = await client.inbox.waitFor(pushOf('block'));
      expect(push.attrs.to).toBe(client.jid);
      expect(itemJids(push.getChild('block')).sort()).toEqual([
        'eve@localhost/phone',
        'mallory@evil.example',
      ]);
      await client.send(`<iq type="result" id="${push.attrs.id}"/>`);
    }
    // XEP-0191: pushes go to resources that requested the blocklist.
    expect(await three.inbox.nothing(pushOf('block'))).toBe(true);
    expect(await blocklist(two)).toEqual(['eve@localhost/phone', 'mallory@evil.example']);

    expect((await unblock(two, 'eve@localhost/phone')).attrs.type).toBe('result');
    for (const client of [one, two]) {
      const push = await client.inbox.waitFor(pushOf('unblock'));
      expect(itemJids(push.getChild('unblock'))).toEqual(['eve@localhost/phone']);
    }
    expect(await blocklist(one)).toEqual(['mallory@evil.example']);

    await block(one, 'eve@localhost');
    await one.inbox.waitFor(pushOf('block'));
    await two.inbox.waitFor(pushOf('block'));
    expect((await unblock(one)).attrs.type).toBe('result');
    for (const client of [one, two]) {
      const push = await client.inbox.waitFor(pushOf('unblock'));
      expect(push.getChild('unblock')!.getChildren('item')).toHaveLength(0);
    }
    expect(await blocklist(one)).toEqual([]);
    await expect.poll(() => server.strom.storage.blocklist.list(bob!), POLL).toEqual([]);
  });

  it('rejects block requests without items or with a malformed JID', async ({ expect }) => {
    const [bob] = await accounts('bob');
    const b = track(await online(server, bob!, 'one'));
    const empty = await block(b);
    expect(empty.attrs.type).toBe('error');
    expect(condition(empty)?.name).toBe('bad-request');
    const malformed = await block(b, 'fine@localhost', 'not@@valid');
    expect(malformed.attrs.type).toBe('error');
    expect(condition(malformed)?.name).toBe('jid-malformed');
    const missing = await b.iq(`<iq type="set"><block xmlns="${NS_BLOCKING}"><item/></block></iq>`);
    expect(condition(missing)?.name).toBe('bad-request');
    expect(await blocklist(b)).toEqual([]);
  });

  it('lets nothing from a blocked JID reach the user, who appears offline to it', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = track(await online(server, alice!, 'desk'));
    const b = track(await online(server, bob!, 'phone'));
    expect((await block(b, `${alice}@localhost`)).attrs.type).toBe('result');

    for (const to of [`${bob}@localhost`, b.jid]) {
      const body = `hello ${to}`;
      await a.send(`<message to="${to}" type="chat"><body>${body}</body></message>`);
      const error = await a.inbox.waitFor(errorFor(body));
      expect(condition(error)?.name).toBe('service-unavailable');
      expect(error.getChild('error')!.getChild('blocked', NS_BLOCKING_ERRORS)).toBeUndefined();
      expect(await b.inbox.nothing(messageWith(body))).toBe(true);
    }
    // Not kept for later either.
    expect(await server.strom.storage.offline.count(bob!)).toBe(0);

    const ping = await a.iq(`<iq type="get" to="${b.jid}"><ping xmlns="urn:xmpp:ping"/></iq>`);
    expect(ping.attrs.type).toBe('error');
    expect(condition(ping)?.name).toBe('service-unavailable');
    const vcard = await a.iq(`<iq type="get" to="${bob}@localhost"><vCard xmlns="vcard-temp"/></iq>`);
    expect(condition(vcard)?.name).toBe('service-unavailable');

    await a.send(`<presence to="${b.jid}"><status>directed</status></presence>`);
    await a.send(`<presence to="${bob}@localhost" type="subscribe"/>`);
    await a.send(`<presence to="${bob}@localhost" type="probe"/>`);
    expect(
      await b.inbox.nothing((s) => s.name === 'presence' && s.attrs.from?.startsWith(alice!) === true),
    ).toBe(true);
    expect(await a.inbox.nothing((s) => s.name === 'presence' && s.attrs.type === 'error')).toBe(true);
    expect(await b.inbox.nothing((s) => s.name === 'iq' && s.attrs.from === a.jid)).toBe(true);
  });

  it('refuses what the user sends to a blocked JID with not-acceptable and <blocked/>', async ({
    expect,
  }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = track(await online(server, alice!, 'desk'));
    const b = track(await online(server, bob!, 'phone'));
    await block(b, `${alice}@localhost`);

    const isBlockedError = (s: Element) =>
      s.attrs.type === 'error' &&
      condition(s)?.name === 'not-acceptable' &&
      s.getChild('error')!.getChild('blocked', NS_BLOCKING_ERRORS) !== undefined;

    await b.send(`<message to="${alice}@localhost" type="chat"><body>can you hear me</body></message>`);
    expect(isBlockedError(await b.inbox.waitFor(errorFor('can you hear me')))).toBe(true);
    await b.send(`<message to="${a.jid}" type="chat"><body>and now</body></message>`);
    expect(isBlockedError(await b.inbox.waitFor(errorFor('and now')))).toBe(true);
    expect(await a.inbox.nothing((s) => s.name === 'message')).toBe(true);

    const iq = await b.iq(`<iq type="get" to="${a.jid}"><ping xmlns="urn:xmpp:ping"/></iq>`);
    expect(isBlockedError(iq)).toBe(true);

    await b.send(`<presence to="${a.jid}" id="directed"><status>hi</status></presence>`);
    const presenceError = await b.inbox.waitFor((s) => s.name === 'presence' && s.attrs.id === 'directed');
    expect(isBlockedError(presenceError)).toBe(true);
    expect(await a.inbox.nothing((s) => s.name === 'presence' && s.attrs.from === b.jid)).toBe(true);
  });

  it('hides the presence of each from the other, and restores it on unblock', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    await befriend(alice!, bob!);
    const a = track(await online(server, alice!, 'desk'));
    const b = track(await online(server, bob!, 'phone'));
    await a.inbox.waitFor(
      (s) => s.name === 'presence' && s.attrs.from === b.jid && s.attrs.type === undefined,
    );

    await block(b, `${alice}@localhost`);
    // XEP-0191 §3.3: the blocked contact sees the user go offline.
    const gone = await a.inbox.waitFor((s) => s.name === 'presence' && s.attrs.from === b.jid);
    expect(gone.attrs.type).toBe('unavailable');

    await b.send('<presence><show>away</show></presence>');
    await b.inbox.waitFor(
      (s) => s.name === 'presence' && s.attrs.from === b.jid && s.getChildText('show') === 'away',
    );
    expect(await a.inbox.nothing((s) => s.name === 'presence' && s.attrs.from === b.jid)).toBe(true);
    await a.send('<presence><show>dnd</show></presence>');
    expect(await b.inbox.nothing((s) => s.name === 'presence' && s.getChildText('show') === 'dnd')).toBe(
      true,
    );

    await unblock(b, `${alice}@localhost`);
    // XEP-0191 §3.4: and sees the user's current presence again.
    const back = await a.inbox.waitFor((s) => s.name === 'presence' && s.attrs.from === b.jid);
    expect(back.attrs.type).toBeUndefined();
    expect(back.getChildText('show')).toBe('away');

    await a.send(`<message to="${bob}@localhost" type="chat"><body>friends again</body></message>`);
    await b.inbox.waitFor(messageWith('friends again'));
  });

  it('keeps presence apart when the blocked contact logs in later', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    await befriend(alice!, bob!);
    const b = track(await online(server, bob!, 'phone'));
    await block(b, `${alice}@localhost`);
    const a = track(await online(server, alice!, 'desk'));
    expect(await a.inbox.nothing((s) => s.name === 'presence' && s.attrs.from === b.jid)).toBe(true);
    expect(await b.inbox.nothing((s) => s.name === 'presence' && s.attrs.from === a.jid)).toBe(true);
  });

  it('matches a single resource or a whole domain', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const evil = track(await online(server, alice!, 'evil'));
    const good = track(await online(server, alice!, 'good'));
    const b = track(await online(server, bob!, 'phone'));
    await block(b, `${alice}@localhost/evil`, 'spam.example');

    await evil.send(`<message to="${bob}@localhost" type="chat"><body>from evil</body></message>`);
    expect(condition(await evil.inbox.waitFor(errorFor('from evil')))?.name).toBe('service-unavailable');
    await good.send(`<message to="${bob}@localhost" type="chat"><body>from good</body></message>`);
    await b.inbox.waitFor(messageWith('from good'));

    await b.send(`<message to="someone@spam.example" type="chat"><body>to spam</body></message>`);
    const error = await b.inbox.waitFor(errorFor('to spam'));
    expect(condition(error)?.name).toBe('not-acceptable');
  });

  it('never blocks the own account or the own server', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = track(await online(server, alice!, 'desk'));
    const one = track(await online(server, bob!, 'one', 1));
    const two = track(await online(server, bob!, 'two', 1));
    await block(one, 'localhost', `${bob}@localhost`);

    await one.send(`<message to="${two.jid}" type="chat"><body>to myself</body></message>`);
    await two.inbox.waitFor(messageWith('to myself'));
    const ping = await one.iq('<iq type="get" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>');
    expect(ping.attrs.type).toBe('result');
    // The domain item covers every other account here.
    await a.send(`<message to="${bob}@localhost" type="chat"><body>neighbour</body></message>`);
    expect(condition(await a.inbox.waitFor(errorFor('neighbour')))?.name).toBe('service-unavailable');
  });
});

describe('blocklist matching (XEP-0191 §5)', () => {
  const list = (...jids: string[]) => new Set(jids);
  const jid = (s: string) => JID.parse(s);

  it('matches a full JID only for that resource', ({ expect }) => {
    const blocked = list('romeo@montague.lit/orchard');
    expect(matchesBlocklist(blocked, jid('romeo@montague.lit/orchard'))).toBe(true);
    expect(matchesBlocklist(blocked, jid('romeo@montague.lit/balcony'))).toBe(false);
    expect(matchesBlocklist(blocked, jid('romeo@montague.lit'))).toBe(false);
  });

  it('matches a bare JID for every resource', ({ expect }) => {
    const blocked = list('romeo@montague.lit');
    expect(matchesBlocklist(blocked, jid('romeo@montague.lit'))).toBe(true);
    expect(matchesBlocklist(blocked, jid('romeo@montague.lit/orchard'))).toBe(true);
    expect(matchesBlocklist(blocked, jid('benvolio@montague.lit'))).toBe(false);
  });

  it('matches domain/resource for that resource on the domain', ({ expect }) => {
    const blocked = list('montague.lit/orchard');
    expect(matchesBlocklist(blocked, jid('montague.lit/orchard'))).toBe(true);
    expect(matchesBlocklist(blocked, jid('romeo@montague.lit/orchard'))).toBe(true);
    expect(matchesBlocklist(blocked, jid('romeo@montague.lit/balcony'))).toBe(false);
    expect(matchesBlocklist(blocked, jid('montague.lit'))).toBe(false);
  });

  it('matches a domain for the domain and every address at it', ({ expect }) => {
    const blocked = list('montague.lit');
    for (const other of [
      'montague.lit',
      'montague.lit/x',
      'romeo@montague.lit',
      'romeo@montague.lit/orchard',
    ]) {
      expect(matchesBlocklist(blocked, jid(other))).toBe(true);
    }
    expect(matchesBlocklist(blocked, jid('juliet@capulet.lit'))).toBe(false);
    expect(matchesBlocklist(blocked, jid('sub.montague.lit'))).toBe(false);
  });

  it('agrees item by item with the set lookup', ({ expect }) => {
    const items = ['r@m.lit/o', 'r@m.lit', 'm.lit/o', 'm.lit', 'j@c.lit'];
    const others = [
      'r@m.lit/o',
      'r@m.lit/b',
      'r@m.lit',
      'b@m.lit/o',
      'm.lit/o',
      'm.lit',
      'j@c.lit/x',
      'c.lit',
    ];
    for (const item of items) {
      for (const other of others) {
        expect(itemCovers(jid(item), jid(other)), `${item} covers ${other}`).toBe(
          matchesBlocklist(list(item), jid(other)),
        );
      }
    }
  });

  it('finds who must hear about a block among contacts allowed to see presence', ({ expect }) => {
    const contacts = ['romeo@montague.lit', 'benvolio@montague.lit', 'nurse@capulet.lit'];
    expect(presenceTargets([jid('romeo@montague.lit')], contacts)).toEqual(['romeo@montague.lit']);
    expect(presenceTargets([jid('montague.lit')], contacts).sort()).toEqual([
      'benvolio@montague.lit',
      'romeo@montague.lit',
    ]);
    expect(presenceTargets([jid('romeo@montague.lit/orchard')], contacts)).toEqual([
      'romeo@montague.lit/orchard',
    ]);
    expect(presenceTargets([jid('tybalt@capulet.lit')], contacts)).toEqual([]);
  });
});

describe.each(STORAGE_KINDS)('blocking across nodes (%s)', (storage) => {
  let nodes: NodePair;
  const accounts = accountFactory((username) => nodes.a.createAccount(username, 'secret'));

  beforeAll(async () => {
    nodes = await startNodePair(storage);
  });
  afterAll(() => nodes.stop());

  /** Blocks `jid` for the client's account and waits for the answer. */
  const blockVia = async (client: PipeClient, id: string, jid: string) => {
    client.stanza(
      `<iq xmlns="jabber:client" type="set" id="${id}"><block xmlns="${NS_BLOCKING}"><item jid="${jid}"/></block></iq>`,
    );
    await client.next(`id="${id}"`);
  };

  it('takes effect at once on the node of the blocked sender, and so does unblocking', async ({ expect }) => {
    const [alice, bob] = await accounts('alice', 'bob');
    const sender = await PipeClient.online(nodes.a, alice!, 'desk');
    const user = await PipeClient.online(nodes.b, bob!, 'phone');
    const say = (body: string) => sender.chat(`${bob}@localhost`, body);

    // Node A now holds bob's (empty) blocklist in its cache.
    say('before');
    await user.next('before');

    await blockVia(user, 'b1', `${alice}@localhost`);
    say('while blocked');
    const error = await sender.nextStanza('while blocked');
    expect(error.attrs.type).toBe('error');
    expect(condition(error)?.name).toBe('service-unavailable');
    expect(await user.nothing('while blocked')).toBe(true);

    user.stanza(`<iq xmlns="jabber:client" type="set" id="u1"><unblock xmlns="${NS_BLOCKING}"/></iq>`);
    await user.next('id="u1"');
    say('after');
    await user.next('after');
  });

  it('keeps out a blocked user who logs in later on a node that had the list cached', async ({ expect }) => {
    const [alice, bob, carol] = await accounts('alice', 'bob', 'carol');
    const sender = await PipeClient.online(nodes.a, alice!, 'desk');
    const user = await PipeClient.online(nodes.b, bob!, 'phone');
    // Node A caches bob's (empty) blocklist while routing alice's message.
    sender.chat(`${bob}@localhost`, 'warm');
    await user.next('warm');
    // carol has no session anywhere when bob blocks her, so no node is told about her.
    await blockVia(user, 'b2', `${carol}@localhost`);

    const late = await PipeClient.online(nodes.a, carol!, 'late');
    late.chat(`${bob}@localhost`, 'let me in');
    expect(condition(await late.nextStanza('let me in'))?.name).toBe('service-unavailable');
    expect(await user.nothing('let me in')).toBe(true);
    // Everyone else on node A still gets through.
    sender.chat(`${bob}@localhost`, 'still fine');
    await user.next('still fine');
  });

  it("applies the user's own block on a node they log in to later", async ({ expect }) => {
    const [alice, bob, carol] = await accounts('alice', 'bob', 'carol');
    const warmer = await PipeClient.online(nodes.a, carol!, 'desk');
    const phone = await PipeClient.online(nodes.b, bob!, 'phone');
    // Node A caches bob's (empty) blocklist while routing carol's message.
    warmer.chat(`${bob}@localhost`, 'warm');
    await phone.next('warm');
    // alice is offline: only node B hears of the block.
    await blockVia(phone, 'b3', `${alice}@localhost`);

    const laptop = await PipeClient.online(nodes.a, bob!, 'laptop');
    laptop.chat(`${alice}@localhost`, 'blocked one');
    const error = await laptop.nextStanza('blocked one');
    expect(condition(error)?.name).toBe('not-acceptable');
    expect(await nodes.storage.offline.count(alice!)).toBe(0);
  });
});
