import type { Element } from '@strom/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectClient,
  STORAGE_KINDS,
  startTestServer,
  type TestClient,
  type TestServer,
  WAIT_MS,
} from './harness.js';
import { becomeAvailable, isAnyRosterPush, isRosterPush, NS_ROSTER, storeRosterItem } from './im-helpers.js';

function isPresence(type: string | undefined, from?: string) {
  return (el: Element) =>
    el.name === 'presence' && el.attrs.type === type && (from === undefined || el.attrs.from === from);
}

/** Forgets everything received so far, so "nothing arrives" checks see only what comes next. */
function drain(...clients: TestClient[]): void {
  for (const client of clients) client.inbox.all.splice(0);
}

async function rosterOf(client: TestClient): Promise<Record<string, Record<string, string>>> {
  const reply = await client.iq(`<iq type="get"><query xmlns="${NS_ROSTER}"/></iq>`);
  const items = reply.getChild('query', NS_ROSTER)?.getChildren('item') ?? [];
  return Object.fromEntries(items.map((item) => [item.attrs.jid!, { ...item.attrs }]));
}

const bareOf = (client: TestClient) => client.jid.split('/')[0]!;

/** `a` asks `b` for a subscription and `b` approves: `a`'s roster then says "to". */
async function subscribeTo(a: TestClient, b: TestClient): Promise<void> {
  await a.send(`<presence type="subscribe" to="${bareOf(b)}"/>`);
  await b.inbox.waitFor(isPresence('subscribe', bareOf(a)));
  await b.send(`<presence type="subscribed" to="${bareOf(a)}"/>`);
  await a.inbox.waitFor(isRosterPush(bareOf(b), { subscription: 'to' }));
}

/** Each asks the other and each approves, through the protocol: both rosters then say "both". */
async function subscribeBothWays(a: TestClient, b: TestClient): Promise<void> {
  await a.send(`<presence type="subscribe" to="${bareOf(b)}"/>`);
  await b.inbox.waitFor(isPresence('subscribe', bareOf(a)));
  await b.send(`<presence type="subscribed" to="${bareOf(a)}"/>`);
  await b.send(`<presence type="subscribe" to="${bareOf(a)}"/>`);
  await a.inbox.waitFor(isPresence('subscribe', bareOf(b)));
  await a.send(`<presence type="subscribed" to="${bareOf(b)}"/>`);
  await a.inbox.waitFor(isRosterPush(bareOf(b), { subscription: 'both' }));
  await b.inbox.waitFor(isRosterPush(bareOf(a), { subscription: 'both' }));
}

describe.each(STORAGE_KINDS)('presence subscriptions (%s)', (storage) => {
  let server: TestServer;
  let counter = 0;
  const clients: TestClient[] = [];

  async function newUser(prefix: string): Promise<string> {
    const name = `${prefix}${++counter}`;
    await server.addUser(name);
    return name;
  }

  /** Logs in as RFC 6121 §2.2 recommends: roster first (interested), then initial presence (available). */
  async function online(username: string, resource = 'r'): Promise<TestClient> {
    const client = await connectClient(server, { username, resource });
    clients.push(client);
    await rosterOf(client);
    await becomeAvailable(client);
    return client;
  }

  beforeAll(async () => {
    server = await startTestServer({ storage });
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.stop()));
    await server.stop();
  });

  it('runs a full mutual subscription with pushes at every step and bare-JID stamping', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const aliceJid = `${alice}@localhost`;
    const bobJid = `${bob}@localhost`;
    const a1 = await online(alice, 'one');
    const a2 = await online(alice, 'two');
    const b = await online(bob);

    // 1. Alice asks (to Bob's full JID, with a made-up from: both are corrected).
    await a1.send(
      `<presence type="subscribe" to="${b.jid}" from="${alice}@localhost/forged"><status>hi</status></presence>`,
    );
    for (const client of [a1, a2]) {
      await client.inbox.waitFor(
        isRosterPush(bobJid, { subscription: 'none', ask: 'subscribe' }),
        WAIT_MS,
        'ask push',
      );
    }
    const request = await b.inbox.waitFor(isPresence('subscribe'), WAIT_MS, 'request at bob');
    expect(request.attrs.from).toBe(aliceJid);
    expect(request.attrs.to).toBe(bobJid);
    expect(request.getChildText('status')).toBe('hi');
    // A pending request is not a roster item (RFC 6121 §3.1.3).
    expect(await b.inbox.nothing(isAnyRosterPush)).toBe(true);
    expect(await rosterOf(b)).toEqual({});

    // 2. Bob approves: Bob's item says from, Alice's says to, and Alice sees Bob online.
    await b.send(`<presence type="subscribed" to="${aliceJid}"/>`);
    await b.inbox.waitFor(
      isRosterPush(aliceJid, { subscription: 'from', ask: undefined }),
      WAIT_MS,
      'from push',
    );
    for (const client of [a1, a2]) {
      await client.inbox.waitFor(
        isRosterPush(bobJid, { subscription: 'to', ask: undefined }),
        WAIT_MS,
        'to push',
      );
      const approval = await client.inbox.waitFor(isPresence('subscribed'), WAIT_MS, 'approval');
      expect(approval.attrs.from).toBe(bobJid);
      await client.inbox.waitFor(isPresence(undefined, b.jid), WAIT_MS, "bob's presence");
    }

    // 3. Bob asks back and Alice approves from her second resource.
    await b.send(`<presence type="subscribe" to="${aliceJid}"/>`);
    await b.inbox.waitFor(
      isRosterPush(aliceJid, { subscription: 'from', ask: 'subscribe' }),
      WAIT_MS,
      'ask back',
    );
    for (const client of [a1, a2]) {
      expect((await client.inbox.waitFor(isPresence('subscribe'), WAIT_MS, 'request back')).attrs.from).toBe(
        bobJid,
      );
    }
    await a2.send(`<presence type="subscribed" to="${bobJid}"/>`);
    for (const client of [a1, a2]) await client.inbox.waitFor(isRosterPush(bobJid, { subscription: 'both' }));
    await b.inbox.waitFor(
      isRosterPush(aliceJid, { subscription: 'both', ask: undefined }),
      WAIT_MS,
      'both at bob',
    );
    const presences = [
      await b.inbox.waitFor(isPresence(undefined, a1.jid), WAIT_MS, 'alice/one'),
      await b.inbox.waitFor(isPresence(undefined, a2.jid), WAIT_MS, 'alice/two'),
    ];
    expect(presences.map((p) => p.attrs.to)).toEqual([bobJid, bobJid]);

    expect((await rosterOf(a1))[bobJid]).toMatchObject({ subscription: 'both' });
    expect((await rosterOf(b))[aliceJid]).toMatchObject({ subscription: 'both' });
  });

  it('delivers a request to an offline user at their next initial presence, until answered', async () => {
    const alice = await newUser('alice');
    const carol = await newUser('carol');
    const aliceJid = `${alice}@localhost`;
    const a = await online(alice);
    await a.send(`<presence type="subscribe" to="${carol}@localhost"/>`);
    await a.inbox.waitFor(isRosterPush(`${carol}@localhost`, { ask: 'subscribe' }));

    // Connected but not yet available: requests go to available resources only.
    const c = await connectClient(server, { username: carol, resource: 'r' });
    clients.push(c);
    expect(await c.inbox.nothing(isPresence('subscribe'))).toBe(true);
    await c.send('<presence/>');
    const request = await c.inbox.waitFor(isPresence('subscribe'), WAIT_MS, 'stored request');
    expect(request.attrs.from).toBe(aliceJid);
    expect(request.attrs.to).toBe(c.jid);

    // Unanswered, it comes again with the next session's initial presence, and only to that session.
    const again = await online(carol, 'again');
    await again.inbox.waitFor(isPresence('subscribe', aliceJid), WAIT_MS, 'request again');
    expect(await c.inbox.nothing(isPresence('subscribe'))).toBe(true);

    await again.send(`<presence type="subscribed" to="${aliceJid}"/>`);
    await a.inbox.waitFor(isPresence('subscribed', `${carol}@localhost`), WAIT_MS, 'approval');
    const third = await online(carol, 'third');
    expect(await third.inbox.nothing(isPresence('subscribe'))).toBe(true);
  });

  it('ends subscriptions with unsubscribe and unsubscribed, with pushes and unavailable presence', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const aliceJid = `${alice}@localhost`;
    const bobJid = `${bob}@localhost`;
    const a = await online(alice);
    const b = await online(bob);
    await subscribeBothWays(a, b);

    // Alice stops following Bob: she goes to "from", Bob to "to", and Alice sees Bob go offline.
    await a.send(`<presence type="unsubscribe" to="${bobJid}"/>`);
    await a.inbox.waitFor(isRosterPush(bobJid, { subscription: 'from' }), WAIT_MS, 'alice from');
    await a.inbox.waitFor(isPresence('unavailable', b.jid), WAIT_MS, 'bob unavailable at alice');
    const unsubscribe = await b.inbox.waitFor(isPresence('unsubscribe'), WAIT_MS, 'unsubscribe at bob');
    expect(unsubscribe.attrs.from).toBe(aliceJid);
    await b.inbox.waitFor(isRosterPush(aliceJid, { subscription: 'to' }), WAIT_MS, 'bob to');

    // Alice cancels Bob's subscription to her: both at none, Bob sees Alice go offline.
    await a.send(`<presence type="unsubscribed" to="${bobJid}"/>`);
    await a.inbox.waitFor(
      isRosterPush(bobJid, { subscription: 'none', ask: undefined }),
      WAIT_MS,
      'alice none',
    );
    await b.inbox.waitFor(isPresence('unavailable', a.jid), WAIT_MS, 'alice unavailable at bob');
    expect(
      (await b.inbox.waitFor(isPresence('unsubscribed'), WAIT_MS, 'unsubscribed at bob')).attrs.from,
    ).toBe(aliceJid);
    await b.inbox.waitFor(isRosterPush(aliceJid, { subscription: 'none' }), WAIT_MS, 'bob none');

    // With nothing left to end, repeating either changes nothing and reaches no one.
    drain(a, b);
    await a.send(`<presence type="unsubscribed" to="${bobJid}"/>`);
    expect(await b.inbox.nothing(isPresence('unsubscribed'))).toBe(true);
    expect(await a.inbox.nothing(isAnyRosterPush, 100)).toBe(true);
  });

  it('lets a request be declined with unsubscribed', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const a = await online(alice);
    const b = await online(bob);
    await a.send(`<presence type="subscribe" to="${bob}@localhost"/>`);
    await b.inbox.waitFor(isPresence('subscribe', `${alice}@localhost`));
    await b.send(`<presence type="unsubscribed" to="${alice}@localhost"/>`);
    await a.inbox.waitFor(
      isRosterPush(`${bob}@localhost`, { subscription: 'none', ask: undefined }),
      WAIT_MS,
      'declined',
    );
    await a.inbox.waitFor(isPresence('unsubscribed', `${bob}@localhost`), WAIT_MS, 'unsubscribed at alice');
    expect(await rosterOf(b)).toEqual({});
  });

  it('ignores a duplicate subscription request', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const a = await online(alice);
    const b = await online(bob);
    await a.send(`<presence type="subscribe" to="${bob}@localhost"/>`);
    await b.inbox.waitFor(isPresence('subscribe', `${alice}@localhost`));
    await a.inbox.waitFor(isRosterPush(`${bob}@localhost`, { ask: 'subscribe' }));

    await a.send(`<presence type="subscribe" to="${bob}@localhost"/>`);
    expect(await b.inbox.nothing(isPresence('subscribe'))).toBe(true);
    expect(await a.inbox.nothing(isAnyRosterPush, 100)).toBe(true);
  });

  it("answers for the contact when the requester's server lost track of an existing subscription", async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const bobJid = `${bob}@localhost`;
    const a = await online(alice);
    const b = await online(bob);
    await subscribeTo(a, b);

    // Alice's side forgets the subscription (as after a restore from an old backup) and she asks again:
    // Bob's server answers for Bob (RFC 6121 §3.1.3), with his presence, and Bob is not bothered.
    await storeRosterItem(server.strom.storage, alice, bob, 'none');
    drain(a, b);
    await a.send(`<presence type="subscribe" to="${bobJid}"/>`);
    await a.inbox.waitFor(isPresence('subscribed', bobJid), WAIT_MS, 'automatic approval');
    await a.inbox.waitFor(isRosterPush(bobJid, { subscription: 'to', ask: undefined }), WAIT_MS, 'to again');
    await a.inbox.waitFor(isPresence(undefined, b.jid), WAIT_MS, 'presence again');
    expect(await b.inbox.nothing(isPresence('subscribe'))).toBe(true);
  });

  it('does not repeat an approval the requester already has', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const bobJid = `${bob}@localhost`;
    const a = await online(alice);
    const b = await online(bob);
    await subscribeTo(a, b);
    await a.inbox.waitFor(isPresence('subscribed', bobJid));

    // In sync, Bob's automatic answer changes nothing at Alice's server and is not delivered (A.3.3).
    drain(a, b);
    await a.send(`<presence type="subscribe" to="${bobJid}"/>`);
    expect(await b.inbox.nothing(isPresence('subscribe'))).toBe(true);
    expect(await a.inbox.nothing((el) => isPresence('subscribed')(el) || isAnyRosterPush(el), 100)).toBe(
      true,
    );
  });

  it('makes a request to a nonexistent account unobservable', async () => {
    const alice = await newUser('alice');
    const a = await online(alice);
    await a.send('<presence type="subscribe" to="nobody-here@localhost"/>');
    // The sender's own roster records the request, exactly as for an account that never answers.
    await a.inbox.waitFor(isRosterPush('nobody-here@localhost', { subscription: 'none', ask: 'subscribe' }));
    expect(
      await a.inbox.nothing((el) => el.name === 'presence' && el.attrs.from?.startsWith('nobody') === true),
    ).toBe(true);
  });

  it("ignores subscription stanzas between an account's own resources", async () => {
    const alice = await newUser('alice');
    const first = await online(alice, 'first');
    const second = await online(alice, 'second');
    drain(first, second);
    await first.send(`<presence type="subscribe" to="${second.jid}"/>`);
    await first.send(`<presence type="subscribed" to="${alice}@localhost"/>`);
    expect(await second.inbox.nothing((el) => el.name === 'presence' && el.attrs.type !== undefined)).toBe(
      true,
    );
    expect(await first.inbox.nothing(isAnyRosterPush, 100)).toBe(true);
    expect(await rosterOf(first)).toEqual({});
  });

  it('honours a pre-approval (RFC 6121 §3.4)', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const aliceJid = `${alice}@localhost`;
    const bobJid = `${bob}@localhost`;
    const a = await online(alice);
    const b = await online(bob);

    await b.send(`<presence type="subscribed" to="${aliceJid}"/>`);
    await b.inbox.waitFor(
      isRosterPush(aliceJid, { subscription: 'none', approved: 'true' }),
      WAIT_MS,
      'pre-approval push',
    );
    // Not routed: Alice learns nothing until she asks.
    expect(await a.inbox.nothing(isPresence('subscribed'))).toBe(true);

    await a.send(`<presence type="subscribe" to="${bobJid}"/>`);
    await a.inbox.waitFor(isPresence('subscribed', bobJid), WAIT_MS, 'automatic approval');
    await a.inbox.waitFor(isRosterPush(bobJid, { subscription: 'to', ask: undefined }), WAIT_MS, 'alice to');
    await a.inbox.waitFor(isPresence(undefined, b.jid), WAIT_MS, "bob's presence");
    await b.inbox.waitFor(
      isRosterPush(aliceJid, { subscription: 'from', approved: undefined }),
      WAIT_MS,
      'bob from',
    );
    expect(await b.inbox.nothing(isPresence('subscribe'))).toBe(true);
  });

  it('withdraws a pre-approval with unsubscribed', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const aliceJid = `${alice}@localhost`;
    const a = await online(alice);
    const b = await online(bob);
    await b.send(`<presence type="subscribed" to="${aliceJid}"/>`);
    await b.inbox.waitFor(isRosterPush(aliceJid, { approved: 'true' }));
    await b.send(`<presence type="unsubscribed" to="${aliceJid}"/>`);
    await b.inbox.waitFor(isRosterPush(aliceJid, { approved: undefined }), WAIT_MS, 'withdrawn');

    await a.send(`<presence type="subscribe" to="${bob}@localhost"/>`);
    await b.inbox.waitFor(isPresence('subscribe', aliceJid), WAIT_MS, 'request delivered to bob');
    expect(await a.inbox.nothing(isPresence('subscribed'))).toBe(true);
  });

  it('drops a request from a JID the user blocked', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const a = await online(alice);
    const b = await online(bob);
    const blocked = await b.iq(
      `<iq type="set"><block xmlns="urn:xmpp:blocking"><item jid="${alice}@localhost"/></block></iq>`,
    );
    expect(blocked.attrs.type).toBe('result');

    await a.send(`<presence type="subscribe" to="${bob}@localhost"/>`);
    await a.inbox.waitFor(isRosterPush(`${bob}@localhost`, { ask: 'subscribe' }));
    expect(await b.inbox.nothing(isPresence('subscribe'))).toBe(true);
    expect(await a.inbox.nothing(isPresence('error'), 100)).toBe(true);

    // Nor does it wait for Bob's next login.
    const later = await online(bob, 'later');
    expect(await later.inbox.nothing(isPresence('subscribe'))).toBe(true);
  });

  it('cancels both subscriptions when an item is removed from the roster', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const aliceJid = `${alice}@localhost`;
    const bobJid = `${bob}@localhost`;
    const a = await online(alice);
    const b = await online(bob);
    await subscribeBothWays(a, b);

    const removed = await a.iq(
      `<iq type="set"><query xmlns="${NS_ROSTER}"><item jid="${bobJid}" subscription="remove"/></query></iq>`,
    );
    expect(removed.attrs.type).toBe('result');
    await a.inbox.waitFor(isRosterPush(bobJid, { subscription: 'remove' }), WAIT_MS, 'removal push');
    await b.inbox.waitFor(isPresence('unsubscribe', aliceJid), WAIT_MS, 'unsubscribe');
    await b.inbox.waitFor(isPresence('unsubscribed', aliceJid), WAIT_MS, 'unsubscribed');
    await b.inbox.waitFor(isPresence('unavailable', a.jid), WAIT_MS, 'alice unavailable at bob');
    await b.inbox.waitFor(isRosterPush(aliceJid, { subscription: 'none' }), WAIT_MS, 'bob none');
    expect(await rosterOf(a)).toEqual({});
  });

  it("cancels a deleted account's subscriptions at its contacts", async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const aliceJid = `${alice}@localhost`;
    const a = await online(alice);
    const b = await online(bob);
    await subscribeBothWays(a, b);

    await server.strom.xmpp.deleteAccount(alice);
    await b.inbox.waitFor(isPresence('unsubscribe', aliceJid), WAIT_MS, 'unsubscribe');
    await b.inbox.waitFor(isPresence('unsubscribed', aliceJid), WAIT_MS, 'unsubscribed');
    await b.inbox.waitFor(isRosterPush(aliceJid, { subscription: 'none' }), WAIT_MS, 'bob none');
    expect((await rosterOf(b))[aliceJid]).toMatchObject({ subscription: 'none' });
  });
});
