import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../harness.js';
import { freePort, type RunningNginx, startNginx } from '../nginx-conf.js';
import { launchChromium, type PageProblems, screenshot, watchContext } from './browser.js';
import { ConversePage } from './converse-page.js';

const UI_TIMEOUT = 15_000;

/** nginx publishing Strom under /chat/ on plain HTTP, with the headers docs/WEB-CLIENT.md asks for. */
function prefixProxyConf(prefix: string, port: number, upstreamPort: number): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `  ${kind}_temp_path ${path.join(prefix, `${kind}_temp`)};`)
    .join('\n');
  return `events { worker_connections 256; }
http {
${temp}
  access_log off;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${port};
    location /chat/ {
      proxy_pass http://127.0.0.1:${upstreamPort}/;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_read_timeout 120s;
    }
  }
}
`;
}

describe('web chat behind nginx under a path prefix (pglite)', () => {
  let server: TestServer;
  let nginx: RunningNginx;
  let nginxDir: string;
  let browser: Browser;
  let ui: ConversePage;
  let problems: PageProblems;
  let chatUrl: string;
  const sockets: string[] = [];

  beforeAll(async () => {
    const port = await freePort();
    chatUrl = `http://127.0.0.1:${port}/chat/`;
    [server, browser] = await Promise.all([
      startTestServer({ env: { TRUSTED_PROXIES: '127.0.0.1', PUBLIC_URL: chatUrl } }),
      launchChromium(),
    ]);
    await server.addUser('erin', 'erins-secret');
    nginxDir = await mkdtemp(path.join(os.tmpdir(), 'strom-nginx-'));
    const confFile = path.join(nginxDir, 'nginx.conf');
    await writeFile(confFile, prefixProxyConf(nginxDir, port, Number(new URL(server.httpUrl).port)));
    nginx = await startNginx(confFile, nginxDir, port);
    const context = await browser.newContext();
    problems = watchContext(context, chatUrl);
    ui = new ConversePage(await context.newPage());
    ui.page.on('websocket', (socket) => sockets.push(socket.url()));
  });
  afterAll(async () => {
    await browser?.close();
    await nginx?.stop();
    await server?.stop();
    if (nginxDir) await rm(nginxDir, { recursive: true, force: true });
  });
  beforeEach(({ onTestFailed, task }) => {
    onTestFailed(async () => {
      await screenshot(ui.page, `behind-proxy-${task.name}`);
    });
  });

  it('logs in through the proxy, with the WebSocket under the same prefix', async () => {
    await ui.open(chatUrl);
    await ui.login('erin', 'erins-secret');
    await ui.waitForChat(UI_TIMEOUT);
    expect(sockets).toEqual([`ws://127.0.0.1:${new URL(chatUrl).port}/chat/xmpp-websocket`]);
  });

  it('offers no registration over plain HTTP through a proxy', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(chatUrl);
    await page.locator('converse-login-form form').waitFor({ timeout: UI_TIMEOUT });
    expect(await page.getByText('Create an account').count()).toBe(0);
    await page.close();
  });

  it('stays logged in across a reload', async () => {
    await ui.page.reload();
    await ui.waitForChat(UI_TIMEOUT);
    expect(sockets).toHaveLength(2);
  });

  it('advertises the public WebSocket URL, prefix included, in host-meta', async () => {
    const response = await fetch(new URL('.well-known/host-meta.json', chatUrl));
    expect(await response.json()).toEqual({
      links: [
        {
          rel: 'urn:xmpp:alt-connections:websocket',
          href: `ws://127.0.0.1:${new URL(chatUrl).port}/chat/xmpp-websocket`,
        },
      ],
    });
  });

  it('loaded nothing from other hosts and broke no CSP rule', () => {
    expect(problems).toEqual({ foreignRequests: [], cspViolations: [], pageErrors: [] });
  });
});
