import type { Element } from '@strom/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, startTestServer, type TestClient, type TestServer } from './harness.js';
import { discoFeatures, errorCondition } from './im-helpers.js';

const PUBSUB = 'http://jabber.org/protocol/pubsub';
const PRIVATE = 'jabber:iq:private';
const BOOKMARKS = 'urn:xmpp:bookmarks:1';
const LEGACY = 'storage:bookmarks';

const legacyStorage = (conferences: string) =>
  `<iq type="set"><query xmlns="${PRIVATE}"><storage xmlns="${LEGACY}">${conferences}</storage></query></iq>`;

async function privateBookmarks(client: TestClient): Promise<Element[]> {
  const reply = await client.iq(
    `<iq type="get"><query xmlns="${PRIVATE}"><storage xmlns="${LEGACY}"/></query></iq>`,
  );
  expect(reply.attrs.type).toBe('result');
  return reply.getChild('query', PRIVATE)!.getChild('storage', LEGACY)!.getChildren('conference');
}

async function nativeBookmarks(client: TestClient, owner: string): Promise<Element[]> {
  const reply = await client.iq(
    `<iq type="get" to="${owner}"><pubsub xmlns="${PUBSUB}"><items node="${BOOKMARKS}"/></pubsub></iq>`,
  );
  if (reply.attrs.type !== 'result') return [];
  return reply.getChild('pubsub', PUBSUB)!.getChild('items')!.getChildren('item');
}

describe('private XML storage and bookmarks kept in step (XEP-0049, XEP-0048, XEP-0402)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
    for (const name of ['alice', 'bob', 'carol', 'dave']) await server.addUser(name);
  });
  afterAll(() => server.stop());

  it('stores private XML for its owner only, and refuses reserved namespaces', async () => {
    const alice = await connectClient(server, { username: 'alice' });
    const set = await alice.iq(
      `<iq type="set"><query xmlns="${PRIVATE}"><prefs xmlns="urn:example:prefs"><theme>dark</theme></prefs></query></iq>`,
    );
    expect(set.attrs.type).toBe('result');
    const got = await alice.iq(
      `<iq type="get"><query xmlns="${PRIVATE}"><prefs xmlns="urn:example:prefs"/></query></iq>`,
    );
    expect(
      got.getChild('query', PRIVATE)!.getChild('prefs', 'urn:example:prefs')!.getChildText('theme'),
    ).toBe('dark');
    const empty = await alice.iq(
      `<iq type="get"><query xmlns="${PRIVATE}"><other xmlns="urn:example:none"/></query></iq>`,
    );
    expect(empty.getChild('query', PRIVATE)!.getChild('other', 'urn:example:none')!.elements()).toHaveLength(
      0,
    );
    expect(
      errorCondition(
        await alice.iq(`<iq type="set"><query xmlns="${PRIVATE}"><x xmlns="jabber:x:data"/></query></iq>`),
      ),
    ).toBe('not-acceptable');

    const bob = await connectClient(server, { username: 'bob' });
    const snoop = await bob.iq(
      `<iq type="get" to="alice@localhost"><query xmlns="${PRIVATE}"><prefs xmlns="urn:example:prefs"/></query></iq>`,
    );
    expect(errorCondition(snoop)).toBe('forbidden');
    await alice.stop();
    await bob.stop();
  });

  it('advertises both compatibility features on the account', async () => {
    const alice = await connectClient(server, { username: 'alice' });
    const features = await discoFeatures(alice, 'alice@localhost');
    expect(features).toEqual(
      expect.arrayContaining([`${BOOKMARKS}#compat`, `${BOOKMARKS}#compat-pep`, PRIVATE]),
    );
    await alice.stop();
  });

  it('turns XEP-0048 bookmarks in private storage into XEP-0402 items, and removals into retractions', async () => {
    const bob = await connectClient(server, { username: 'bob' });
    const two = `<conference jid="room1@conference.localhost" name="Room one" autojoin="true"><nick>bobby</nick></conference><conference jid="room2@conference.localhost" autojoin="false"/>`;
    expect((await bob.iq(legacyStorage(two))).attrs.type).toBe('result');
    const items = await nativeBookmarks(bob, 'bob@localhost');
    expect(items.map((i) => i.attrs.id)).toEqual([
      'room1@conference.localhost',
      'room2@conference.localhost',
    ]);
    const first = items[0]!.getChild('conference', BOOKMARKS)!;
    expect(first.attrs).toMatchObject({ name: 'Room one', autojoin: 'true' });
    expect(first.getChildText('nick')).toBe('bobby');

    expect((await bob.iq(legacyStorage('<conference jid="room2@conference.localhost"/>'))).attrs.type).toBe(
      'result',
    );
    expect((await nativeBookmarks(bob, 'bob@localhost')).map((i) => i.attrs.id)).toEqual([
      'room2@conference.localhost',
    ]);
    // The items are private (XEP-0223): another user cannot read them.
    const carol = await connectClient(server, { username: 'carol' });
    const denied = await carol.iq(
      `<iq type="get" to="bob@localhost"><pubsub xmlns="${PUBSUB}"><items node="${BOOKMARKS}"/></pubsub></iq>`,
    );
    expect(errorCondition(denied)).toBe('not-allowed');
    await bob.stop();
    await carol.stop();
  });

  it('shows XEP-0402 items through private storage and the legacy PEP node, and takes changes from both', async () => {
    const dave = await connectClient(server, { username: 'dave' });
    // A legacy PEP client made the XEP-0048 node; a modern one publishes a XEP-0402 item.
    const legacyPep = (conferences: string) =>
      `<iq type="set"><pubsub xmlns="${PUBSUB}"><publish node="${LEGACY}"><item id="current"><storage xmlns="${LEGACY}">${conferences}</storage></item></publish><publish-options><x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE" type="hidden"><value>${PUBSUB}#publish-options</value></field><field var="pubsub#access_model"><value>whitelist</value></field></x></publish-options></pubsub></iq>`;
    expect(
      (await dave.iq(legacyPep('<conference jid="old@conference.localhost" autojoin="true"/>'))).attrs.type,
    ).toBe('result');
    expect((await nativeBookmarks(dave, 'dave@localhost')).map((i) => i.attrs.id)).toEqual([
      'old@conference.localhost',
    ]);

    const native = `<iq type="set"><pubsub xmlns="${PUBSUB}"><publish node="${BOOKMARKS}"><item id="new@conference.localhost"><conference xmlns="${BOOKMARKS}" name="New" autojoin="true"><extensions><x xmlns="urn:example:ext"/></extensions></conference></item></publish><publish-options><x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE" type="hidden"><value>${PUBSUB}#publish-options</value></field><field var="pubsub#access_model"><value>whitelist</value></field><field var="pubsub#max_items"><value>max</value></field><field var="pubsub#send_last_published_item"><value>never</value></field></x></publish-options></pubsub></iq>`;
    expect((await dave.iq(native)).attrs.type).toBe('result');

    const inPrivate = await privateBookmarks(dave);
    expect(inPrivate.map((c) => c.attrs.jid).sort()).toEqual([
      'new@conference.localhost',
      'old@conference.localhost',
    ]);
    expect(inPrivate.find((c) => c.attrs.jid === 'new@conference.localhost')!.attrs).toMatchObject({
      name: 'New',
      autojoin: 'true',
    });

    const legacyItems = await dave.iq(
      `<iq type="get"><pubsub xmlns="${PUBSUB}"><items node="${LEGACY}"/></pubsub></iq>`,
    );
    const storage = legacyItems
      .getChild('pubsub', PUBSUB)!
      .getChild('items')!
      .getChild('item')!
      .getChild('storage', LEGACY)!;
    expect(
      storage
        .getChildren('conference')
        .map((c) => c.attrs.jid)
        .sort(),
    ).toEqual(['new@conference.localhost', 'old@conference.localhost']);

    // A legacy edit keeps the XEP-0402 extensions it cannot express.
    expect(
      (
        await dave.iq(
          legacyStorage('<conference jid="new@conference.localhost" name="Renamed" autojoin="true"/>'),
        )
      ).attrs.type,
    ).toBe('result');
    const after = await nativeBookmarks(dave, 'dave@localhost');
    expect(after.map((i) => i.attrs.id)).toEqual(['new@conference.localhost']);
    const conference = after[0]!.getChild('conference', BOOKMARKS)!;
    expect(conference.attrs.name).toBe('Renamed');
    expect(conference.getChild('extensions')?.getChild('x', 'urn:example:ext')).toBeDefined();
    await dave.stop();
  });
});
