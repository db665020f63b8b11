import { lastSeen, secondsBetween } from '@strom/modules';
import type { Element } from '@strom/xml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  connectClient,
  STORAGE_KINDS,
  startTestServer,
  type TestClient,
  type TestServer,
} from './harness.js';
import { becomeAvailable, discoFeatures, errorCondition, storeRosterItem } from './im-helpers.js';
import { accountFactory } from './message-helpers.js';

const DOMAIN = 'localhost';
const NS_LAST = 'jabber:iq:last';

function seconds(reply: Element): number {
  expect(reply.attrs.type).toBe('result');
  const value = reply.getChild('query', NS_LAST)?.attrs.seconds;
  expect(value).toMatch(/^\d+$/);
  return Number(value);
}

/** The condition of an error reply (and that it is one). */
function refusal(reply: Element): string | undefined {
  expect(reply.attrs.type).toBe('error');
  return errorCondition(reply);
}

describe.each(STORAGE_KINDS)('last activity (%s)', (storage) => {
  let server: TestServer;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    server = await startTestServer({ storage });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.stop()));
  });
  afterAll(() => server.stop());

  const users = accountFactory((username) => server.addUser(username));

  const bare = (username: string) => `${username}@${DOMAIN}`;

  /** `watcher` may see `owner`'s presence. */
  async function subscribe(watcher: string, owner: string): Promise<void> {
    await storeRosterItem(server.strom.storage, owner, watcher, 'from');
    await storeRosterItem(server.strom.storage, watcher, owner, 'to');
  }

  async function connect(username: string, presence = true, resource = 'r'): Promise<TestClient> {
    const client = await connectClient(server, { username, resource });
    clients.push(client);
    if (presence) await becomeAvailable(client);
    return client;
  }

  const ask = (client: TestClient, to: string) =>
    client.iq(`<iq type="get" to="${to}"><query xmlns="${NS_LAST}"/></iq>`);

  it('tells the server uptime', async () => {
    const [alice] = await users('alice');
    const a = await connect(alice, false);
    const before = Math.floor((Date.now() - server.strom.xmpp.startedAt) / 1000);
    const reply = await ask(a, DOMAIN);
    const after = Math.floor((Date.now() - server.strom.xmpp.startedAt) / 1000);
    expect(reply.attrs.from).toBe(DOMAIN);
    expect(seconds(reply)).toBeGreaterThanOrEqual(before);
    expect(seconds(reply)).toBeLessThanOrEqual(after);
  });

  it('answers 0 for a subscriber while the user is available, then the time since logout', async () => {
    const [alice, bob] = await users('alice', 'bob');
    await subscribe(bob, alice);
    const b = await connect(bob);
    const a = await connect(alice);
    expect(seconds(await ask(b, bare(alice)))).toBe(0);

    // A long session: the login was an hour ago, so only the logout time can give a small answer.
    await server.strom.storage.accounts.touchLogin(alice, new Date(Date.now() - 3_600_000));
    await a.stop();
    await b.inbox.waitFor((el) => el.attrs.from === a.jid && el.attrs.type === 'unavailable');
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const elapsed = seconds(await ask(b, bare(alice)));
    expect(elapsed).toBeGreaterThanOrEqual(2);
    expect(elapsed).toBeLessThan(10);
  });

  it('does not count a connected resource that sent no presence as available for others', async () => {
    const [alice, bob] = await users('alice', 'bob');
    await subscribe(bob, alice);
    const b = await connect(bob);
    const a = await connect(alice, false);
    // Frames are handled in order: once this is answered, the login time recorded at bind is written.
    await a.iq('<iq type="get" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>');
    await server.strom.storage.accounts.touchLogin(alice, new Date(Date.now() - 60_000));
    // Alice asking about herself: she is connected.
    expect(seconds(await ask(a, bare(alice)))).toBe(0);
    // Bob sees no available resource, so the answer comes from the last login.
    expect(seconds(await ask(b, bare(alice)))).toBeGreaterThanOrEqual(60);
  });

  it('falls back to the last login time when no logout was seen', async () => {
    const [alice, bob] = await users('alice', 'bob');
    await subscribe(bob, alice);
    await server.strom.storage.accounts.touchLogin(alice, new Date(Date.now() - 3_600_000));
    const b = await connect(bob);
    const elapsed = seconds(await ask(b, bare(alice)));
    expect(elapsed).toBeGreaterThanOrEqual(3600);
    expect(elapsed).toBeLessThan(3610);
  });

  it('answers item-not-found for an account that never logged in', async () => {
    const [alice, bob] = await users('alice', 'bob');
    await subscribe(bob, alice);
    const b = await connect(bob);
    expect(refusal(await ask(b, bare(alice)))).toBe('item-not-found');
  });

  it('forbids anyone without a subscription, for accounts and resources alike', async () => {
    const [alice, bob, mallory] = await users('alice', 'bob', 'mallory');
    await subscribe(bob, alice);
    // Mallory subscribed in her own roster, but Alice's roster grants nothing.
    await storeRosterItem(server.strom.storage, mallory, alice, 'to');
    const a = await connect(alice);
    const m = await connect(mallory);
    const b = await connect(bob);

    expect(refusal(await ask(m, bare(alice)))).toBe('forbidden');
    expect(refusal(await ask(m, `nobody@${DOMAIN}`))).toBe('forbidden');
    expect(refusal(await ask(m, a.jid))).toBe('forbidden');
    expect(
      await a.inbox.nothing((el) => el.name === 'iq' && el.getChild('query', NS_LAST) !== undefined),
    ).toBe(true);

    // A subscriber's query for a resource reaches that resource (which answers for itself).
    const reply = await ask(b, a.jid);
    expect(reply.attrs.from).toBe(a.jid);
    expect(reply.getChild('error')?.getChild('forbidden')).toBeUndefined();
  });

  it('is advertised on the server and on accounts', async () => {
    const [alice, bob] = await users('alice', 'bob');
    await subscribe(bob, alice);
    const b = await connect(bob, false);
    expect(await discoFeatures(b, DOMAIN)).toContain(NS_LAST);
    expect(await discoFeatures(b, bare(alice))).toContain(NS_LAST);
  });
});

describe('last activity arithmetic', () => {
  it('prefers the later of logout and login, since a remembered logout may be stale', () => {
    const login = new Date('2024-05-01T10:00:00Z');
    const logout = new Date('2024-05-01T09:00:00Z');
    expect(lastSeen(logout, login)).toBe(login);
    expect(lastSeen(login, logout)).toBe(login);
    expect(lastSeen(undefined, login)).toBe(login);
    expect(lastSeen(logout, undefined)).toBe(logout);
    expect(lastSeen(undefined, undefined)).toBeUndefined();
  });

  it('counts whole seconds and never goes negative', () => {
    const t = new Date('2024-05-01T10:00:00Z');
    expect(secondsBetween(t, new Date(t.getTime() + 2999))).toBe(2);
    expect(secondsBetween(new Date(t.getTime() + 5000), t)).toBe(0);
  });
});
