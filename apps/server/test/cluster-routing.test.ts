import { createHash } from 'node:crypto';
import type { Element } from '@strom/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bareOf,
  befriend,
  type InProcessNode,
  isAvailableFrom,
  isMessageWith,
  isUnavailableFrom,
  settled,
  sleep,
  streamErrorOf,
  TestCluster,
  trackedOnline,
  waitUntil,
} from './cluster-harness.js';
import { connectClient, type TestClient, WAIT_MS, xmlOf } from './harness.js';
import { storeMutualSubscription } from './im-helpers.js';

/** Contacts of one user, spread over two other nodes, for the fan-out test. */
const WATCHERS = Array.from({ length: 15 }, (_, i) => `watcher${i + 1}`);

/** The part of @xmpp/client's IQ responder the tests use (its typings leave it untyped). */
interface IqCallee {
  get(ns: string, name: string, handler: () => unknown): void;
}

/**
 * Three nodes in this process sharing Redis and PostgreSQL: every IM rule must hold when the two
 * ends of a conversation sit on different nodes.
 */
describe('routing across three nodes', () => {
  let cluster: TestCluster;
  let a: InProcessNode;
  let b: InProcessNode;
  let c: InProcessNode;
  const clients: TestClient[] = [];
  const login = trackedOnline(clients);

  beforeAll(async () => {
    cluster = await TestCluster.create('routing');
    [a, b, c] = await Promise.all([
      cluster.startNode('node-a'),
      cluster.startNode('node-b'),
      cluster.startNode('node-c'),
    ]);
    for (const user of [
      'alice',
      'bob',
      'carol',
      'dave',
      'erin',
      'frank',
      'grace',
      'henry',
      'ivan',
      'judy',
      'kate',
      'leo',
      'mia',
      'nick',
      'olga',
      'paul',
      'quinn',
      'rose',
      'sara',
      'tom',
      'uma',
      'vera',
      'walt',
      'xena',
      'yuri',
      'zack',
      ...WATCHERS,
    ]) {
      await cluster.addUser(user);
    }
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.stop()));
    await cluster?.close();
  });

  it('carries chat both ways between nodes, to bare and to full JIDs', async () => {
    const alice = await login(a, 'alice', 'web');
    const bob = await login(b, 'bob', 'phone');
    expect(await cluster.directory('alice@localhost')).toEqual([{ jid: alice.jid, node: 'node-a' }]);
    expect(await cluster.directory('bob@localhost')).toEqual([{ jid: bob.jid, node: 'node-b' }]);

    await alice.send('<message to="bob@localhost" type="chat"><body>to bare bob</body></message>');
    const first = await bob.inbox.waitFor(isMessageWith('to bare bob'));
    expect(first.attrs.from).toBe(alice.jid);
    expect(first.attrs.to).toBe('bob@localhost');

    await bob.send(`<message to="${alice.jid}" type="chat"><body>to full alice</body></message>`);
    expect((await alice.inbox.waitFor(isMessageWith('to full alice'))).attrs.from).toBe(bob.jid);

    await bob.send('<message to="alice@localhost" type="chat"><body>to bare alice</body></message>');
    expect((await alice.inbox.waitFor(isMessageWith('to bare alice'))).attrs.from).toBe(bob.jid);

    await alice.send(`<message to="${bob.jid}" type="chat"><body>to full bob</body></message>`);
    expect((await bob.inbox.waitFor(isMessageWith('to full bob'))).attrs.to).toBe(bob.jid);
  });

  it('delivers a bare-JID message to the highest-priority resources, wherever they are', async () => {
    const carol = await login(a, 'carol', 'desk');
    const low = await login(b, 'dave', 'low', { priority: 1 });
    const high = await login(c, 'dave', 'high', { priority: 5 });

    await carol.send('<message to="dave@localhost" type="chat"><body>for the top one</body></message>');
    await high.inbox.waitFor(isMessageWith('for the top one'));
    expect(await low.inbox.nothing(isMessageWith('for the top one'))).toBe(true);

    // A tie goes to every resource with that priority, on both nodes.
    await low.send('<presence><priority>5</priority></presence>');
    await settled(low);
    await carol.send('<message to="dave@localhost" type="chat"><body>for both</body></message>');
    await high.inbox.waitFor(isMessageWith('for both'));
    await low.inbox.waitFor(isMessageWith('for both'));
  });

  it('runs subscriptions and presence between contacts on different nodes', async () => {
    const erinA = await login(a, 'erin', 'one');
    const erinC = await login(c, 'erin', 'two');
    const frank = await login(b, 'frank', 'only');
    await befriend(erinA, frank);

    // Both of erin's resources on two nodes see frank; frank sees both of erin's resources.
    await erinC.inbox.waitFor(isAvailableFrom(frank.jid));
    await frank.inbox.waitFor(isAvailableFrom(erinC.jid));

    // The roster on every resource reflects the mutual subscription.
    const roster = await erinC.iq('<iq type="get"><query xmlns="jabber:iq:roster"/></iq>');
    const item = roster.getChild('query', 'jabber:iq:roster')?.getChildren('item')[0];
    expect(item?.attrs).toMatchObject({ jid: 'frank@localhost', subscription: 'both' });

    await frank.send('<presence><show>away</show><status>lunch</status></presence>');
    for (const erin of [erinA, erinC]) {
      const away = await erin.inbox.waitFor(
        (el) => isAvailableFrom(frank.jid)(el) && el.getChildText('show') === 'away',
      );
      expect(away.getChildText('status')).toBe('lunch');
    }

    await frank.stop();
    await erinA.inbox.waitFor(isUnavailableFrom(frank.jid));
    await erinC.inbox.waitFor(isUnavailableFrom(frank.jid));
    await erinC.stop();
    await erinA.inbox.waitFor(isUnavailableFrom(erinC.jid));
  });

  it('pushes roster changes to the account’s resources on other nodes', async () => {
    const here = await login(a, 'grace', 'here');
    const there = await login(b, 'grace', 'there');
    const elsewhere = await login(c, 'grace', 'elsewhere');

    const set = await here.iq(
      '<iq type="set"><query xmlns="jabber:iq:roster"><item jid="henry@localhost" name="Henry"><group>Friends</group></item></query></iq>',
    );
    expect(set.attrs.type).toBe('result');
    for (const resource of [here, there, elsewhere]) {
      const push = await resource.inbox.waitFor(
        (el) => el.name === 'iq' && el.attrs.type === 'set' && !!el.getChild('query', 'jabber:iq:roster'),
        WAIT_MS,
        `roster push on ${resource.jid}`,
      );
      const item = push.getChild('query', 'jabber:iq:roster')!.getChildren('item')[0]!;
      expect(item.attrs).toMatchObject({ jid: 'henry@localhost', name: 'Henry', subscription: 'none' });
    }
  });

  it('routes an IQ to a full JID on another node and brings the answer back', async () => {
    const ivan = await login(a, 'ivan', 'laptop');
    const judy = await login(b, 'judy', 'tablet');
    const callee = (judy.xmpp as unknown as { iqCallee: IqCallee }).iqCallee;
    callee.get('urn:example:where', 'query', () =>
      xmlOf('query', { xmlns: 'urn:example:where' }, xmlOf('node', {}, 'tablet')),
    );

    const answer = await ivan.iq(`<iq type="get" to="${judy.jid}"><query xmlns="urn:example:where"/></iq>`);
    expect(answer.attrs).toMatchObject({ type: 'result', from: judy.jid });
    expect(answer.getChild('query', 'urn:example:where')?.getChildText('node')).toBe('tablet');

    // A resource that is online nowhere: the server answers for it (RFC 6121 §8.5.3.2.1).
    const missing = await ivan.iq(
      '<iq type="get" to="judy@localhost/nowhere"><query xmlns="urn:example:where"/></iq>',
    );
    expect(missing.attrs.type).toBe('error');
    expect(missing.getChild('error')?.getChild('service-unavailable')).toBeDefined();
  });

  it('replaces a session with conflict when its full JID binds on another node', async () => {
    const leo = await login(c, 'leo', 'desk');
    const first = await login(a, 'kate', 'same');
    await befriend(first, leo);
    const kicked = streamErrorOf(first);
    const second = await login(b, 'kate', 'same');
    expect(await kicked).toBe('conflict');

    await waitUntil(() => !a.strom.xmpp.sessions.has('kate@localhost/same'), WAIT_MS, 'old session gone');
    // The old session's cleanup must leave its successor's directory entry alone.
    expect(await cluster.directory('kate@localhost')).toEqual([
      { jid: 'kate@localhost/same', node: 'node-b' },
    ]);
    // Nor may it tell contacts that the address went offline: the new session holds it.
    await settled(second);
    await leo.inbox.quiet();
    const lastSeen = leo.inbox.all
      .filter((el) => el.name === 'presence' && el.attrs.from === second.jid)
      .at(-1);
    expect(lastSeen?.attrs.type).not.toBe('unavailable');

    await leo.send('<message to="kate@localhost/same" type="chat"><body>who is there</body></message>');
    await second.inbox.waitFor(isMessageWith('who is there'));
  });

  it('stores messages for an account online nowhere and hands them over at its next login on any node', async () => {
    const mia = await login(a, 'mia', 'desk');
    await mia.send(
      '<message to="nick@localhost" type="chat" id="m1"><body>first while away</body></message>',
    );
    await mia.send(
      '<message to="nick@localhost/gone" type="chat" id="m2"><body>second while away</body></message>',
    );
    await settled(mia);
    expect(await mia.inbox.nothing((el) => el.name === 'message' && el.attrs.type === 'error')).toBe(true);

    const nick = await connectClient(b, { username: 'nick', resource: 'back', presence: true });
    clients.push(nick);
    for (const body of ['first while away', 'second while away']) {
      const stored = await nick.inbox.waitFor(isMessageWith(body));
      expect(bareOf(stored.attrs.from)).toBe('mia@localhost');
      expect(stored.getChild('delay', 'urn:xmpp:delay')).toBeDefined();
    }
  });

  it('keeps 1000 messages between two nodes in the order they were sent', async () => {
    const olga = await login(a, 'olga', 'sender');
    const paul = await login(b, 'paul', 'receiver');
    const count = 1000;
    for (let i = 0; i < count; i++) {
      await olga.send(`<message to="paul@localhost" type="chat"><body>seq ${i}</body></message>`);
    }
    await paul.inbox.waitFor(isMessageWith(`seq ${count - 1}`), 30_000);
    const received = paul.inbox.all
      .filter((el) => el.name === 'message' && el.getChildText('body')?.startsWith('seq '))
      .map((el) => Number(el.getChildText('body')!.slice(4)));
    // The last one was taken out of the inbox by waitFor.
    received.push(count - 1);
    expect(received).toEqual(Array.from({ length: count }, (_, i) => i));
  }, 60_000);

  it('applies a block made on one node to stanzas routed by another', async () => {
    const quinn = await login(a, 'quinn', 'a');
    const rose = await login(b, 'rose', 'b');
    await befriend(quinn, rose);
    // Delivered once first, so anything node A caches about rose's blocklist is already loaded.
    await quinn.send('<message to="rose@localhost" type="chat"><body>before the block</body></message>');
    await rose.inbox.waitFor(isMessageWith('before the block'));

    const blocked = await rose.iq(
      '<iq type="set"><block xmlns="urn:xmpp:blocking"><item jid="quinn@localhost"/></block></iq>',
    );
    expect(blocked.attrs.type).toBe('result');
    // XEP-0191 §3.3: the blocked contact sees the user go offline.
    await quinn.inbox.waitFor(isUnavailableFrom(rose.jid), WAIT_MS, 'unavailable presence on block');

    await quinn.send(
      '<message to="rose@localhost" type="chat" id="blocked-1"><body>after the block</body></message>',
    );
    const bounced = await quinn.inbox.waitFor(
      (el) => el.name === 'message' && el.attrs.type === 'error' && el.attrs.id === 'blocked-1',
      WAIT_MS,
      'bounce of a message to the blocking user',
    );
    expect(bounced.getChild('error')?.getChild('service-unavailable')).toBeDefined();
    await quinn.send(`<message to="${rose.jid}" type="chat"><body>to the full JID</body></message>`);
    expect(
      await rose.inbox.nothing((el) => el.name === 'message' && bareOf(el.attrs.from) === 'quinn@localhost'),
    ).toBe(true);

    await rose.send(
      '<message to="quinn@localhost" type="chat" id="out-1"><body>can you hear me</body></message>',
    );
    const refused = await rose.inbox.waitFor(
      (el) => el.name === 'message' && el.attrs.type === 'error' && el.attrs.id === 'out-1',
      WAIT_MS,
      'refusal of a message to a blocked contact',
    );
    expect(refused.getChild('error')?.getChild('not-acceptable')).toBeDefined();
    expect(refused.getChild('error')?.getChild('blocked', 'urn:xmpp:blocking:errors')).toBeDefined();
    expect(await quinn.inbox.nothing(isMessageWith('can you hear me'))).toBe(true);

    quinn.inbox.all.splice(0);
    await rose.send('<presence><show>dnd</show></presence>');
    expect(await quinn.inbox.nothing(isAvailableFrom(rose.jid))).toBe(true);

    const unblocked = await rose.iq(
      '<iq type="set"><unblock xmlns="urn:xmpp:blocking"><item jid="quinn@localhost"/></unblock></iq>',
    );
    expect(unblocked.attrs.type).toBe('result');
    // §3.4: the contact gets the user's current presence back.
    await quinn.inbox.waitFor(
      (el) => isAvailableFrom(rose.jid)(el) && el.getChildText('show') === 'dnd',
      WAIT_MS,
      'presence after the unblock',
    );
    await quinn.send('<message to="rose@localhost" type="chat"><body>after the unblock</body></message>');
    await rose.inbox.waitFor(isMessageWith('after the unblock'));
  });

  it('keeps a blocked user out even when they log in later on a node that had the blocklist cached', async () => {
    const xena = await login(b, 'xena', 'home');
    const yuri = await login(c, 'yuri', 'desk');
    // Node C looks at xena's blocklist (still empty) while routing yuri's message to her.
    await yuri.send('<message to="xena@localhost" type="chat"><body>hello xena</body></message>');
    await xena.inbox.waitFor(isMessageWith('hello xena'));

    // zack has no session anywhere when xena blocks him.
    const blocked = await xena.iq(
      '<iq type="set"><block xmlns="urn:xmpp:blocking"><item jid="zack@localhost"/></block></iq>',
    );
    expect(blocked.attrs.type).toBe('result');

    const zack = await login(c, 'zack', 'late');
    await zack.send('<message to="xena@localhost" type="chat" id="late-1"><body>let me in</body></message>');
    const bounced = await zack.inbox.waitFor(
      (el) => el.name === 'message' && el.attrs.type === 'error' && el.attrs.id === 'late-1',
      WAIT_MS,
      'bounce of a message to the user who blocked the sender',
    );
    expect(bounced.getChild('error')?.getChild('service-unavailable')).toBeDefined();
    expect(await xena.inbox.nothing(isMessageWith('let me in'))).toBe(true);
  });

  it('announces a new avatar hash from every resource of the user, on every node', async () => {
    const saraA = await login(a, 'sara', 'one');
    const saraB = await login(b, 'sara', 'two');
    const tom = await login(c, 'tom', 'viewer');
    await befriend(saraA, tom);
    await tom.inbox.waitFor(isAvailableFrom(saraB.jid), WAIT_MS, 'presence of the second resource');

    const image = Buffer.from('a tiny stand-in for an image');
    const hash = createHash('sha1').update(image).digest('hex');
    const set = await saraA.iq(
      `<iq type="set"><vCard xmlns="vcard-temp"><FN>Sara</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>${image.toString('base64')}</BINVAL></PHOTO></vCard></iq>`,
    );
    expect(set.attrs.type).toBe('result');
    const withHash = (jid: string) => (el: Element) =>
      isAvailableFrom(jid)(el) && el.getChild('x', 'vcard-temp:x:update')?.getChildText('photo') === hash;
    await tom.inbox.waitFor(withHash(saraA.jid), WAIT_MS, 'new avatar hash from the resource that set it');
    await tom.inbox.waitFor(
      withHash(saraB.jid),
      WAIT_MS,
      'new avatar hash from the resource on another node',
    );
  });

  it('fans a presence broadcast out with one bus message per node and one directory lookup', async () => {
    const owner = 'uma';
    for (const watcher of WATCHERS) await storeMutualSubscription(cluster.storage, owner, watcher);
    // Twelve contacts on node B, three on node C.
    const watchers = await Promise.all(WATCHERS.map((watcher, i) => login(i < 12 ? b : c, watcher, 'w')));
    const uma = await login(a, owner, 'broadcaster');
    for (const watcher of watchers) await watcher.inbox.waitFor(isAvailableFrom(uma.jid));

    const bus = a.strom.xmpp.cluster;
    const sent: Array<{ node: string; recipients: number }> = [];
    let lookups = 0;
    const { send, resources, resourcesMany } = bus;
    bus.send = (node, envelope) => {
      if (
        envelope.type === 'deliver' &&
        envelope.items.some((item) => item.stanza.attrs.from === uma.jid && item.stanza.name === 'presence')
      ) {
        sent.push({ node, recipients: envelope.items.reduce((sum, item) => sum + item.to.length, 0) });
      }
      return send.call(bus, node, envelope);
    };
    bus.resources = (bare) => {
      lookups++;
      return resources.call(bus, bare);
    };
    bus.resourcesMany = (bares) => {
      lookups++;
      return resourcesMany.call(bus, bares);
    };
    try {
      await uma.send('<presence><status>one broadcast</status></presence>');
      for (const watcher of watchers) {
        await watcher.inbox.waitFor(
          (el) => isAvailableFrom(uma.jid)(el) && el.getChildText('status') === 'one broadcast',
        );
      }
    } finally {
      bus.send = send;
      bus.resources = resources;
      bus.resourcesMany = resourcesMany;
    }
    expect(sent.sort((x, y) => x.node.localeCompare(y.node))).toEqual([
      { node: 'node-b', recipients: 12 },
      { node: 'node-c', recipients: 3 },
    ]);
    // Not one lookup per contact: the directory is asked for all of them at once.
    expect(lookups).toBeLessThanOrEqual(2);
  });

  it('deleting an account on one node logs it out on another and tells its contacts on a third', async () => {
    const vera = await login(b, 'vera', 'phone');
    const walt = await login(c, 'walt', 'desk');
    await befriend(vera, walt);
    const ended = streamErrorOf(vera);
    // Node B is the slower one: it reads the roster of the ending session only after node A is done.
    const roster = b.strom.storage.roster;
    const get = roster.get.bind(roster);
    roster.get = async (owner) => {
      if (owner === 'vera') await sleep(300);
      return get(owner);
    };

    try {
      await a.strom.xmpp.deleteAccount('vera');
      expect(await ended).toBe('not-authorized');
      await walt.inbox.waitFor(
        (el) =>
          el.name === 'presence' && el.attrs.type === 'unsubscribed' && el.attrs.from === 'vera@localhost',
        WAIT_MS,
        'unsubscribed from the deleted account',
      );
      // Contacts must not keep seeing the account online.
      await walt.inbox.waitFor(
        isUnavailableFrom(vera.jid),
        WAIT_MS,
        'unavailable presence of the deleted account',
      );
    } finally {
      roster.get = get;
    }
    await waitUntil(
      async () => (await cluster.directory('vera@localhost')).length === 0,
      WAIT_MS,
      'directory empty',
    );
    expect(await cluster.storage.accounts.exists('vera')).toBe(false);
  });
});
