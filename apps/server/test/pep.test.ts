import { createHash } from 'node:crypto';
import { type Element, parseFrame } from '@strom/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectClient,
  STORAGE_KINDS,
  startTestServer,
  type TestClient,
  type TestServer,
  xmlOf,
} from './harness.js';
import { errorCondition, storeMutualSubscription, storeRosterItem } from './im-helpers.js';
import { PipeClient, startNodePair } from './message-helpers.js';

const PUBSUB = 'http://jabber.org/protocol/pubsub';
const OWNER = 'http://jabber.org/protocol/pubsub#owner';
const EVENT = 'http://jabber.org/protocol/pubsub#event';
const ERRORS = 'http://jabber.org/protocol/pubsub#errors';
const DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';
const DEVICELIST = 'eu.siacs.conversations.axolotl.devicelist';
const AVATAR_META = 'urn:xmpp:avatar:metadata';
const CAPS_NODE = 'https://strom.test/client';

/** A client's XEP-0115 identity: its verification string and its disco#info answer. */
function clientCaps(features: string[]) {
  const all = [...new Set([DISCO_INFO, 'http://jabber.org/protocol/caps', ...features])].sort();
  const s = `client/web//Test<${all.map((f) => `${f}<`).join('')}`;
  const ver = createHash('sha1').update(s, 'utf8').digest('base64');
  return {
    ver,
    presence: `<presence><c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="${CAPS_NODE}" ver="${ver}"/></presence>`,
    answer: `<query xmlns="${DISCO_INFO}" node="${CAPS_NODE}#${ver}"><identity category="client" type="web" name="Test"/>${all
      .map((f) => `<feature var="${f}"/>`)
      .join('')}</query>`,
  };
}

type Callee = {
  get(ns: string, name: string, h: (ctx: { element: { attrs: Record<string, string> } }) => unknown): void;
};
const answersOf = new WeakMap<TestClient, Map<string, string>>();

/** Lets a client answer the server's disco#info question about these caps. */
function announceable(client: TestClient, features: string[]): ReturnType<typeof clientCaps> {
  const caps = clientCaps(features);
  let answers = answersOf.get(client);
  if (!answers) {
    const known = new Map<string, string>();
    answers = known;
    answersOf.set(client, known);
    // @xmpp/client answers IQs through its iqCallee middleware; its types leave it untyped.
    const callee = (client.xmpp as unknown as { iqCallee: Callee }).iqCallee;
    callee.get(DISCO_INFO, 'query', ({ element }) =>
      parseToXmpp(known.get(element.attrs.node ?? '') ?? `<query xmlns="${DISCO_INFO}"/>`),
    );
  }
  answers.set(`${CAPS_NODE}#${caps.ver}`, caps.answer);
  return caps;
}

/** Connects a client that answers the server's disco#info question about its caps. */
async function capsClient(
  server: TestServer,
  username: string,
  features: string[],
  resource?: string,
): Promise<TestClient> {
  const client = await connectClient(server, { username, resource });
  const caps = announceable(client, features);
  await client.send(caps.presence);
  await client.inbox.waitFor(
    (s) => s.name === 'presence' && s.attrs.from === client.jid,
    undefined,
    'own presence',
  );
  return client;
}

function parseToXmpp(text: string) {
  const el = parseFrame(text);
  const convert = (node: Element): ReturnType<typeof xmlOf> =>
    xmlOf(
      node.name,
      node.attrs,
      ...node.children.map((child) => (typeof child === 'string' ? child : convert(child))),
    );
  return convert(el);
}

function publishIq(
  node: string,
  id: string,
  payload: string,
  options: Record<string, string> = {},
  to = '',
): string {
  const fields = Object.entries(options)
    .map(([name, value]) => `<field var="${name}"><value>${value}</value></field>`)
    .join('');
  const publishOptions = fields
    ? `<publish-options><x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE" type="hidden"><value>${PUBSUB}#publish-options</value></field>${fields}</x></publish-options>`
    : '';
  return `<iq type="set"${to ? ` to="${to}"` : ''}><pubsub xmlns="${PUBSUB}"><publish node="${node}"><item id="${id}">${payload}</item></publish>${publishOptions}</pubsub></iq>`;
}

function itemsIq(to: string, node: string, extra = '', inner = ''): string {
  return `<iq type="get" to="${to}"><pubsub xmlns="${PUBSUB}"><items node="${node}"${extra}>${inner}</items></pubsub></iq>`;
}

const itemIds = (reply: Element) =>
  reply
    .getChild('pubsub', PUBSUB)
    ?.getChild('items')
    ?.getChildren('item')
    .map((i) => i.attrs.id) ?? [];

const pubsubCondition = (reply: Element) =>
  reply
    .getChild('error')
    ?.elements()
    .find((el) => el.getNS() === ERRORS)?.localName;

const isEvent =
  (from: string, node: string, what = 'items') =>
  (s: Element) =>
    s.name === 'message' &&
    s.attrs.from === from &&
    s.getChild('event', EVENT)?.getChild(what)?.attrs.node === node;

const devices = (ids: number[]) =>
  `<list xmlns="eu.siacs.conversations.axolotl">${ids.map((id) => `<device id="${id}"/>`).join('')}</list>`;
const metadata = (id: string) =>
  `<metadata xmlns="${AVATAR_META}"><info id="${id}" bytes="1" type="image/png"/></metadata>`;

describe.each(STORAGE_KINDS)('PEP (%s)', (storage) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ storage, env: { PEP_MAX_NODES: '6', PEP_MAX_ACCOUNT_ITEMS: '8' } });
    for (const name of ['alice', 'bob', 'carol', 'dave', 'erin', 'fred', 'gina', 'hugo', 'ivan']) {
      await server.addUser(name);
    }
    const db = server.strom.storage;
    await storeMutualSubscription(db, 'alice', 'bob');
    await storeMutualSubscription(db, 'alice', 'carol');
    await storeMutualSubscription(db, 'erin', 'fred');
  });
  afterAll(() => server.stop());

  it('advertises a PEP service on the account, with the features clients check for', async () => {
    const alice = await connectClient(server, { username: 'alice' });
    const info = await alice.iq(`<iq type="get" to="alice@localhost"><query xmlns="${DISCO_INFO}"/></iq>`);
    const query = info.getChild('query', DISCO_INFO)!;
    expect(query.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`)).toEqual(
      expect.arrayContaining(['account/registered', 'pubsub/pep']),
    );
    const features = query.getChildren('feature').map((f) => f.attrs.var);
    for (const feature of [
      'publish',
      'publish-options',
      'config-node',
      'config-node-max',
      'auto-create',
      'access-whitelist',
      'last-published',
      'filtered-notifications',
    ]) {
      expect(features).toContain(`${PUBSUB}#${feature}`);
    }
    await alice.stop();
  });

  it('runs the precondition-not-met → reconfigure → publish cycle Converse and Conversations perform', async () => {
    const dave = await connectClient(server, { username: 'dave' });
    expect((await dave.iq(publishIq(DEVICELIST, 'current', devices([1])))).attrs.type).toBe('result');
    // The node exists with the default (presence) access; an open precondition is not met.
    const refused = await dave.iq(
      publishIq(DEVICELIST, 'current', devices([1, 2]), { 'pubsub#access_model': 'open' }),
    );
    expect(refused.attrs.type).toBe('error');
    expect(errorCondition(refused)).toBe('conflict');
    expect(pubsubCondition(refused)).toBe('precondition-not-met');

    const form = await dave.iq(
      `<iq type="get"><pubsub xmlns="${OWNER}"><configure node="${DEVICELIST}"/></pubsub></iq>`,
    );
    const fields = form.getChild('pubsub', OWNER)!.getChild('configure')!.getChild('x', 'jabber:x:data')!;
    expect(
      fields
        .getChildren('field')
        .find((f) => f.attrs.var === 'pubsub#access_model')
        ?.getChildText('value'),
    ).toBe('presence');
    const configured = await dave.iq(
      `<iq type="set"><pubsub xmlns="${OWNER}"><configure node="${DEVICELIST}"><x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE" type="hidden"><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var="pubsub#access_model"><value>open</value></field><field var="pubsub#max_items"><value>max</value></field></x></configure></pubsub></iq>`,
    );
    expect(configured.attrs.type).toBe('result');
    const retried = await dave.iq(
      publishIq(DEVICELIST, 'current', devices([1, 2]), {
        'pubsub#access_model': 'open',
        'pubsub#max_items': 'max',
      }),
    );
    expect(retried.attrs.type).toBe('result');
    await dave.stop();
  });

  it('lets a stranger with no subscription fetch an open OMEMO device list and bundle, and nothing else', async () => {
    const erin = await connectClient(server, { username: 'erin' });
    const open = { 'pubsub#access_model': 'open', 'pubsub#max_items': 'max' };
    expect((await erin.iq(publishIq(DEVICELIST, 'current', devices([7]), open))).attrs.type).toBe('result');
    const bundleNode = 'eu.siacs.conversations.axolotl.bundles:7';
    const bundle =
      '<bundle xmlns="eu.siacs.conversations.axolotl"><signedPreKeyPublic signedPreKeyId="1">AAA=</signedPreKeyPublic></bundle>';
    expect((await erin.iq(publishIq(bundleNode, 'current', bundle, open))).attrs.type).toBe('result');
    expect(
      (
        await erin.iq(
          publishIq(
            'urn:xmpp:omemo:2:devices',
            'current',
            '<devices xmlns="urn:xmpp:omemo:2"><device id="7"/></devices>',
            open,
          ),
        )
      ).attrs.type,
    ).toBe('result');
    expect(
      (await erin.iq(publishIq('private:notes', 'n1', '<note xmlns="urn:example:notes">secret</note>'))).attrs
        .type,
    ).toBe('result');

    const hugo = await connectClient(server, { username: 'hugo' });
    const list = await hugo.iq(itemsIq('erin@localhost', DEVICELIST));
    expect(list.attrs.type).toBe('result');
    expect(itemIds(list)).toEqual(['current']);
    expect(
      list
        .getChild('pubsub', PUBSUB)!
        .getChild('items')!
        .getChild('item')!
        .getChild('list')!
        .getChild('device')!.attrs.id,
    ).toBe('7');
    expect(itemIds(await hugo.iq(itemsIq('erin@localhost', bundleNode)))).toEqual(['current']);
    expect(itemIds(await hugo.iq(itemsIq('erin@localhost', 'urn:xmpp:omemo:2:devices')))).toEqual([
      'current',
    ]);

    const hidden = await hugo.iq(itemsIq('erin@localhost', 'private:notes'));
    expect(errorCondition(hidden)).toBe('not-authorized');
    expect(pubsubCondition(hidden)).toBe('presence-subscription-required');
    // A contact with a subscription may read the presence-access node.
    const fred = await connectClient(server, { username: 'fred' });
    expect(itemIds(await fred.iq(itemsIq('erin@localhost', 'private:notes')))).toEqual(['n1']);
    // Publishing to someone else's service is refused.
    expect(
      errorCondition(await hugo.iq(publishIq(DEVICELIST, 'x', devices([9]), {}, 'erin@localhost'))),
    ).toBe('forbidden');
    for (const c of [erin, hugo, fred]) await c.stop();
  });

  it('keeps max_items, answers by id and by max_items, and refuses a bad option', async () => {
    const gina = await connectClient(server, { username: 'gina' });
    for (const id of ['a', 'b', 'c', 'd']) {
      const reply = await gina.iq(
        publishIq('urn:example:log', id, `<entry xmlns="urn:example">${id}</entry>`, {
          'pubsub#max_items': '3',
        }),
      );
      expect(reply.attrs.type).toBe('result');
    }
    expect(itemIds(await gina.iq(itemsIq('gina@localhost', 'urn:example:log')))).toEqual(['b', 'c', 'd']);
    expect(itemIds(await gina.iq(itemsIq('gina@localhost', 'urn:example:log', ' max_items="2"')))).toEqual([
      'c',
      'd',
    ]);
    expect(
      itemIds(await gina.iq(itemsIq('gina@localhost', 'urn:example:log', '', '<item id="b"/>'))),
    ).toEqual(['b']);
    const bad = await gina.iq(
      publishIq('urn:example:other', 'x', '<x xmlns="urn:example"/>', { 'pubsub#made_up': '1' }),
    );
    expect(bad.attrs.type).toBe('error');
    expect(errorCondition(await gina.iq(itemsIq('gina@localhost', 'urn:example:missing')))).toBe(
      'item-not-found',
    );
    await gina.stop();
  });

  it('notifies only resources whose caps ask for the node, and sends the last item when one comes online', async () => {
    const alice = await connectClient(server, { username: 'alice', resource: 'phone' });
    const bob = await capsClient(server, 'bob', [`${AVATAR_META}+notify`]);
    const carol = await capsClient(server, 'carol', ['urn:example:other+notify']);
    const aliceOther = await capsClient(server, 'alice', [`${AVATAR_META}+notify`], 'laptop');

    expect((await alice.iq(publishIq(AVATAR_META, 'h1', metadata('h1')))).attrs.type).toBe('result');
    const event = await bob.inbox.waitFor(isEvent('alice@localhost', AVATAR_META), undefined, 'avatar event');
    expect(event.attrs.type).toBe('headline');
    expect(event.getChild('event', EVENT)!.getChild('items')!.getChild('item')!.attrs.id).toBe('h1');
    // The owner's other resource asked for it too.
    await aliceOther.inbox.waitFor(isEvent('alice@localhost', AVATAR_META), undefined, 'own event');
    expect(await carol.inbox.nothing(isEvent('alice@localhost', AVATAR_META))).toBe(true);

    // A resource coming online later gets the last item after its initial presence.
    const bobLater = await capsClient(server, 'bob', [`${AVATAR_META}+notify`], 'tablet');
    const last = await bobLater.inbox.waitFor(
      isEvent('alice@localhost', AVATAR_META),
      undefined,
      'last item',
    );
    expect(last.getChild('event', EVENT)!.getChild('items')!.getChild('item')!.attrs.id).toBe('h1');

    // Retraction with notify reaches the interested contact.
    const retract = `<iq type="set"><pubsub xmlns="${PUBSUB}"><retract node="${AVATAR_META}" notify="true"><item id="h1"/></retract></pubsub></iq>`;
    expect((await alice.iq(retract)).attrs.type).toBe('result');
    const retraction = await bob.inbox.waitFor(
      (s) => s.getChild('event', EVENT)?.getChild('items')?.getChild('retract')?.attrs.id === 'h1',
      undefined,
      'retract event',
    );
    expect(retraction.attrs.from).toBe('alice@localhost');
    for (const c of [alice, bob, carol, aliceOther, bobLater]) await c.stop();
  });

  it('sends the last item when a resource starts asking for a node with new caps', async () => {
    const erin = await connectClient(server, { username: 'erin' });
    expect(
      (await erin.iq(publishIq('urn:example:mood', 'm1', '<mood xmlns="urn:example:mood">calm</mood>'))).attrs
        .type,
    ).toBe('result');
    const fred = await capsClient(server, 'fred', ['urn:example:other+notify'], 'desk');
    expect(await fred.inbox.nothing(isEvent('erin@localhost', 'urn:example:mood'))).toBe(true);
    // New caps with a new interest: the server learns them and sends the node's last item.
    const caps = announceable(fred, ['urn:example:other+notify', 'urn:example:mood+notify']);
    await fred.send(caps.presence);
    const last = await fred.inbox.waitFor(
      isEvent('erin@localhost', 'urn:example:mood'),
      undefined,
      'last item on new caps',
    );
    expect(last.getChild('event', EVENT)!.getChild('items')!.getChild('item')!.attrs.id).toBe('m1');
    await erin.stop();
    await fred.stop();
  });

  it('passes OMEMO-encrypted messages through untouched and keeps them offline as ciphertext', async () => {
    const alice = await connectClient(server, { username: 'alice', resource: 'omemo' });
    const encrypted =
      '<encrypted xmlns="eu.siacs.conversations.axolotl"><header sid="7"><key rid="9">a2V5</key><iv>aXY=</iv></header><payload>Y2lwaGVy</payload></encrypted>';
    await alice.send(
      `<message to="bob@localhost" type="chat" id="enc1">${encrypted}<store xmlns="urn:xmpp:hints"/></message>`,
    );
    await expect.poll(async () => (await server.strom.storage.offline.list('bob', 10)).length).toBe(1);
    const [stored] = await server.strom.storage.offline.list('bob', 10);
    expect(stored!.stanza).toContain('<payload>Y2lwaGVy</payload>');
    const bob = await connectClient(server, { username: 'bob', resource: 'later', presence: true });
    const got = await bob.inbox.waitFor((s) => s.attrs.id === 'enc1', undefined, 'encrypted message');
    const payload = got.getChild('encrypted', 'eu.siacs.conversations.axolotl');
    expect(payload?.getChildText('payload')).toBe('Y2lwaGVy');
    expect(payload?.getChild('header')?.getChild('key')?.attrs.rid).toBe('9');
    await expect.poll(async () => (await server.strom.storage.offline.list('bob', 10)).length).toBe(0);
    await alice.stop();
    await bob.stop();
  });

  it('applies the roster and whitelist access models, and lists visible nodes in disco#items', async () => {
    const db = server.strom.storage;
    await db.roster.put('ivan', {
      jid: 'alice@localhost',
      groups: ['friends'],
      subscription: 'both',
      askOut: false,
      approved: false,
    });
    await storeRosterItem(db, 'ivan', 'bob', 'both');
    const ivan = await connectClient(server, { username: 'ivan' });
    const rosterOnly = `<iq type="set"><pubsub xmlns="${PUBSUB}"><create node="urn:example:friends"/><configure><x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE" type="hidden"><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var="pubsub#access_model"><value>roster</value></field><field var="pubsub#roster_groups_allowed"><value>friends</value></field></x></configure></pubsub></iq>`;
    expect((await ivan.iq(rosterOnly)).attrs.type).toBe('result');
    await ivan.iq(publishIq('urn:example:friends', 'f1', '<x xmlns="urn:example"/>'));
    await ivan.iq(
      publishIq(
        'urn:xmpp:bookmarks:1',
        'room@conference.localhost',
        '<conference xmlns="urn:xmpp:bookmarks:1" autojoin="true"/>',
        { 'pubsub#access_model': 'whitelist', 'pubsub#send_last_published_item': 'never' },
      ),
    );

    const alice = await connectClient(server, { username: 'alice' });
    const bob = await connectClient(server, { username: 'bob' });
    expect(itemIds(await alice.iq(itemsIq('ivan@localhost', 'urn:example:friends')))).toEqual(['f1']);
    const notInGroup = await bob.iq(itemsIq('ivan@localhost', 'urn:example:friends'));
    expect(pubsubCondition(notInGroup)).toBe('not-in-roster-group');
    const closed = await alice.iq(itemsIq('ivan@localhost', 'urn:xmpp:bookmarks:1'));
    expect(errorCondition(closed)).toBe('not-allowed');
    expect(pubsubCondition(closed)).toBe('closed-node');
    expect(itemIds(await ivan.iq(itemsIq('ivan@localhost', 'urn:xmpp:bookmarks:1')))).toEqual([
      'room@conference.localhost',
    ]);

    const nodesFor = async (client: TestClient) =>
      (await client.iq(`<iq type="get" to="ivan@localhost"><query xmlns="${DISCO_ITEMS}"/></iq>`))
        .getChild('query', DISCO_ITEMS)
        ?.getChildren('item')
        .map((i) => i.attrs.node)
        .sort();
    expect(await nodesFor(ivan)).toEqual(['urn:example:friends', 'urn:xmpp:bookmarks:1']);
    expect(await nodesFor(alice)).toEqual(['urn:example:friends']);
    for (const c of [ivan, alice, bob]) await c.stop();
  });

  it('limits nodes per account, deletes and purges nodes, and removes everything with the account', async () => {
    await server.addUser('quota');
    const quota = await connectClient(server, { username: 'quota' });
    const x = '<x xmlns="urn:example"/>';
    const ok = async (stanza: string) => expect((await quota.iq(stanza)).attrs.type).toBe('result');
    for (const id of ['a', 'b', 'c'])
      await ok(publishIq('urn:example:n0', id, x, { 'pubsub#max_items': '3' }));
    for (let n = 1; n <= 5; n++) await ok(publishIq(`urn:example:n${n}`, 'i', x));
    // Six nodes and eight items: the node limit refuses a seventh node.
    expect(errorCondition(await quota.iq(publishIq('urn:example:n6', 'i', x)))).toBe('resource-constraint');
    // A publish that replaces the oldest item keeps the total at the limit, so it is fine.
    await ok(publishIq('urn:example:n0', 'd', x));
    // One that would make nine items is refused.
    await ok(
      `<iq type="set"><pubsub xmlns="${OWNER}"><configure node="urn:example:n1"><x xmlns="jabber:x:data" type="submit"><field var="pubsub#max_items"><value>2</value></field></x></configure></pubsub></iq>`,
    );
    expect(errorCondition(await quota.iq(publishIq('urn:example:n1', 'j', x)))).toBe('resource-constraint');
    expect(itemIds(await quota.iq(itemsIq('quota@localhost', 'urn:example:n1')))).toEqual(['i']);
    const purge = await quota.iq(
      `<iq type="set"><pubsub xmlns="${OWNER}"><purge node="urn:example:n0"/></pubsub></iq>`,
    );
    expect(purge.attrs.type).toBe('result');
    expect(itemIds(await quota.iq(itemsIq('quota@localhost', 'urn:example:n0')))).toEqual([]);
    const del = await quota.iq(
      `<iq type="set"><pubsub xmlns="${OWNER}"><delete node="urn:example:n1"/></pubsub></iq>`,
    );
    expect(del.attrs.type).toBe('result');
    expect(errorCondition(await quota.iq(itemsIq('quota@localhost', 'urn:example:n1')))).toBe(
      'item-not-found',
    );
    await quota.stop();

    const db = server.strom.storage.database;
    const rows = async () => {
      const result = (await db.execute(
        "select (select count(*) from pep_nodes where owner = 'quota') as nodes, (select count(*) from pep_items where owner = 'quota') as items",
      )) as unknown as { rows?: Array<Record<string, unknown>> } & Array<Record<string, unknown>>;
      const row = (result.rows ?? result)[0]!;
      return { nodes: Number(row.nodes), items: Number(row.items) };
    };
    expect(await rows()).toEqual({ nodes: 5, items: 4 });
    await server.strom.xmpp.deleteAccount('quota');
    expect(await rows()).toEqual({ nodes: 0, items: 0 });
  });
});

describe('PEP across cluster nodes', () => {
  it('notifies a contact on another node whose caps hash was first learned there', async () => {
    const pair = await startNodePair('pglite');
    try {
      for (const name of ['alice', 'bob']) await pair.a.createAccount(name, 'secret');
      await storeMutualSubscription(pair.storage, 'alice', 'bob');
      const alice = await PipeClient.online(pair.a, 'alice', 'a');
      // Bob connects to node b with caps nobody has seen: node b asks him and shares the answer.
      const bob = await PipeClient.online(pair.b, 'bob', 'b');
      const caps = clientCaps([`${AVATAR_META}+notify`]);
      bob.stanza(caps.presence.replace('<presence>', '<presence xmlns="jabber:client">'));
      const question = parseFrame(await bob.next((f) => f.includes(DISCO_INFO) && f.includes('type="get"')));
      bob.stanza(
        `<iq xmlns="jabber:client" type="result" id="${question.attrs.id}" to="${question.attrs.from}">${caps.answer}</iq>`,
      );
      // Alice's node knows the hash only through the cluster broadcast.
      await expect
        .poll(
          async () => {
            alice.stanza(
              `<iq xmlns="jabber:client" type="set" id="p${Date.now()}"><pubsub xmlns="${PUBSUB}"><publish node="${AVATAR_META}"><item id="h2">${metadata('h2')}</item></publish></pubsub></iq>`,
            );
            return bob.count(`node="${AVATAR_META}"`) > 0;
          },
          { timeout: 10_000, interval: 200 },
        )
        .toBe(true);
      const event = await bob.nextStanza(`node="${AVATAR_META}"`);
      expect(event.attrs.from).toBe('alice@localhost');
      expect(event.getChild('event', EVENT)!.getChild('items')!.getChild('item')!.attrs.id).toBe('h2');
    } finally {
      await pair.stop();
    }
  });
});
