import type { Element } from '@strom/xml';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  connectClient,
  STORAGE_KINDS,
  startTestServer,
  type TestClient,
  type TestServer,
} from '../harness.js';
import { launchChromium, type PageProblems, screenshot, watchContext } from './browser.js';
import { ConversePage } from './converse-page.js';

const UI_TIMEOUT = 15_000;
const presenceFrom = (jid: string, type?: string) => (s: Element) =>
  s.name === 'presence' && s.attrs.from?.split('/')[0] === jid && s.attrs.type === type;

describe.each(STORAGE_KINDS)('web chat in Chromium (%s)', (storage) => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let problems: PageProblems;
  let ui: ConversePage;
  let bob: TestClient;
  const carol = 'carol@localhost';
  const bobJid = 'bob@localhost';

  beforeAll(async () => {
    [server, browser] = await Promise.all([startTestServer({ storage }), launchChromium()]);
    context = await browser.newContext();
    problems = watchContext(context, server.httpUrl);
    ui = new ConversePage(await context.newPage());
    await server.addUser('bob', 'bobs-secret');
    bob = await connectClient(server, {
      username: 'bob',
      password: 'bobs-secret',
      resource: 'peer',
      presence: true,
    });
  });
  afterAll(async () => {
    await bob?.stop();
    await browser?.close();
    await server?.stop();
  });
  beforeEach(({ onTestFailed, task }) => {
    onTestFailed(async () => {
      await screenshot(ui.page, `web-chat-${storage}-${task.name}`);
    });
  });

  it('registers a new account through the page', async () => {
    await ui.open(`${server.httpUrl}/`);
    await ui.register('carol', 'carols-secret');
    await ui.waitForChat();
    expect(await server.strom.storage.accounts.exists('carol')).toBe(true);
  });

  it('adds a contact who approves and subscribes back', async () => {
    await ui.addContact(bobJid, 'Bob');
    const request = await bob.inbox.waitFor(presenceFrom(carol, 'subscribe'), UI_TIMEOUT, 'subscribe');
    expect(request.attrs.to).toBe(bobJid);
    await bob.send(`<presence to="${carol}" type="subscribed"/>`);
    await bob.send(`<presence to="${carol}" type="subscribe"/>`);
    // Converse approves a request from a contact it asked itself.
    await bob.inbox.waitFor(presenceFrom(carol, 'subscribed'), UI_TIMEOUT, 'subscribed from carol');

    await expect
      .poll(async () => (await server.strom.storage.roster.getItem('carol', bobJid))?.subscription, {
        timeout: UI_TIMEOUT,
      })
      .toBe('both');
    await ui.contact(bobJid).and(ui.page.locator('[data-status="online"]')).waitFor({ timeout: UI_TIMEOUT });
    expect(await ui.contact(bobJid).textContent()).toContain('Bob');
  });

  it("shows the contact's message in the chat window", async () => {
    await ui.openChat(bobJid);
    await bob.send(`<message to="${carol}" type="chat" id="m1"><body>Hello Carol, Bob here</body></message>`);
    await ui.messages(bobJid).filter({ hasText: 'Hello Carol, Bob here' }).waitFor({ timeout: UI_TIMEOUT });
  });

  it('delivers a message typed in the browser to the contact', async () => {
    await ui.send(bobJid, 'Hi Bob, typed in a browser');
    const message = await bob.inbox.waitFor(
      (s) => s.name === 'message' && s.getChildText('body') === 'Hi Bob, typed in a browser',
      UI_TIMEOUT,
      'message from the browser',
    );
    expect(message.attrs.from?.startsWith(`${carol}/`)).toBe(true);
    expect(message.attrs.type).toBe('chat');
    await ui
      .messages(bobJid)
      .filter({ hasText: 'Hi Bob, typed in a browser' })
      .waitFor({ timeout: UI_TIMEOUT });
  });

  it("shows the contact's presence change in the roster", async () => {
    await bob.send('<presence><show>away</show><status>Out for lunch</status></presence>');
    await ui.contact(bobJid).and(ui.page.locator('[data-status="away"]')).waitFor({ timeout: UI_TIMEOUT });
    await bob.send('<presence/>');
    await ui.contact(bobJid).and(ui.page.locator('[data-status="online"]')).waitFor({ timeout: UI_TIMEOUT });
  });

  it('shows no group chat screens, as Strom has no group chat service', async () => {
    await ui.roster.locator('.controlbox-heading--contacts').waitFor();
    expect(await ui.page.getByText('Groupchats').count()).toBe(0);
    expect(await ui.page.locator('.controlbox-heading--groupchats').count()).toBe(0);
  });

  it('is logged in again after a reload, with the conversation still there', async () => {
    for (const text of ['Hello Carol, Bob here', 'Hi Bob, typed in a browser']) {
      await expect.poll(() => ui.storedLocally(text), { timeout: UI_TIMEOUT }).toBe(true);
    }
    const carolSessions = () =>
      [...server.strom.xmpp.sessions.keys()].filter((jid) => jid.startsWith(`${carol}/`));
    const [session] = carolSessions();
    const connection = server.strom.xmpp.sessions.get(session!)!.transport;
    bob.inbox.all.splice(0);
    await ui.page.reload();
    await ui.waitForChat();
    // Converse resumes its stream after the reload (XEP-0198): the same session now reads the new
    // page's connection, so bob saw carol neither leave nor come back.
    await expect
      .poll(
        () => {
          const resumed = server.strom.xmpp.sessions.get(session!);
          return resumed?.state === 'active' && resumed.transport !== connection;
        },
        { timeout: UI_TIMEOUT },
      )
      .toBe(true);
    expect(carolSessions()).toEqual([session]);
    expect(await bob.inbox.nothing(presenceFrom(carol, 'unavailable'))).toBe(true);
    await ui.waitForOpenChat(bobJid, UI_TIMEOUT);
    await ui.messages(bobJid).filter({ hasText: 'Hello Carol, Bob here' }).waitFor({ timeout: UI_TIMEOUT });
    await ui
      .messages(bobJid)
      .filter({ hasText: 'Hi Bob, typed in a browser' })
      .waitFor({ timeout: UI_TIMEOUT });

    // And the new session works both ways.
    await bob.send(`<message to="${carol}" type="chat" id="m2"><body>Welcome back</body></message>`);
    await ui.messages(bobJid).filter({ hasText: 'Welcome back' }).waitFor({ timeout: UI_TIMEOUT });
  });

  it('loaded nothing from other hosts and broke no CSP rule', () => {
    expect(problems.foreignRequests).toEqual([]);
    expect(problems.cspViolations).toEqual([]);
    expect(problems.pageErrors).toEqual([]);
  });
});

describe('web chat with registration closed (pglite)', () => {
  let server: TestServer;
  let browser: Browser;
  let ui: ConversePage;

  beforeAll(async () => {
    [server, browser] = await Promise.all([
      startTestServer({ env: { REGISTRATION: 'closed' } }),
      launchChromium(),
    ]);
    await server.addUser('dave', 'daves-secret');
    ui = new ConversePage(await (await browser.newContext()).newPage());
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });
  beforeEach(({ onTestFailed, task }) => {
    onTestFailed(async () => {
      await screenshot(ui.page, `web-chat-closed-${task.name}`);
    });
  });

  it('offers no registration and logs a pre-created user in', async () => {
    await ui.open(`${server.httpUrl}/`);
    await ui.page.locator('converse-login-form form').waitFor({ timeout: UI_TIMEOUT });
    expect(await ui.page.getByText('Create an account').count()).toBe(0);
    await ui.login('dave', 'daves-secret');
    await ui.waitForChat();
    expect(await ui.page.locator('converse-user-profile').textContent()).toContain('dave@localhost');
  });

  it('reports a wrong password and stays on the login form', async () => {
    ui = new ConversePage(await (await browser.newContext()).newPage());
    await ui.open(`${server.httpUrl}/`);
    await ui.login('dave', 'not-the-password');
    await ui.page.locator('.conn-feedback.alert-danger').waitFor({ timeout: UI_TIMEOUT });
    await ui.page.locator('converse-login-form form').waitFor({ timeout: UI_TIMEOUT });
    expect(await ui.roster.count()).toBe(0);
  });
});
