import { CoreEvents } from '@strom/core';
import { JID } from '@strom/jid';
import type { Subscription } from '@strom/storage';
import type { Element } from '@strom/xml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  connectClient,
  RawClient,
  STORAGE_KINDS,
  startTestServer,
  type TestClient,
  type TestServer,
} from './harness.js';
import { becomeAvailable, storeMutualSubscription, storeRosterItem } from './im-helpers.js';
import { accountFactory } from './message-helpers.js';

const DOMAIN = 'localhost';

function isPresence(from: string, type = 'available'): (el: Element) => boolean {
  return (el) => el.name === 'presence' && el.attrs.from === from && (el.attrs.type ?? 'available') === type;
}

function isPresenceFromAccount(bare: string): (el: Element) => boolean {
  return (el) => el.name === 'presence' && (el.attrs.from ?? '').split('/')[0] === bare;
}

describe.each(STORAGE_KINDS)('presence (%s)', (storage) => {
  let server: TestServer;
  const clients: TestClient[] = [];
  const raws: RawClient[] = [];

  beforeAll(async () => {
    server = await startTestServer({ storage });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.stop()));
    for (const raw of raws.splice(0)) raw.ws.terminate();
  });
  afterAll(() => server.stop());

  /** Fresh accounts for one test, so roster rows never leak between tests. */
  const users = accountFactory((username) => server.addUser(username));

  function bare(username: string): string {
    return `${username}@${DOMAIN}`;
  }

  const roster = (owner: string, contact: string, subscription: Subscription) =>
    storeRosterItem(server.strom.storage, owner, contact, subscription);
  const mutual = (a: string, b: string) => storeMutualSubscription(server.strom.storage, a, b);

  async function connect(username: string, resource = 'r'): Promise<TestClient> {
    const client = await connectClient(server, { username, resource });
    clients.push(client);
    return client;
  }

  /** Connects and sends initial presence; resolves once the server echoed it (broadcast done). */
  async function online(username: string, resource = 'r', presence = '<presence/>'): Promise<TestClient> {
    const client = await connect(username, resource);
    await becomeAvailable(client, presence);
    return client;
  }

  async function directory(username: string) {
    return server.strom.xmpp.resources(JID.parse(bare(username)));
  }

  it('sends initial presence to contacts with a from/both subscription only', async () => {
    const [alice, bob, carol, dave, erin] = await users('alice', 'bob', 'carol', 'dave', 'erin');
    await mutual(alice, bob);
    await roster(alice, carol, 'from');
    await roster(carol, alice, 'to');
    await roster(alice, dave, 'to');
    await roster(dave, alice, 'from');
    await roster(alice, erin, 'none');
    await roster(erin, alice, 'none');
    const [b, c, d, e] = await Promise.all([online(bob), online(carol), online(dave), online(erin)]);

    const a = await online(alice, 'home');
    const toBob = await b.inbox.waitFor(isPresence(a.jid));
    expect(toBob.attrs.to).toBe(bare(bob));
    const toCarol = await c.inbox.waitFor(isPresence(a.jid));
    expect(toCarol.attrs.to).toBe(bare(carol));
    expect(await d.inbox.nothing(isPresenceFromAccount(bare(alice)))).toBe(true);
    expect(await e.inbox.nothing(isPresenceFromAccount(bare(alice)))).toBe(true);

    const [entry] = await directory(alice);
    expect(entry).toMatchObject({ jid: a.jid, available: true, priority: 0 });
  });

  it('delivers the current presence of contacts that allow it when a user comes online', async () => {
    const [alice, bob, carol] = await users('alice', 'bob', 'carol');
    await mutual(alice, bob);
    // Alice believes she is subscribed to Carol, but Carol's roster grants nothing: no presence.
    await roster(alice, carol, 'to');
    await roster(carol, alice, 'none');
    const b = await online(bob, 'desk', '<presence><show>away</show><status>lunch</status></presence>');
    await online(carol, 'desk');

    const a = await online(alice);
    const fromBob = await a.inbox.waitFor(isPresence(b.jid));
    expect(fromBob.attrs.to).toBe(a.jid);
    expect(fromBob.getChildText('show')).toBe('away');
    expect(fromBob.getChildText('status')).toBe('lunch');
    expect(await a.inbox.nothing(isPresenceFromAccount(bare(carol)))).toBe(true);
  });

  it('lets the resources of one account see each other', async () => {
    const [alice] = await users('alice');
    const phone = await online(alice, 'phone', '<presence><status>on the go</status></presence>');
    const laptop = await online(alice, 'laptop');

    const seenByLaptop = await laptop.inbox.waitFor(isPresence(phone.jid));
    expect(seenByLaptop.getChildText('status')).toBe('on the go');
    await phone.inbox.waitFor(isPresence(laptop.jid));

    await laptop.stop();
    await phone.inbox.waitFor(isPresence(laptop.jid, 'unavailable'));
  });

  it('publishes the priority and rejects invalid priority or show with bad-request', async () => {
    const [alice, bob] = await users('alice', 'bob');
    await mutual(alice, bob);
    const b = await online(bob);
    const a = await connect(alice);

    for (const invalid of [
      '<presence><priority>128</priority></presence>',
      '<presence><priority>-129</priority></presence>',
      '<presence><priority>high</priority></presence>',
      '<presence><priority>1</priority><priority>2</priority></presence>',
      '<presence><show>sleeping</show></presence>',
    ]) {
      await a.send(invalid);
      const error = await a.inbox.waitFor((el) => el.name === 'presence' && el.attrs.type === 'error');
      expect(error.getChild('error')?.getChild('bad-request')).toBeDefined();
    }
    expect(await b.inbox.nothing(isPresenceFromAccount(bare(alice)))).toBe(true);
    expect((await directory(alice))[0]?.available).toBe(false);

    await a.send('<presence><priority>-5</priority></presence>');
    const seen = await b.inbox.waitFor(isPresence(a.jid));
    expect(seen.getChildText('priority')).toBe('-5');
    expect((await directory(alice))[0]).toMatchObject({ available: true, priority: -5 });

    await a.send('<presence><priority>127</priority><show>dnd</show></presence>');
    const update = await b.inbox.waitFor(isPresence(a.jid));
    expect(update.getChildText('show')).toBe('dnd');
    expect((await directory(alice))[0]).toMatchObject({ available: true, priority: 127 });
  });

  it('broadcasts a presence update without probing again', async () => {
    const [alice, bob] = await users('alice', 'bob');
    await mutual(alice, bob);
    const b = await online(bob);
    const a = await online(alice);
    await a.inbox.waitFor(isPresence(b.jid));
    await b.inbox.waitFor(isPresence(a.jid));

    await a.send('<presence><show>xa</show></presence>');
    const update = await b.inbox.waitFor(isPresence(a.jid));
    expect(update.getChildText('show')).toBe('xa');
    expect(await a.inbox.nothing(isPresence(b.jid))).toBe(true);
  });

  it('broadcasts unavailable presence, then treats the next available presence as initial', async () => {
    const [alice, bob] = await users('alice', 'bob');
    await mutual(alice, bob);
    const b = await online(bob);
    const a = await online(alice);
    await a.inbox.waitFor(isPresence(b.jid));

    await a.send('<presence type="unavailable"><status>gone fishing</status></presence>');
    const gone = await b.inbox.waitFor(isPresence(a.jid, 'unavailable'));
    expect(gone.getChildText('status')).toBe('gone fishing');
    expect((await directory(alice))[0]?.available).toBe(false);

    await a.send('<presence/>');
    await b.inbox.waitFor(isPresence(a.jid));
    // Coming back is initial presence again: contacts are probed anew.
    await a.inbox.waitFor(isPresence(b.jid));
  });

  it('announces unavailable when a session closes cleanly', async () => {
    const [alice, bob] = await users('alice', 'bob');
    await mutual(alice, bob);
    const b = await online(bob);
    const a = await online(alice);
    await a.stop();
    const gone = await b.inbox.waitFor(isPresence(a.jid, 'unavailable'));
    expect(gone.attrs.to).toBe(bare(bob));
  });

  it('announces unavailable when the socket drops without a close', async () => {
    const [alice, bob] = await users('alice', 'bob');
    await mutual(alice, bob);
    const b = await online(bob);
    const raw = await RawClient.connect(server.wsUrl);
    raws.push(raw);
    const jid = await raw.login(alice, 'secret', 'dropped');
    raw.send('<presence xmlns="jabber:client"/>');
    await b.inbox.waitFor(isPresence(jid));

    raw.ws.terminate();
    await b.inbox.waitFor(isPresence(jid, 'unavailable'));
    expect(await directory(alice)).toEqual([]);
  });

  it('announces unavailable when a session is replaced (conflict)', async () => {
    const [alice, bob] = await users('alice', 'bob');
    await mutual(alice, bob);
    const b = await online(bob);
    const first = await online(alice, 'same');
    await b.inbox.waitFor(isPresence(first.jid));

    const second = await connect(alice, 'same');
    await b.inbox.waitFor(isPresence(first.jid, 'unavailable'));
    await second.send('<presence><status>back</status></presence>');
    const back = await b.inbox.waitFor(isPresence(second.jid));
    expect(back.getChildText('status')).toBe('back');
  });

  it('sends directed presence to anyone and unavailable to them when the session ends', async () => {
    const [alice, bob, frank] = await users('alice', 'bob', 'frank');
    await mutual(alice, bob);
    const b = await online(bob);
    const f = await online(frank);
    const a = await online(alice);

    // Directed presence to a full JID is delivered without any subscription (RFC 6121 §4.6).
    await a.send(`<presence to="${f.jid}"><status>hello stranger</status></presence>`);
    const directed = await f.inbox.waitFor(isPresence(a.jid));
    expect(directed.getChildText('status')).toBe('hello stranger');
    // To a subscriber it is delivered too; that one learns of the end through the broadcast.
    await a.send(`<presence to="${b.jid}"><status>psst</status></presence>`);
    expect(
      (await b.inbox.waitFor((el) => isPresence(a.jid)(el) && el.getChildText('status') === 'psst')).attrs.to,
    ).toBe(b.jid);

    await a.stop();
    await f.inbox.waitFor(isPresence(a.jid, 'unavailable'));
    await b.inbox.waitFor(isPresence(a.jid, 'unavailable'));
    expect(await b.inbox.nothing(isPresence(a.jid, 'unavailable'))).toBe(true);
  });

  it('forgets a directed presence recipient once it was sent directed unavailable', async () => {
    const [alice, frank] = await users('alice', 'frank');
    const f = await online(frank);
    const a = await online(alice);
    await a.send(`<presence to="${f.jid}"/>`);
    await f.inbox.waitFor(isPresence(a.jid));
    await a.send(`<presence to="${f.jid}" type="unavailable"/>`);
    await f.inbox.waitFor(isPresence(a.jid, 'unavailable'));

    await a.stop();
    expect(await f.inbox.nothing(isPresence(a.jid, 'unavailable'))).toBe(true);
  });

  it('never delivers presence from someone the user is not subscribed to', async () => {
    const [alice, mallory] = await users('alice', 'mallory');
    // Alice's roster shares her presence with Mallory but does not subscribe to Mallory's.
    await roster(alice, mallory, 'from');
    await roster(mallory, alice, 'to');
    const a = await online(alice);
    const m = await online(mallory);

    await m.send(`<presence to="${bare(alice)}"><status>let me in</status></presence>`);
    await m.send('<presence><show>chat</show></presence>');
    await m.inbox.waitFor(isPresence(m.jid));
    expect(await a.inbox.nothing(isPresenceFromAccount(bare(mallory)))).toBe(true);
  });

  it('answers probes only for entities the user shares presence with', async () => {
    const [alice, bob, mallory] = await users('alice', 'bob', 'mallory');
    await roster(alice, bob, 'from');
    await roster(bob, alice, 'to');
    const a = await online(alice, 'home', '<presence><status>here</status></presence>');
    const b = await connect(bob);
    const m = await connect(mallory);

    await m.send(`<presence type="probe" to="${bare(alice)}"/>`);
    await m.send(`<presence type="probe" to="${a.jid}"/>`);
    expect(await m.inbox.nothing(isPresenceFromAccount(bare(alice)))).toBe(true);
    // Not even an unavailable answer for an account that does not exist.
    await m.send(`<presence type="probe" to="nobody@${DOMAIN}"/>`);
    expect(await m.inbox.nothing((el) => el.name === 'presence')).toBe(true);

    await b.send(`<presence type="probe" to="${bare(alice)}"/>`);
    const answer = await b.inbox.waitFor(isPresence(a.jid));
    expect(answer.getChildText('status')).toBe('here');

    await a.send('<presence type="unavailable"/>');
    await b.send(`<presence type="probe" to="${bare(alice)}"/>`);
    await b.inbox.waitFor(isPresence(bare(alice), 'unavailable'));
  });

  it('keeps presence away from blocked contacts in both directions', async () => {
    const [alice, bob, carol] = await users('alice', 'bob', 'carol');
    await mutual(alice, bob);
    await mutual(alice, carol);
    await server.strom.storage.blocklist.add(alice, [bare(bob)]);
    const b = await online(bob);
    const c = await online(carol);

    const a = await online(alice);
    await c.inbox.waitFor(isPresence(a.jid));
    await a.inbox.waitFor(isPresence(c.jid));
    expect(await b.inbox.nothing(isPresenceFromAccount(bare(alice)))).toBe(true);
    expect(await a.inbox.nothing(isPresenceFromAccount(bare(bob)))).toBe(true);
  });

  it('keeps three clients in sync as they come and go', async () => {
    const [alice, bob, carol] = await users('alice', 'bob', 'carol');
    await mutual(alice, bob);
    await mutual(alice, carol);
    await mutual(bob, carol);
    const a = await online(alice);
    const b = await online(bob);
    const c = await online(carol);
    await a.inbox.waitFor(isPresence(b.jid));
    await a.inbox.waitFor(isPresence(c.jid));
    await b.inbox.waitFor(isPresence(a.jid));
    await b.inbox.waitFor(isPresence(c.jid));
    await c.inbox.waitFor(isPresence(a.jid));
    await c.inbox.waitFor(isPresence(b.jid));

    await c.stop();
    await a.inbox.waitFor(isPresence(c.jid, 'unavailable'));
    await b.inbox.waitFor(isPresence(c.jid, 'unavailable'));
  });

  it('announces unavailable for the available sessions of a node that died', async () => {
    const [alice, bob, carol] = await users('alice', 'bob', 'carol');
    await mutual(alice, bob);
    await mutual(carol, bob);
    const b = await online(bob);
    const lost = (username: string, available: boolean) => ({
      jid: `${bare(username)}/elsewhere`,
      node: 'node-that-died',
      priority: 0,
      available,
      interested: true,
    });
    await server.strom.xmpp.registry.fire(CoreEvents.nodeDown, {
      node: 'node-that-died',
      sessions: [lost(alice, true), lost(carol, false)],
    });
    await b.inbox.waitFor(isPresence(`${bare(alice)}/elsewhere`, 'unavailable'));
    expect(await b.inbox.nothing(isPresenceFromAccount(bare(carol)))).toBe(true);
  });
});
