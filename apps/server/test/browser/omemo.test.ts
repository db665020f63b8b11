import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Element } from '@strom/xml';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connectClient, startTestServer, type TestServer } from '../harness.js';
import { storeMutualSubscription } from '../im-helpers.js';
import { launchChromium, type PageProblems, RESULTS_DIR, screenshot, watchContext } from './browser.js';
import { ConversePage } from './converse-page.js';

const UI_TIMEOUT = 15_000;
/** Loading libomemo's WebAssembly and generating an identity, pre-keys and two bundles per user. */
const KEYS_TIMEOUT = 60_000;

const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_OMEMO = 'eu.siacs.conversations.axolotl';
const NS_OMEMO2 = 'urn:xmpp:omemo:2';
const DEVICELIST = `${NS_OMEMO}.devicelist`;
const BUNDLES = `${NS_OMEMO}.bundles:`;
const DEVICES2 = `${NS_OMEMO2}:devices`;
const BUNDLES2 = `${NS_OMEMO2}:bundles`;
/** An OMEMO payload of either version (Converse 14 sends urn:xmpp:omemo:2 when both sides have it). */
const ENCRYPTED = /<encrypted xmlns=["'](eu\.siacs\.conversations\.axolotl|urn:xmpp:omemo:2)["']/;

/** A 16×16 PNG, small enough that Converse uploads it as it is. */
const AVATAR_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAFklEQVR42mM4oRFFEmIY1TCqYfhqAADep0oQOJ5xeQAAAABJRU5ErkJggg==',
  'base64',
);

interface Frame {
  sent: boolean;
  text: string;
}

/** One person's browser: the page, every WebSocket frame and what the console complained about. */
interface Person {
  name: string;
  password: string;
  jid: string;
  context: BrowserContext;
  ui: ConversePage;
  problems: PageProblems;
  frames: Frame[];
  console: string[];
}

async function openBrowserFor(browser: Browser, server: TestServer, name: string): Promise<Person> {
  const context = await browser.newContext();
  const problems = watchContext(context, server.httpUrl);
  const page = await context.newPage();
  const person: Person = {
    name,
    password: `${name}s-secret`,
    jid: `${name}@localhost`,
    context,
    ui: new ConversePage(page),
    problems,
    frames: [],
    console: [],
  };
  page.on('websocket', (socket) => {
    const record = (sent: boolean) => (frame: { payload: string | Buffer }) =>
      person.frames.push({ sent, text: String(frame.payload) });
    socket.on('framesent', record(true));
    socket.on('framereceived', record(false));
  });
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') {
      person.console.push(`${message.type()}: ${message.text()}`);
    }
  });
  return person;
}

/** Rows of a query on Strom's database, whichever driver runs it. */
async function query(server: TestServer, statement: string): Promise<Array<Record<string, unknown>>> {
  const result = (await server.strom.storage.database.execute(statement)) as unknown as {
    rows?: Array<Record<string, unknown>>;
  } & Array<Record<string, unknown>>;
  return result.rows ?? result;
}

interface PepNode {
  node: string;
  accessModel: string;
  items: string[];
}

/** An account's PEP nodes as stored, with their access model and item payloads (oldest first). */
async function pepNodes(server: TestServer, owner: string): Promise<PepNode[]> {
  const rows = await query(
    server,
    `select n.node, n.config, i.payload from pep_nodes n
       left join pep_items i on i.owner = n.owner and i.node = n.node
       where n.owner = '${owner}' order by n.node, i.seq`,
  );
  const nodes = new Map<string, PepNode>();
  for (const row of rows) {
    const name = String(row.node);
    const config = (typeof row.config === 'string' ? JSON.parse(row.config) : row.config) as {
      accessModel: string;
    };
    let node = nodes.get(name);
    if (!node) {
      node = { node: name, accessModel: config.accessModel, items: [] };
      nodes.set(name, node);
    }
    if (row.payload !== null && row.payload !== undefined) node.items.push(String(row.payload));
  }
  return [...nodes.values()];
}

/** The OMEMO (legacy) device ids in an account's stored device list. */
async function deviceIds(server: TestServer, owner: string): Promise<string[]> {
  const list = (await pepNodes(server, owner)).find((n) => n.node === DEVICELIST);
  return [...(list?.items.at(-1) ?? '').matchAll(/<device id="(\d+)"/g)].map((m) => m[1]!);
}

const offlineStanzas = async (server: TestServer, owner: string) =>
  (await query(server, `select stanza from offline_messages where owner = '${owner}' order by id`)).map((r) =>
    String(r.stanza),
  );

/** Message stanzas a page sent or received, as raw frames. */
const messageFrames = (frames: Frame[], sent: boolean) =>
  frames.filter((f) => f.sent === sent && /^<message\b/.test(f.text)).map((f) => f.text);

/**
 * The one chat message `sender` sent since frame `senderFrom` left its page encrypted and reached
 * `recipient`'s page (frames since `recipientFrom`) encrypted, and no frame either way held `text`.
 * Playwright reports frames a moment after the page saw them, hence the polling.
 */
async function expectCiphertextOnly(
  sender: Person,
  senderFrom: number,
  recipient: Person,
  recipientFrom: number,
  text: string,
): Promise<void> {
  // Key-only OMEMO messages (heartbeats after a key exchange) carry no body.
  const chats = (frames: string[]) => frames.filter((f) => ENCRYPTED.test(f) && f.includes('<body'));
  const sent = () => messageFrames(sender.frames.slice(senderFrom), true);
  const received = () => messageFrames(recipient.frames.slice(recipientFrom), false);
  await expect.poll(() => chats(sent()), { timeout: UI_TIMEOUT }).toHaveLength(1);
  await expect.poll(() => chats(received()), { timeout: UI_TIMEOUT }).toHaveLength(1);
  expect([...sent(), ...received()].filter((f) => f.includes(text))).toEqual([]);
}

/** IQ errors the server sent to a page, as raw frames. */
const iqErrors = (person: Person) =>
  person.frames.filter((f) => !f.sent && /^<iq\b[^>]*type=["']error["']/.test(f.text)).map((f) => f.text);

/** Clicks the chat's padlock once Converse offers it (the contact has OMEMO devices), until it is locked. */
async function turnOnOmemo(person: Person, jid: string): Promise<void> {
  const toggle = person.ui.chat(jid).locator('button.toggle-omemo');
  await toggle.and(person.ui.page.locator('[data-disabled="false"]')).waitFor({ timeout: UI_TIMEOUT });
  const locked = toggle.locator('converse-icon.fa-lock');
  if ((await locked.count()) === 0) await toggle.click();
  await locked.waitFor({ timeout: UI_TIMEOUT });
  expect(await toggle.getAttribute('title')).toBe('Messages are sent encrypted');
}

async function logIn(person: Person, server: TestServer): Promise<void> {
  await person.ui.open(`${server.httpUrl}/`);
  // OMEMO is only offered on a device the user trusts, which the login form assumes by default.
  const trusted = person.ui.page.locator('#converse-login-trusted');
  await trusted.waitFor({ timeout: UI_TIMEOUT });
  expect(await trusted.isChecked()).toBe(true);
  await person.ui.login(person.name, person.password);
  await person.ui.waitForChat();
}

/** Closes a chat through its heading's menu ("Close and end this conversation"). */
async function closeChat(person: Person, jid: string): Promise<void> {
  const heading = person.ui.chat(jid).locator('converse-chat-heading');
  await heading.locator('.dropdown-toggle').click();
  await heading.locator('a.close-chatbox-button').click();
  await person.ui.chat(jid).waitFor({ state: 'detached', timeout: UI_TIMEOUT });
}

/**
 * Logs out through the profile dialog. On a trusted device Converse keeps the OMEMO keys; and unlike
 * a closed page, it ends the session for good, so nothing waits for a stream to be resumed.
 */
async function logOut(person: Person): Promise<void> {
  const { page } = person.ui;
  await page.locator('converse-user-profile a.show-profile').click();
  await page.locator('converse-profile-modal').getByRole('button', { name: 'Log out' }).click();
  await page.locator('form.confirm').getByRole('button', { name: 'Confirm' }).click();
  await page.locator('converse-login-form form').waitFor({ timeout: UI_TIMEOUT });
}

describe('OMEMO between two pages of Strom (pglite)', () => {
  let server: TestServer;
  let browser: Browser;
  let alice: Person;
  let bob: Person;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startTestServer(), launchChromium()]);
    await server.addUser('alice', 'alices-secret');
    await server.addUser('bob', 'bobs-secret');
    await server.addUser('carol', 'carols-secret');
    await storeMutualSubscription(server.strom.storage, 'alice', 'bob');
    alice = await openBrowserFor(browser, server, 'alice');
    bob = await openBrowserFor(browser, server, 'bob');
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });
  beforeEach(({ onTestFailed, task }) => {
    onTestFailed(async () => {
      for (const person of [alice, bob]) {
        await screenshot(person.ui.page, `omemo-${person.name}-${task.name}`);
        // Every frame of the page's WebSocket, for telling a server's answer from a client's doing.
        await mkdir(RESULTS_DIR, { recursive: true });
        await writeFile(
          path.join(RESULTS_DIR, `omemo-${person.name}-frames.txt`),
          person.frames.map((f) => `${f.sent ? 'OUT' : 'IN '} ${f.text}`).join('\n'),
        );
        console.log(
          [
            `${person.name}'s console:`,
            ...person.console,
            `IQ errors sent to ${person.name}:`,
            ...iqErrors(person),
          ].join('\n'),
        );
      }
    });
  });

  it('logs both in on trusted devices, where Converse publishes its OMEMO keys with open access', {
    timeout: 2 * KEYS_TIMEOUT,
  }, async () => {
    await Promise.all([logIn(alice, server), logIn(bob, server)]);

    for (const person of [alice, bob]) {
      await expect
        .poll(
          async () => {
            const nodes = await pepNodes(server, person.name);
            return nodes
              .filter((n) => n.items.length > 0)
              .map((n) => (n.node.startsWith(BUNDLES) ? BUNDLES : n.node));
          },
          { timeout: KEYS_TIMEOUT, interval: 250 },
        )
        .toEqual(expect.arrayContaining([DEVICELIST, BUNDLES, DEVICES2, BUNDLES2]));
      const nodes = await pepNodes(server, person.name);
      const omemo = nodes.filter((n) => n.node.startsWith(NS_OMEMO) || n.node.startsWith(NS_OMEMO2));
      expect(omemo.map((n) => [n.node, n.accessModel])).toEqual(omemo.map((n) => [n.node, 'open']));
      // One device, whose legacy bundle node is named after it and which both lists name.
      const [device] = await deviceIds(server, person.name);
      expect(await deviceIds(server, person.name)).toEqual([device]);
      expect(nodes.map((n) => n.node)).toContain(`${BUNDLES}${device}`);
      expect(nodes.find((n) => n.node === DEVICES2)?.items.at(-1)).toContain(`<device id="${device}"`);
      expect(nodes.find((n) => n.node === `${BUNDLES}${device}`)?.items.at(-1)).toContain('<identityKey>');
    }

    // Open access: someone with no subscription to alice can fetch her keys to start a session.
    const carol = await connectClient(server, { username: 'carol', password: 'carols-secret' });
    try {
      const [device] = await deviceIds(server, 'alice');
      for (const node of [DEVICELIST, `${BUNDLES}${device}`, DEVICES2, BUNDLES2]) {
        const answer: Element = await carol.iq(
          `<iq type="get" to="${alice.jid}"><pubsub xmlns="${NS_PUBSUB}"><items node="${node}"/></pubsub></iq>`,
        );
        expect(answer.attrs.type, node).toBe('result');
        expect(
          answer.getChild('pubsub', NS_PUBSUB)?.getChild('items')?.getChildren('item').length,
          node,
        ).toBe(1);
      }
    } finally {
      await carol.stop();
    }
  });

  it('turns OMEMO on in the chat, and bob reads what alice sent encrypted', async () => {
    await bob.ui.openChat(alice.jid);
    await alice.ui.openChat(bob.jid);
    await turnOnOmemo(alice, bob.jid);
    const text = 'Hello Bob, only you can read this';
    const aliceFrom = alice.frames.length;
    const bobFrom = bob.frames.length;
    await alice.ui.send(bob.jid, text);
    await bob.ui.messages(alice.jid).filter({ hasText: text }).waitFor({ timeout: UI_TIMEOUT });

    // What went over the wire, out of alice's page and out of the server to bob, was ciphertext.
    await expectCiphertextOnly(alice, aliceFrom, bob, bobFrom, text);
    await alice.ui.messages(bob.jid).filter({ hasText: text }).waitFor({ timeout: UI_TIMEOUT });
  });

  it('lets bob answer encrypted, and alice reads it', async () => {
    await turnOnOmemo(bob, alice.jid);
    const text = 'Hi Alice, got it, encrypted back';
    const bobFrom = bob.frames.length;
    const aliceFrom = alice.frames.length;
    await bob.ui.send(alice.jid, text);
    await alice.ui.messages(bob.jid).filter({ hasText: text }).waitFor({ timeout: UI_TIMEOUT });
    await expectCiphertextOnly(bob, bobFrom, alice, aliceFrom, text);
  });

  it('stores a message for offline bob as ciphertext, which bob reads when he logs in again', async () => {
    const [bobsDevice] = await deviceIds(server, 'bob');
    // Converse 14 restores an open chat when its user logs in again, and a message that arrives
    // while it does so may be decrypted and stored in the browser without being shown in that chat.
    // Bob closes the chat first, so that the one he opens later is drawn from what was received.
    await closeChat(bob, alice.jid);
    await logOut(bob);
    await alice.ui
      .contact(bob.jid)
      .and(alice.ui.page.locator('[data-status="offline"]'))
      .waitFor({ timeout: UI_TIMEOUT });

    const text = 'While you were away: the key is under the mat';
    await alice.ui.send(bob.jid, text);
    // Only the message counts: a late delivery receipt for bob's old resource may be kept as well.
    const storedMessages = async () =>
      (await offlineStanzas(server, 'bob')).filter((s) => s.includes('<body'));
    await expect.poll(storedMessages, { timeout: UI_TIMEOUT }).toHaveLength(1);
    const [stored] = await storedMessages();
    expect(stored).toMatch(ENCRYPTED);
    expect(stored).toContain(`rid="${bobsDevice}"`);
    expect(stored).not.toContain(text);
    const id = /^<message\b[^>]*\sid="([^"]+)"/.exec(stored ?? '')?.[1];
    expect(id).toBeDefined();

    const bobFrom = bob.frames.length;
    await logIn(bob, server);
    // Bob's page acknowledges the message once it has handled it (XEP-0184).
    await expect
      .poll(() => bob.frames.slice(bobFrom).some((f) => f.sent && f.text.includes(`<received id="${id}"`)), {
        timeout: UI_TIMEOUT,
      })
      .toBe(true);
    // Alice is listed under "New messages" as well as in her group; either entry opens the chat.
    await bob.ui.roster.locator(`a.open-chat[data-jid="${alice.jid}"]`).first().click();
    await bob.ui.waitForOpenChat(alice.jid);
    await bob.ui.messages(alice.jid).filter({ hasText: text }).waitFor({ timeout: UI_TIMEOUT });
    const delivered = messageFrames(bob.frames.slice(bobFrom), false).filter((f) => ENCRYPTED.test(f));
    expect(delivered.some((f) => f.includes('urn:xmpp:delay'))).toBe(true);
    expect(delivered.filter((f) => f.includes(text))).toEqual([]);
    expect(await offlineStanzas(server, 'bob')).toEqual([]);
    // The same device came back: its keys survived the logout.
    expect(await deviceIds(server, 'bob')).toEqual([bobsDevice]);
  });

  it("shows the avatar alice picks in her profile on bob's page", async () => {
    const { page } = alice.ui;
    await page.locator('converse-user-profile a.show-profile').click();
    const modal = page.locator('converse-profile-modal');
    await modal.locator('input[name=avatar_image]').setInputFiles({
      name: 'avatar.png',
      mimeType: 'image/png',
      buffer: AVATAR_PNG,
    });
    await modal.locator('button.save-form').click();
    await modal.locator('button.save-form').waitFor({ state: 'hidden', timeout: UI_TIMEOUT });

    // Converse saves it in the vCard; Strom keeps the PEP avatar (XEP-0084) in step (XEP-0398).
    await expect
      .poll(async () => (await pepNodes(server, 'alice')).map((n) => n.node), { timeout: UI_TIMEOUT })
      .toEqual(expect.arrayContaining(['urn:xmpp:avatar:data', 'urn:xmpp:avatar:metadata']));
    const data = (await pepNodes(server, 'alice')).find((n) => n.node === 'urn:xmpp:avatar:data');
    expect(data?.items.at(-1)).toContain(AVATAR_PNG.toString('base64'));

    const image = bob.ui.contact(alice.jid).locator('converse-avatar svg image');
    await expect
      .poll(async () => ((await image.count()) > 0 ? await image.first().getAttribute('href') : null), {
        timeout: UI_TIMEOUT,
      })
      .toBe(`data:image/png;base64,${AVATAR_PNG.toString('base64')}`);
  });

  it('had no PEP or OMEMO request refused and nothing went wrong on either page', () => {
    for (const person of [alice, bob]) {
      // Fetching a node nobody has published to yet is item-not-found (XEP-0060 §6.5.9.11); any
      // other answer to a PEP request, or any error on a publish or configure, is a failure.
      const pepErrors = iqErrors(person).filter((f) => f.includes(NS_PUBSUB));
      expect(
        pepErrors.filter((f) => !(/<items\b/.test(f) && /<item-not-found\b/.test(f))),
        person.name,
      ).toEqual([]);
      // A contact without a vCard is answered like a missing account (XEP-0054 §3.3); nothing else
      // may be service-unavailable.
      expect(
        iqErrors(person).filter((f) => /service-unavailable/.test(f) && !/<vCard\b/.test(f)),
        person.name,
      ).toEqual([]);
      expect(person.console.filter((line) => /service-unavailable|omemo|pubsub|pep\b/i.test(line))).toEqual(
        [],
      );
      expect(person.console).toEqual([]);
      expect(person.problems.foreignRequests).toEqual([]);
      expect(person.problems.cspViolations).toEqual([]);
      expect(person.problems.pageErrors).toEqual([]);
    }
  });
});
