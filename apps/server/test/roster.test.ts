import type { Element } from '@strom/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectClient,
  RawClient,
  STORAGE_KINDS,
  startTestServer,
  type TestClient,
  type TestServer,
  WAIT_MS,
} from './harness.js';
import { errorCondition, isAnyRosterPush, isRosterPush, NS_ROSTER, storeRosterItem } from './im-helpers.js';

function rosterItems(el: Element): Element[] {
  return el.getChild('query', NS_ROSTER)?.getChildren('item') ?? [];
}

function groupsOf(item: Element): string[] {
  return item.getChildren('group').map((g) => g.text());
}

function setItem(client: TestClient, item: string): Promise<Element> {
  return client.iq(`<iq type="set"><query xmlns="${NS_ROSTER}">${item}</query></iq>`);
}

function getRoster(client: TestClient, ver?: string): Promise<Element> {
  const attr = ver === undefined ? '' : ` ver="${ver}"`;
  return client.iq(`<iq type="get"><query xmlns="${NS_ROSTER}"${attr}/></iq>`);
}

describe.each(STORAGE_KINDS)('roster (%s)', (storage) => {
  let server: TestServer;
  let counter = 0;
  const clients: TestClient[] = [];

  /** A fresh account for one test, so tests never see each other's rosters. */
  async function newUser(prefix: string): Promise<string> {
    const name = `${prefix}${++counter}`;
    await server.addUser(name);
    return name;
  }

  async function connect(username: string, resource: string, interested = true): Promise<TestClient> {
    const client = await connectClient(server, { username, resource });
    clients.push(client);
    if (interested) expect((await getRoster(client)).attrs.type).toBe('result');
    return client;
  }

  beforeAll(async () => {
    server = await startTestServer({ storage });
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.stop()));
    await server.stop();
  });

  it('advertises roster versioning and pre-approval after authentication', async () => {
    const user = await newUser('feat');
    const raw = await RawClient.connect(server.wsUrl);
    try {
      const before = await raw.open();
      expect(before).not.toContain('urn:xmpp:features:rosterver');
      raw.send(
        `<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${Buffer.from(`\0${user}\0secret`).toString('base64')}</auth>`,
      );
      await raw.next('<success');
      const features = await raw.open();
      expect(features).toContain('<ver xmlns="urn:xmpp:features:rosterver"/>');
      expect(features).toContain('<sub xmlns="urn:xmpp:features:pre-approval"/>');
    } finally {
      raw.close();
    }
  });

  it('starts empty, stores names and groups, and pushes to every interested resource only', async () => {
    const owner = await newUser('owner');
    const first = await connect(owner, 'first');
    const second = await connect(owner, 'second');
    const bystander = await connect(owner, 'bystander', false);

    const empty = await getRoster(first);
    expect(rosterItems(empty)).toEqual([]);
    const initialVer = empty.getChild('query', NS_ROSTER)?.attrs.ver;
    expect(initialVer).toBeDefined();

    const result = await setItem(
      first,
      '<item jid="Romeo@Localhost" name="Romeo"><group>Friends</group><group>Verona</group></item>',
    );
    expect(result.attrs.type).toBe('result');

    for (const client of [first, second]) {
      const push = await client.inbox.waitFor(isRosterPush('romeo@localhost'), WAIT_MS, 'roster push');
      expect(push.attrs.from).toBeUndefined();
      expect(push.attrs.to).toBe(client.jid);
      const query = push.getChild('query', NS_ROSTER)!;
      expect(query.attrs.ver).toBeDefined();
      expect(query.attrs.ver).not.toBe(initialVer);
      const item = query.getChild('item')!;
      expect(item.attrs).toMatchObject({ jid: 'romeo@localhost', name: 'Romeo', subscription: 'none' });
      expect(item.attrs.ask).toBeUndefined();
      expect(groupsOf(item)).toEqual(['Friends', 'Verona']);
    }
    expect(await bystander.inbox.nothing(isAnyRosterPush)).toBe(true);

    const roster = await getRoster(second);
    const items = rosterItems(roster);
    expect(items).toHaveLength(1);
    expect(items[0]!.attrs).toMatchObject({ jid: 'romeo@localhost', name: 'Romeo', subscription: 'none' });
    expect(groupsOf(items[0]!)).toEqual(['Friends', 'Verona']);
  });

  it('updates name and groups without touching the subscription state, ignoring a client-set subscription', async () => {
    const owner = await newUser('upd');
    const contact = await newUser('contact');
    const client = await connect(owner, 'r');
    const contactJid = `${contact}@localhost`;

    // An outstanding subscription request is state the roster set must keep.
    await client.send(`<presence to="${contactJid}" type="subscribe"/>`);
    const asked = await client.inbox.waitFor(isRosterPush(contactJid), WAIT_MS, 'push after subscribe');
    expect(rosterItems(asked)[0]!.attrs.ask).toBe('subscribe');

    const result = await setItem(
      client,
      `<item jid="${contactJid}" name="Renamed" subscription="both" ask="subscribe"><group>Work</group></item>`,
    );
    expect(result.attrs.type).toBe('result');
    const push = await client.inbox.waitFor(isRosterPush(contactJid), WAIT_MS, 'push after rename');
    const item = rosterItems(push)[0]!;
    expect(item.attrs).toMatchObject({ name: 'Renamed', subscription: 'none', ask: 'subscribe' });
    expect(groupsOf(item)).toEqual(['Work']);

    // Dropping the name and the groups.
    await setItem(client, `<item jid="${contactJid}"/>`);
    const cleared = rosterItems(
      await client.inbox.waitFor(isRosterPush(contactJid), WAIT_MS, 'push after clear'),
    )[0]!;
    expect(cleared.attrs.name).toBeUndefined();
    expect(groupsOf(cleared)).toEqual([]);
    expect(cleared.attrs.ask).toBe('subscribe');
  });

  it('removes an item with a push of subscription="remove", and says item-not-found for a missing one', async () => {
    const owner = await newUser('rm');
    const first = await connect(owner, 'first');
    const second = await connect(owner, 'second');
    await setItem(first, '<item jid="gone@localhost" name="Gone"/>');
    await first.inbox.waitFor(isRosterPush('gone@localhost'));
    await second.inbox.waitFor(isRosterPush('gone@localhost'));

    const result = await setItem(first, '<item jid="gone@localhost" subscription="remove"/>');
    expect(result.attrs.type).toBe('result');
    for (const client of [first, second]) {
      const push = await client.inbox.waitFor(
        isRosterPush('gone@localhost', { subscription: 'remove' }),
        WAIT_MS,
        'removal push',
      );
      expect(push.getChild('query', NS_ROSTER)?.attrs.ver).toBeDefined();
    }
    expect(rosterItems(await getRoster(first))).toEqual([]);

    const missing = await setItem(first, '<item jid="never@localhost" subscription="remove"/>');
    expect(missing.attrs.type).toBe('error');
    expect(errorCondition(missing)).toBe('item-not-found');
  });

  it('rejects invalid roster sets with the RFC 6121 §2.3.3 errors and changes nothing', async () => {
    const owner = await newUser('bad');
    const client = await connect(owner, 'r');
    const cases: Array<[string, string]> = [
      ['<item jid="a@localhost"/><item jid="b@localhost"/>', 'bad-request'],
      ['<item jid="a@localhost"><group>G</group><group>G</group></item>', 'bad-request'],
      ['<item jid="a@localhost"><group></group></item>', 'not-acceptable'],
      [`<item jid="a@localhost" name="${'n'.repeat(1024)}"/>`, 'not-acceptable'],
      [`<item jid="${owner}@localhost"/>`, 'not-allowed'],
      ['<item name="no jid"/>', 'bad-request'],
      ['<item jid="a@localhost/resource"/>', 'jid-malformed'],
      ['<item jid="@localhost"/>', 'jid-malformed'],
      ['', 'bad-request'],
    ];
    for (const [item, condition] of cases) {
      const reply = await setItem(client, item);
      expect(reply.attrs.type, item).toBe('error');
      expect(errorCondition(reply), item).toBe(condition);
    }
    expect(rosterItems(await getRoster(client))).toEqual([]);
    expect(await client.inbox.nothing(isAnyRosterPush, 100)).toBe(true);
  });

  it('answers a roster get for another account with an error and not that roster', async () => {
    const owner = await newUser('nosy');
    const other = await newUser('private');
    const client = await connect(owner, 'r');
    const reply = await client.iq(
      `<iq type="get" to="${other}@localhost"><query xmlns="${NS_ROSTER}"/></iq>`,
    );
    expect(reply.attrs.type).toBe('error');
    expect(reply.getChild('query', NS_ROSTER)?.getChildren('item') ?? []).toEqual([]);
  });

  describe('versioning (RFC 6121 §2.6)', () => {
    it('answers an up-to-date version with an empty result and no pushes', async () => {
      const owner = await newUser('ver');
      const client = await connect(owner, 'r');
      await setItem(client, '<item jid="x@localhost"/>');
      await client.inbox.waitFor(isRosterPush('x@localhost'));
      const ver = (await getRoster(client)).getChild('query', NS_ROSTER)!.attrs.ver!;

      const reply = await getRoster(client, ver);
      expect(reply.attrs.type).toBe('result');
      expect(reply.getChild('query')).toBeUndefined();
      expect(await client.inbox.nothing(isAnyRosterPush)).toBe(true);
    });

    it('answers an older version with an empty result followed by pushes of only the changes', async () => {
      const owner = await newUser('delta');
      const client = await connect(owner, 'r');
      for (const jid of ['kept@localhost', 'changed@localhost', 'dropped@localhost']) {
        await setItem(client, `<item jid="${jid}"/>`);
        await client.inbox.waitFor(isRosterPush(jid));
      }
      const cached = (await getRoster(client)).getChild('query', NS_ROSTER)!.attrs.ver!;

      await setItem(client, '<item jid="changed@localhost" name="New name"/>');
      await client.inbox.waitFor(isRosterPush('changed@localhost'));
      await setItem(client, '<item jid="dropped@localhost" subscription="remove"/>');
      await client.inbox.waitFor(isRosterPush('dropped@localhost', { subscription: 'remove' }));
      await setItem(client, '<item jid="added@localhost"/>');
      await client.inbox.waitFor(isRosterPush('added@localhost'));
      const current = (await getRoster(client)).getChild('query', NS_ROSTER)!.attrs.ver!;

      // A new connection that cached the older version resyncs.
      const resync = await connectClient(server, { username: owner, resource: 'resync' });
      clients.push(resync);
      const reply = await getRoster(resync, cached);
      expect(reply.attrs.type).toBe('result');
      expect(reply.getChild('query')).toBeUndefined();
      const pushes = [
        await resync.inbox.waitFor(isRosterPush('changed@localhost'), WAIT_MS, 'changed'),
        await resync.inbox.waitFor(
          isRosterPush('dropped@localhost', { subscription: 'remove' }),
          WAIT_MS,
          'dropped',
        ),
        await resync.inbox.waitFor(isRosterPush('added@localhost'), WAIT_MS, 'added'),
      ];
      expect(rosterItems(pushes[0]!)[0]!.attrs.name).toBe('New name');
      expect(await resync.inbox.nothing(isRosterPush('kept@localhost'))).toBe(true);
      // The last push brings the client to the current version; none claims it earlier.
      const versions = pushes.map((push) => push.getChild('query', NS_ROSTER)!.attrs.ver);
      expect(versions.filter((v) => v === current)).toHaveLength(1);
      expect(versions.every((v) => v === current || v === cached)).toBe(true);
      // The resync made it interested: it now gets pushes like any other.
      await setItem(client, '<item jid="later@localhost"/>');
      await resync.inbox.waitFor(isRosterPush('later@localhost'), WAIT_MS, 'push after resync');
    });

    it('answers an unknown version with the full roster and its current version', async () => {
      const owner = await newUser('full');
      const client = await connect(owner, 'r');
      await setItem(client, '<item jid="y@localhost"/>');
      await client.inbox.waitFor(isRosterPush('y@localhost'));
      const current = (await getRoster(client)).getChild('query', NS_ROSTER)!.attrs.ver;

      for (const ver of ['', 'not-a-version', '99999999']) {
        const reply = await getRoster(client, ver);
        const query = reply.getChild('query', NS_ROSTER);
        expect(query?.attrs.ver, ver).toBe(current);
        expect(rosterItems(reply).map((item) => item.attrs.jid)).toEqual(['y@localhost']);
      }
    });
  });

  it('refuses a new item beyond the roster size limit (MAX_ROSTER_ITEMS) with policy-violation', async () => {
    const small = await startTestServer({ storage, env: { MAX_ROSTER_ITEMS: '3' } });
    try {
      await small.addUser('owner');
      const roster = small.strom.storage.roster;
      for (let i = 0; i < 2; i++) {
        await storeRosterItem(small.strom.storage, 'owner', `c${i}`, 'none');
      }
      const client = await connectClient(small, { username: 'owner', resource: 'r' });
      expect((await setItem(client, '<item jid="last@localhost"/>')).attrs.type).toBe('result');

      const refused = await setItem(client, '<item jid="one-too-many@localhost"/>');
      expect(refused.attrs.type).toBe('error');
      expect(errorCondition(refused)).toBe('policy-violation');
      expect(refused.getChild('error')?.getChildText('text')).toMatch(/at most 3/);

      // Existing items can still be changed, and a subscription request cannot sneak a new item in.
      expect((await setItem(client, '<item jid="last@localhost" name="Still fine"/>')).attrs.type).toBe(
        'result',
      );
      await client.send('<presence type="subscribe" to="another@localhost"/>');
      const bounced = await client.inbox.waitFor(
        (el) => el.name === 'presence' && el.attrs.type === 'error',
        WAIT_MS,
        'subscribe bounced',
      );
      expect(errorCondition(bounced)).toBe('policy-violation');
      expect(await roster.count('owner')).toBe(3);
      await client.stop();
    } finally {
      await small.stop();
    }
  });
});
