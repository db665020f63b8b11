import type { Element } from '@strom/xml';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { type InProcessNode, TestCluster, trackedOnline } from './cluster-harness.js';
import { startTestServer, type TestClient, type TestServer } from './harness.js';
import { discoFeatures, errorCondition } from './im-helpers.js';
import { accountFactory, messageWith, online } from './message-helpers.js';

const NS_CARBONS = 'urn:xmpp:carbons:2';
const NS_FORWARD = 'urn:xmpp:forward:0';

/** The message a carbon of `kind` forwards, when `el` is one. */
function forwardedIn(el: Element, kind: 'sent' | 'received'): Element | undefined {
  if (el.name !== 'message') return undefined;
  return el
    .getChild(kind, NS_CARBONS)
    ?.getChild('forwarded', NS_FORWARD)
    ?.getChild('message', 'jabber:client');
}

/** A `<sent/>` or `<received/>` carbon whose forwarded message has this body. */
const carbonOf = (kind: 'sent' | 'received', body: string) => (el: Element) =>
  forwardedIn(el, kind)?.getChildText('body') === body;
/** Any carbon of a message with this body. */
const anyCarbonOf = (body: string) => (el: Element) =>
  carbonOf('sent', body)(el) || carbonOf('received', body)(el);

async function setCarbons(client: TestClient, on: boolean): Promise<Element> {
  return client.iq(`<iq type="set"><${on ? 'enable' : 'disable'} xmlns="${NS_CARBONS}"/></iq>`);
}

async function enableCarbons(...clients: TestClient[]): Promise<void> {
  for (const client of clients) {
    const answer = await setCarbons(client, true);
    if (answer.attrs.type !== 'result') throw new Error(`enable failed: ${answer.toString()}`);
  }
}

const chat = (to: string, body: string, extra = '') =>
  `<message to="${to}" type="chat"><body>${body}</body>${extra}</message>`;

describe.concurrent('message carbons (XEP-0280)', () => {
  let server: TestServer;
  const accounts = accountFactory((username) => server.addUser(username));
  const clients: TestClient[] = [];
  const login = async (username: string, resource: string, priority = 0) => {
    const client = await online(server, username, resource, priority);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await server.stop();
  });

  it('is advertised in the server’s disco#info', async ({ expect }) => {
    const [romeo] = await accounts('romeo');
    const client = await login(romeo!, 'home');
    expect(await discoFeatures(client, 'localhost')).toContain(NS_CARBONS);
  });

  it('answers enable and disable, also when repeated, and only for the own account', async ({ expect }) => {
    const [romeo, juliet] = await accounts('romeo', 'juliet');
    const client = await login(romeo!, 'home');
    for (const on of [true, true, false, false, true]) {
      const answer = await setCarbons(client, on);
      expect(answer.attrs.type).toBe('result');
      expect(answer.elements()).toEqual([]);
    }
    // Addressed to the own bare JID explicitly, as in XEP-0280 §4.
    const explicit = await client.iq(
      `<iq type="set" to="${romeo}@localhost"><disable xmlns="${NS_CARBONS}"/></iq>`,
    );
    expect(explicit.attrs.type).toBe('result');
    // Nobody switches another account's carbons.
    const other = await client.iq(
      `<iq type="set" to="${juliet}@localhost"><enable xmlns="${NS_CARBONS}"/></iq>`,
    );
    expect(other.attrs.type).toBe('error');
    expect(errorCondition(other)).toBe('not-allowed');
  });

  it('copies a sent message to the sender’s other enabled resources, not back to the sender', async ({
    expect,
  }) => {
    const [romeo, juliet] = await accounts('romeo', 'juliet');
    const home = await login(romeo!, 'home');
    const garden = await login(romeo!, 'garden');
    const balcony = await login(juliet!, 'balcony');
    await enableCarbons(home, garden);

    await home.send(chat(`${juliet}@localhost`, 'Neither, fair saint', '<thread>t1</thread>'));
    const original = await balcony.inbox.waitFor(messageWith('Neither, fair saint'));
    expect(original.getChild('sent', NS_CARBONS)).toBeUndefined();

    const copy = await garden.inbox.waitFor(carbonOf('sent', 'Neither, fair saint'));
    expect(copy.attrs).toMatchObject({ from: `${romeo}@localhost`, to: garden.jid, type: 'chat' });
    const forwarded = forwardedIn(copy, 'sent')!;
    expect(forwarded.attrs).toMatchObject({ from: home.jid, to: `${juliet}@localhost`, type: 'chat' });
    expect(forwarded.getChildText('thread')).toBe('t1');
    expect(await home.inbox.nothing(anyCarbonOf('Neither, fair saint'))).toBe(true);
    // The recipient's account gets nothing more either (its only resource got the message).
    expect(await balcony.inbox.nothing(anyCarbonOf('Neither, fair saint'))).toBe(true);
  });

  it('copies messages sent to full JIDs and to other domains', async ({ expect }) => {
    const [romeo, juliet] = await accounts('romeo', 'juliet');
    const home = await login(romeo!, 'home');
    const garden = await login(romeo!, 'garden');
    const balcony = await login(juliet!, 'balcony');
    await enableCarbons(garden);

    await home.send(chat(balcony.jid, 'to her balcony'));
    await balcony.inbox.waitFor(messageWith('to her balcony'));
    const copy = await garden.inbox.waitFor(carbonOf('sent', 'to her balcony'));
    expect(forwardedIn(copy, 'sent')!.attrs.to).toBe(balcony.jid);

    // A domain this server does not serve: the copy goes out although the message itself bounces.
    await home.send(chat('friar@verona.example', 'to the friar'));
    const bounce = await home.inbox.waitFor(
      (el) => messageWith('to the friar')(el) && el.attrs.type === 'error',
    );
    expect(errorCondition(bounce)).toBe('remote-server-not-found');
    const remote = await garden.inbox.waitFor(carbonOf('sent', 'to the friar'));
    expect(forwardedIn(remote, 'sent')!.attrs.to).toBe('friar@verona.example');
  });

  it('copies a message to a full JID to the recipient’s other enabled resources', async ({ expect }) => {
    const [romeo, juliet] = await accounts('romeo', 'juliet');
    const home = await login(romeo!, 'home');
    const garden = await login(romeo!, 'garden');
    const balcony = await login(juliet!, 'balcony');
    await enableCarbons(home, garden);

    await balcony.send(chat(home.jid, 'What man art thou'));
    const original = await home.inbox.waitFor(messageWith('What man art thou'));
    expect(original.attrs.from).toBe(balcony.jid);
    const copy = await garden.inbox.waitFor(carbonOf('received', 'What man art thou'));
    expect(copy.attrs).toMatchObject({ from: `${romeo}@localhost`, to: garden.jid, type: 'chat' });
    expect(forwardedIn(copy, 'received')!.attrs).toMatchObject({ from: balcony.jid, to: home.jid });
    expect(await home.inbox.nothing(anyCarbonOf('What man art thou'))).toBe(true);
  });

  it('copies a bare-JID message to the enabled resources that did not get it', async ({ expect }) => {
    const [romeo, juliet] = await accounts('romeo', 'juliet');
    const home = await login(romeo!, 'home', 5);
    const garden = await login(romeo!, 'garden', 1);
    const balcony = await login(juliet!, 'balcony');
    await enableCarbons(home, garden);

    await balcony.send(chat(`${romeo}@localhost`, 'to the account'));
    await home.inbox.waitFor(messageWith('to the account'));
    const copy = await garden.inbox.waitFor(carbonOf('received', 'to the account'));
    expect(copy.attrs).toMatchObject({ from: `${romeo}@localhost`, to: garden.jid });
    expect(forwardedIn(copy, 'received')!.attrs.to).toBe(`${romeo}@localhost`);
    expect(await home.inbox.nothing(anyCarbonOf('to the account'))).toBe(true);
    expect(await garden.inbox.nothing(messageWith('to the account'))).toBe(true);

    // Resources sharing the top priority all get the message itself, so nobody gets a copy.
    await garden.send('<presence><priority>5</priority></presence>');
    await garden.inbox.waitFor((el) => el.name === 'presence' && el.attrs.from === garden.jid);
    await balcony.send(chat(`${romeo}@localhost`, 'to both'));
    await home.inbox.waitFor(messageWith('to both'));
    await garden.inbox.waitFor(messageWith('to both'));
    expect(await home.inbox.nothing(anyCarbonOf('to both'))).toBe(true);
    expect(await garden.inbox.nothing(anyCarbonOf('to both'))).toBe(true);
  });

  it('leaves out messages marked <private/> or no-copy', async ({ expect }) => {
    const [romeo, juliet] = await accounts('romeo', 'juliet');
    const home = await login(romeo!, 'home', 5);
    const garden = await login(romeo!, 'garden', 1);
    const balcony = await login(juliet!, 'balcony');
    await enableCarbons(home, garden);
    const hints = `<private xmlns="${NS_CARBONS}"/><no-copy xmlns="urn:xmpp:hints"/>`;

    await home.send(chat(balcony.jid, 'private out', hints));
    await home.send(chat(balcony.jid, 'no-copy out', '<no-copy xmlns="urn:xmpp:hints"/>'));
    await balcony.send(chat(home.jid, 'private in', `<private xmlns="${NS_CARBONS}"/>`));
    await balcony.send(chat(`${romeo}@localhost`, 'private to bare', `<private xmlns="${NS_CARBONS}"/>`));
    // Delivered as usual, the <private/> element left in place (XEP-0280 §9 interoperability note).
    for (const body of ['private out', 'no-copy out']) await balcony.inbox.waitFor(messageWith(body));
    const privateIn = await home.inbox.waitFor(messageWith('private in'));
    expect(privateIn.getChild('private', NS_CARBONS)).toBeDefined();
    await home.inbox.waitFor(messageWith('private to bare'));

    // And a plain message afterwards is copied, so the silence above is the rules' doing.
    await home.send(chat(balcony.jid, 'plain out'));
    await garden.inbox.waitFor(carbonOf('sent', 'plain out'));
    for (const body of ['private out', 'no-copy out', 'private in', 'private to bare']) {
      expect(await garden.inbox.nothing(anyCarbonOf(body))).toBe(true);
      expect(await garden.inbox.nothing(messageWith(body))).toBe(true);
    }
  });

  it('sends nothing to a resource that did not enable carbons, or disabled them', async ({ expect }) => {
    const [romeo, juliet] = await accounts('romeo', 'juliet');
    const home = await login(romeo!, 'home', 5);
    const garden = await login(romeo!, 'garden', 1);
    const study = await login(romeo!, 'study', 1);
    const balcony = await login(juliet!, 'balcony');
    await enableCarbons(home, study);

    await home.send(chat(balcony.jid, 'sent one'));
    await balcony.send(chat(home.jid, 'received full'));
    await balcony.send(chat(`${romeo}@localhost`, 'received bare'));
    // The enabled resource gets all three, so they were made; the other one gets none of them
    // (`nothing` proves the connection alive with a ping round trip).
    await study.inbox.waitFor(carbonOf('sent', 'sent one'));
    await study.inbox.waitFor(carbonOf('received', 'received full'));
    await study.inbox.waitFor(carbonOf('received', 'received bare'));
    for (const body of ['sent one', 'received full', 'received bare']) {
      expect(await garden.inbox.nothing(anyCarbonOf(body))).toBe(true);
    }

    // Disabled again: the copies stop.
    expect((await setCarbons(study, false)).attrs.type).toBe('result');
    await home.send(chat(balcony.jid, 'after disable'));
    await balcony.inbox.waitFor(messageWith('after disable'));
    expect(await study.inbox.nothing(anyCarbonOf('after disable'))).toBe(true);
    expect(await garden.inbox.nothing(anyCarbonOf('after disable'))).toBe(true);
  });

  it('copies no groupchat, headline or body-less normal message', async ({ expect }) => {
    const [romeo, juliet] = await accounts('romeo', 'juliet');
    const home = await login(romeo!, 'home');
    const garden = await login(romeo!, 'garden');
    const balcony = await login(juliet!, 'balcony');
    await enableCarbons(garden);

    await balcony.send(`<message to="${home.jid}" type="headline"><body>news</body></message>`);
    await balcony.send(`<message to="${home.jid}" type="groupchat"><body>room talk</body></message>`);
    await balcony.send(`<message to="${home.jid}"><subject>subject only</subject></message>`);
    await home.inbox.waitFor(messageWith('news'));
    await home.inbox.waitFor(messageWith('room talk'));
    await home.inbox.waitFor((el) => el.name === 'message' && el.getChildText('subject') === 'subject only');
    await balcony.send(chat(home.jid, 'marker'));
    await garden.inbox.waitFor(carbonOf('received', 'marker'));
    expect(await garden.inbox.nothing((el) => el.getChild('received', NS_CARBONS) !== undefined)).toBe(true);
  });

  it('does not take a carbon-looking message from a contact for a carbon', async ({ expect }) => {
    const [romeo, tybalt] = await accounts('romeo', 'tybalt');
    const home = await login(romeo!, 'home');
    const garden = await login(romeo!, 'garden');
    const street = await login(tybalt!, 'street');
    await enableCarbons(garden);
    const forged =
      `<message to="${home.jid}" type="chat"><received xmlns="${NS_CARBONS}"><forwarded xmlns="${NS_FORWARD}">` +
      `<message xmlns="jabber:client" from="juliet@localhost/balcony" to="${home.jid}" type="chat">` +
      '<body>Meet me tonight</body></message></forwarded></received></message>';

    await street.send(forged);
    // Home (carbons off) still gets it as sent — from tybalt, for its client to reject — not
    // swallowed as if it were a copy; and it is not wrapped into a genuine copy for garden.
    const got = await home.inbox.waitFor(carbonOf('received', 'Meet me tonight'));
    expect(got.attrs.from).toBe(street.jid);
    expect(
      await garden.inbox.nothing(
        (el) => el.attrs.from === `${romeo}@localhost` && el.getChild('received', NS_CARBONS) !== undefined,
      ),
    ).toBe(true);
    expect(await garden.inbox.nothing(carbonOf('received', 'Meet me tonight'))).toBe(true);
  });

  it('copies a message between the account’s own resources once, to the others', async ({ expect }) => {
    const [romeo] = await accounts('romeo');
    const home = await login(romeo!, 'home');
    const garden = await login(romeo!, 'garden');
    const study = await login(romeo!, 'study');
    await enableCarbons(home, garden, study);

    await home.send(chat(garden.jid, 'note to garden'));
    await garden.inbox.waitFor(messageWith('note to garden'));
    const copy = await study.inbox.waitFor(carbonOf('received', 'note to garden'));
    expect(forwardedIn(copy, 'received')!.attrs).toMatchObject({ from: home.jid, to: garden.jid });
    expect(await study.inbox.nothing(anyCarbonOf('note to garden'))).toBe(true);
    expect(await home.inbox.nothing(anyCarbonOf('note to garden'))).toBe(true);
    expect(await garden.inbox.nothing(anyCarbonOf('note to garden'))).toBe(true);
  });
});

/**
 * Two nodes sharing Redis and PostgreSQL: whether a resource enabled carbons is known only on its
 * own node, and copies still reach it (and only it) from the other one.
 */
describe('message carbons across two nodes', () => {
  let cluster: TestCluster;
  let a: InProcessNode;
  let b: InProcessNode;
  const clients: TestClient[] = [];
  const login = trackedOnline(clients);

  beforeAll(async () => {
    cluster = await TestCluster.create('carbons');
    [a, b] = await Promise.all([cluster.startNode('node-a'), cluster.startNode('node-b')]);
    for (const user of ['romeo', 'juliet']) await cluster.addUser(user);
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.stop()));
    await cluster?.close();
  });

  it('delivers sent and received copies to enabled resources on the other node only', async ({ expect }) => {
    const home = await login(a, 'romeo', 'home', { priority: 5 });
    const garden = await login(b, 'romeo', 'garden', { priority: 1 });
    const phone = await login(b, 'romeo', 'phone', { priority: 1 });
    const desk = await login(a, 'romeo', 'desk', { priority: 1 });
    const balcony = await login(a, 'juliet', 'balcony');
    await enableCarbons(home, garden);
    expect((await cluster.directory('romeo@localhost')).map((entry) => entry.node).sort()).toEqual([
      'node-a',
      'node-a',
      'node-b',
      'node-b',
    ]);

    await home.send(chat('juliet@localhost', 'across, sent'));
    await balcony.inbox.waitFor(messageWith('across, sent'));
    const sent = await garden.inbox.waitFor(carbonOf('sent', 'across, sent'));
    expect(sent.attrs).toMatchObject({ from: 'romeo@localhost', to: garden.jid, type: 'chat' });
    expect(forwardedIn(sent, 'sent')!.attrs.from).toBe(home.jid);

    await balcony.send(chat(home.jid, 'across, to full'));
    await home.inbox.waitFor(messageWith('across, to full'));
    await garden.inbox.waitFor(carbonOf('received', 'across, to full'));

    await balcony.send(chat('romeo@localhost', 'across, to bare'));
    await home.inbox.waitFor(messageWith('across, to bare'));
    await garden.inbox.waitFor(carbonOf('received', 'across, to bare'));

    // Sent from node b: the enabled resource on node a gets it.
    await garden.send(chat('juliet@localhost', 'back from b'));
    await balcony.inbox.waitFor(messageWith('back from b'));
    await home.inbox.waitFor(carbonOf('sent', 'back from b'));

    // The resources without carbons, one per node, got none of it.
    for (const body of ['across, sent', 'across, to full', 'across, to bare', 'back from b']) {
      expect(await phone.inbox.nothing(anyCarbonOf(body))).toBe(true);
      expect(await desk.inbox.nothing(anyCarbonOf(body))).toBe(true);
      expect(await garden.inbox.nothing(anyCarbonOf(body), 0)).toBe(true);
    }

    // Enabled on node b later: its node alone knows, and the next copy arrives.
    await enableCarbons(phone);
    await balcony.send(chat(home.jid, 'now phone too'));
    await phone.inbox.waitFor(carbonOf('received', 'now phone too'));
    await garden.inbox.waitFor(carbonOf('received', 'now phone too'));
    expect(await desk.inbox.nothing(anyCarbonOf('now phone too'))).toBe(true);
  });
});
