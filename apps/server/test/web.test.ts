import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { parseElement } from '@strom/xml';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { locateConverse, preferredEncoding, relativeUrl, web } from '../src/web/index.js';
import { startTestServer, type TestServer } from './harness.js';

const { distDir, version } = locateConverse();
const assets = `/converse/${version}`;

/** The page's CSP as a map of directive → sources. */
function csp(header: string | null | undefined): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const part of (header ?? '').split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) directives.set(name, sources);
  }
  return directives;
}

function xrdWebsocketHref(xml: string): string | undefined {
  const xrd = parseElement(xml.replace(/^<\?xml[^>]*\?>\s*/, ''));
  expect(xrd.name).toBe('XRD');
  expect(xrd.attrs.xmlns).toBe('http://docs.oasis-open.org/ns/xri/xrd-1.0');
  return xrd.getChildren('Link').find((l) => l.attrs.rel === 'urn:xmpp:alt-connections:websocket')?.attrs
    .href;
}

/** Strom's web plugin alone on a Fastify instance, configured from environment variables. */
async function webOnly(env: Record<string, string>): Promise<FastifyInstance> {
  const config = loadConfig({ DATA_DIR: '/nonexistent', ...env });
  const app = Fastify({ trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false });
  await app.register(web, { config });
  await app.ready();
  return app;
}

describe('web client and discovery over real HTTP', () => {
  let server: TestServer;
  let untrusted: TestServer;
  beforeAll(async () => {
    [server, untrusted] = await Promise.all([
      // Tests talk to the server from loopback, so loopback is "the proxy".
      startTestServer({ env: { TRUSTED_PROXIES: '127.0.0.1' } }),
      startTestServer({ env: { TRUSTED_PROXIES: '10.20.30.40' } }),
    ]);
  });
  afterAll(() => Promise.all([server?.stop(), untrusted?.stop()]));

  it('serves a small page that loads Converse as modules from this origin only', async () => {
    const response = await fetch(`${server.httpUrl}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await response.text();
    expect(html).toContain('<title>Strom</title>');
    expect(html).toContain(`<script type="module" src="converse/${version}/converse.min.js"></script>`);
    expect(html).toContain('<script type="module" src="converse-init.js"></script>');
    expect(html.indexOf('converse.min.js')).toBeLessThan(html.indexOf('converse-init.js'));
    // Relative URLs only: nothing from another host, and a proxy's path prefix is kept.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it('protects the page with a strict Content-Security-Policy and security headers', async () => {
    const response = await fetch(`${server.httpUrl}/`);
    const policy = csp(response.headers.get('content-security-policy'));
    const host = new URL(server.httpUrl).host;
    expect(policy.get('default-src')).toEqual(["'self'"]);
    expect(policy.get('script-src')).toEqual(["'self'", "'wasm-unsafe-eval'"]);
    expect(policy.get('connect-src')).toEqual(["'self'", `ws://${host}`, `wss://${host}`]);
    expect(policy.get('img-src')).toEqual(["'self'", 'data:', 'blob:']);
    expect(policy.get('frame-ancestors')).toEqual(["'none'"]);
    expect(policy.get('object-src')).toEqual(["'none'"]);
    expect(policy.get('base-uri')).toEqual(["'none'"]);
    for (const sources of policy.values()) {
      expect(sources.filter((s) => s !== "'self'" && s !== "'none'").join(' ')).not.toMatch(/https?:/);
    }
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
  });

  it('revalidates the page and init script by ETag instead of caching them', async () => {
    for (const [url, cacheControl] of [
      ['/', 'no-cache'],
      ['/converse-init.js', 'private, no-cache'],
    ] as const) {
      const first = await fetch(`${server.httpUrl}${url}`);
      expect(first.headers.get('cache-control')).toBe(cacheControl);
      const etag = first.headers.get('etag');
      expect(etag).toMatch(/^"[\w-]+"$/);
      const again = await fetch(`${server.httpUrl}${url}`, { headers: { 'if-none-match': etag! } });
      expect(again.status).toBe(304);
    }
  });

  it('generates the init script from the configuration', async () => {
    const response = await fetch(`${server.httpUrl}/converse-init.js`);
    expect(response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const script = await response.text();
    const server_ = JSON.parse(/^const server = (.*);$/m.exec(script)![1]!) as {
      settings: Record<string, unknown>;
      websocket: string;
      assets: string;
    };
    expect(server_.websocket).toBe('xmpp-websocket');
    expect(server_.assets).toBe(`converse/${version}/`);
    expect(server_.settings).toMatchObject({
      authentication: 'login',
      locked_domain: 'localhost',
      default_domain: 'localhost',
      registration_domain: 'localhost',
      allow_registration: true,
      discover_connection_methods: false,
      xmpp_providers_url: '',
      autocomplete_providers_url: '',
      view_mode: 'fullscreen',
    });
    // Nothing in the settings points at another host.
    expect(JSON.stringify(server_.settings)).not.toMatch(/https?:\/\//);
    expect(script).toContain('converse.initialize(');
    expect(script).toContain('new URL(server.websocket, import.meta.url)');
  });

  it('serves Converse files with year-long immutable caching under a versioned path', async () => {
    const response = await fetch(`${server.httpUrl}${assets}/converse.min.js`, {
      headers: { 'accept-encoding': 'identity' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-encoding')).toBeNull();
    const body = Buffer.from(await response.arrayBuffer());
    expect(body.equals(await readFile(path.join(distDir, 'converse.min.js')))).toBe(true);

    const etag = response.headers.get('etag')!;
    const cached = await fetch(`${server.httpUrl}${assets}/converse.min.js`, {
      headers: { 'accept-encoding': 'identity', 'if-none-match': etag },
    });
    expect(cached.status).toBe(304);
  });

  it('compresses text assets with brotli or gzip, with a separate ETag for each encoding', async () => {
    const original = await readFile(path.join(distDir, 'converse.min.css'));
    const etags = new Set<string>();
    for (const [encoding, decode] of [
      ['br', brotliDecompressSync],
      ['gzip', gunzipSync],
    ] as const) {
      // node:http keeps the body as sent; fetch would decode it on its own.
      const raw = await rawGet(server.httpUrl, `${assets}/converse.min.css`, { 'accept-encoding': encoding });
      expect(raw.headers['content-encoding']).toBe(encoding);
      expect(raw.headers.vary).toBe('Accept-Encoding');
      expect(raw.body.length).toBeLessThan(original.length / 3);
      expect(decode(raw.body).equals(original)).toBe(true);
      etags.add(String(raw.headers.etag));
    }
    expect(etags.size).toBe(2);
  });

  it('answers HEAD with the real length and serves WebAssembly with its own type', async () => {
    const wasm = await readFile(path.join(distDir, 'curve25519_compiled.wasm'));
    const head = await rawGet(server.httpUrl, `${assets}/curve25519_compiled.wasm`, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('application/wasm');
    expect(Number(head.headers['content-length'])).toBe(wasm.length);
    expect(head.body.length).toBe(0);
  });

  it('serves only files of the package, never a path outside it', async () => {
    for (const url of [
      `${assets}/nope.js`,
      `${assets}/../../package.json`,
      `${assets}/..%2f..%2fpackage.json`,
      `${assets}/%2e%2e/%2e%2e/package.json`,
      `/converse/0.0.0/converse.min.js`,
    ]) {
      const raw = await rawGet(server.httpUrl, url, {});
      expect(raw.status, url).toBe(404);
    }
  });

  it('publishes the WebSocket endpoint in host-meta (XRD) and host-meta.json for any origin', async () => {
    const expected = `ws://${new URL(server.httpUrl).host}/xmpp-websocket`;
    const xml = await fetch(`${server.httpUrl}/.well-known/host-meta`);
    expect(xml.status).toBe(200);
    expect(xml.headers.get('content-type')).toBe('application/xrd+xml; charset=utf-8');
    expect(xml.headers.get('access-control-allow-origin')).toBe('*');
    expect(xrdWebsocketHref(await xml.text())).toBe(expected);

    const json = await fetch(`${server.httpUrl}/.well-known/host-meta.json`);
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(json.headers.get('access-control-allow-origin')).toBe('*');
    expect(await json.json()).toEqual({
      links: [{ rel: 'urn:xmpp:alt-connections:websocket', href: expected }],
    });
  });

  it('takes scheme and host from X-Forwarded-* when a trusted proxy sends them', async () => {
    const headers = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'chat.example.org' };
    const xml = await fetch(`${server.httpUrl}/.well-known/host-meta`, { headers });
    expect(xrdWebsocketHref(await xml.text())).toBe('wss://chat.example.org/xmpp-websocket');
    const json = await fetch(`${server.httpUrl}/.well-known/host-meta.json`, { headers });
    expect(((await json.json()) as { links: Array<{ href: string }> }).links[0]!.href).toBe(
      'wss://chat.example.org/xmpp-websocket',
    );
    const page = await fetch(`${server.httpUrl}/`, { headers });
    expect(csp(page.headers.get('content-security-policy')).get('connect-src')).toEqual([
      "'self'",
      'ws://chat.example.org',
      'wss://chat.example.org',
    ]);
  });

  it('ignores X-Forwarded-* from a peer that is not a trusted proxy', async () => {
    const headers = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' };
    const response = await fetch(`${untrusted.httpUrl}/.well-known/host-meta.json`, { headers });
    const { links } = (await response.json()) as { links: Array<{ href: string }> };
    expect(links[0]!.href).toBe(`ws://${new URL(untrusted.httpUrl).host}/xmpp-websocket`);
    const page = await fetch(`${untrusted.httpUrl}/`, { headers });
    expect(page.headers.get('content-security-policy')).not.toContain('evil.example');
  });

  it('offers registration only where the stream will be secure enough to allow it', async () => {
    const allowsRegistration = async (base: string, headers: Record<string, string>) => {
      const script = await (await fetch(`${base}/converse-init.js`, { headers })).text();
      return /"allow_registration":(true|false)/.exec(script)?.[1];
    };
    // Direct from loopback: secure, as the WebSocket endpoint judges it.
    expect(await allowsRegistration(server.httpUrl, {})).toBe('true');
    // Through a proxy over plain HTTP: registration would send the password in clear.
    expect(await allowsRegistration(server.httpUrl, { 'x-forwarded-for': '192.0.2.7' })).toBe('false');
    // Through a trusted proxy that terminated TLS.
    const tls = { 'x-forwarded-for': '192.0.2.7', 'x-forwarded-proto': 'https' };
    expect(await allowsRegistration(server.httpUrl, tls)).toBe('true');
    // An untrusted peer cannot claim TLS.
    expect(await allowsRegistration(untrusted.httpUrl, tls)).toBe('false');
  });

  it('never puts a forged Host header into host-meta or the CSP, with or without a proxy in front', async () => {
    for (const target of [server, untrusted]) {
      const hostMeta = await rawGet(target.httpUrl, '/.well-known/host-meta.json', { host: 'evil.example' });
      expect(JSON.parse(hostMeta.body.toString())).toEqual({
        links: [{ rel: 'urn:xmpp:alt-connections:websocket', href: 'ws://localhost/xmpp-websocket' }],
      });
      const xml = await rawGet(target.httpUrl, '/.well-known/host-meta', { host: 'evil.example:5280' });
      expect(xml.body.toString()).not.toContain('evil.example');
      const page = await rawGet(target.httpUrl, '/', { host: 'evil.example' });
      expect(page.status).toBe(200);
      const policy = csp(String(page.headers['content-security-policy']));
      expect(policy.get('connect-src')).toEqual(["'self'", 'ws://localhost', 'wss://localhost']);
    }
    // The address the connection reached counts only with the port it reached.
    const otherPort = await rawGet(server.httpUrl, '/.well-known/host-meta.json', { host: '127.0.0.1:1' });
    expect(otherPort.body.toString()).toContain('"ws://localhost/xmpp-websocket"');
  });

  it('believes a Host header that names XMPP_DOMAIN', async () => {
    const port = new URL(untrusted.httpUrl).port;
    for (const host of ['localhost', `localhost:${port}`]) {
      const response = await rawGet(untrusted.httpUrl, '/.well-known/host-meta.json', { host });
      expect(response.body.toString(), host).toContain(`"ws://${host}/xmpp-websocket"`);
    }
  });

  it('refuses a Host header that cannot be part of a URL', async () => {
    const raw = await rawGet(server.httpUrl, '/.well-known/host-meta', { host: 'bad"host<x>' });
    expect(raw.status).toBe(400);
    expect(raw.body.toString()).not.toContain('bad"host');
  });
});

describe('web client and discovery settings', () => {
  it('builds the host-meta URL from PUBLIC_URL, keeping its path prefix', async () => {
    for (const [publicUrl, expected] of [
      ['https://chat.example.org', 'wss://chat.example.org/xmpp-websocket'],
      ['https://example.org/chat/', 'wss://example.org/chat/xmpp-websocket'],
      ['http://10.0.0.2:8080/x', 'ws://10.0.0.2:8080/x/xmpp-websocket'],
    ]) {
      const app = await webOnly({ PUBLIC_URL: publicUrl! });
      // PUBLIC_URL wins even over a trusted proxy's headers and the Host header.
      const json = await app.inject({
        url: '/.well-known/host-meta.json',
        headers: { host: 'internal:5280', 'x-forwarded-host': 'other.example' },
      });
      expect(json.json()).toEqual({ links: [{ rel: 'urn:xmpp:alt-connections:websocket', href: expected }] });
      expect(json.headers['cache-control']).toBe('public, max-age=3600');
      const xml = await app.inject({ url: '/.well-known/host-meta', headers: { host: 'internal:5280' } });
      expect(xrdWebsocketHref(xml.body)).toBe(expected);
      await app.close();
    }
  });

  it('answers with XMPP_DOMAIN for a Host it does not know, and believes only trusted proxies', async () => {
    const app = await webOnly({ XMPP_DOMAIN: 'example.org', TRUSTED_PROXIES: 'loopback' });
    const href = async (headers: Record<string, string>, remoteAddress = '127.0.0.1') =>
      (await app.inject({ url: '/.well-known/host-meta.json', headers, remoteAddress })).json().links[0].href;
    expect(await href({ host: 'attacker.example' })).toBe('ws://example.org/xmpp-websocket');
    // inject's connection comes from loopback, which TRUSTED_PROXIES=loopback trusts.
    expect(await href({ host: 'internal:5280', 'x-forwarded-host': 'chat.example.org' })).toBe(
      'ws://chat.example.org/xmpp-websocket',
    );
    expect(await href({ host: 'internal:5280', 'x-forwarded-host': 'chat.example.org' }, '192.0.2.9')).toBe(
      'ws://example.org/xmpp-websocket',
    );
    const page = await app.inject({ url: '/', headers: { host: 'attacker.example' } });
    expect(page.headers['content-security-policy']).not.toContain('attacker.example');
    await app.close();
  });

  it('uses WEBSOCKET_PATH in discovery', async () => {
    const app = await webOnly({ WEBSOCKET_PATH: '/ws', XMPP_DOMAIN: 'chat.test' });
    const json = await app.inject({ url: '/.well-known/host-meta.json', headers: { host: 'chat.test' } });
    expect(json.json().links[0].href).toBe('ws://chat.test/ws');
    await app.close();
  });

  it('turns the web client off with WEB_CLIENT=false but keeps discovery', async () => {
    const app = await webOnly({ WEB_CLIENT: 'false' });
    expect((await app.inject({ url: '/' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/converse-init.js' })).statusCode).toBe(404);
    expect((await app.inject({ url: `${assets}/converse.min.js` })).statusCode).toBe(404);
    const hostMeta = await app.inject({ url: '/.well-known/host-meta', headers: { host: 'chat.test' } });
    expect(hostMeta.statusCode).toBe(200);
    await app.close();
  });

  it('serves the client under WEB_CLIENT_PATH with relative links to the WebSocket', async () => {
    const app = await webOnly({ WEB_CLIENT_PATH: '/chat' });
    const redirect = await app.inject({ url: '/chat' });
    expect(redirect.statusCode).toBe(302);
    expect(redirect.headers.location).toBe('chat/');
    expect((await app.inject({ url: '/' })).statusCode).toBe(404);
    const page = await app.inject({ url: '/chat/' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(`src="converse/${version}/converse.min.js"`);
    const init = await app.inject({ url: '/chat/converse-init.js' });
    expect(init.body).toContain('"websocket":"../xmpp-websocket"');
    expect((await app.inject({ url: `/chat${assets}/converse.min.js` })).statusCode).toBe(200);
    await app.close();
  });

  it('offers the registration form only when REGISTRATION=open', async () => {
    for (const [registration, allowed] of [
      ['open', true],
      ['closed', false],
    ] as const) {
      const app = await webOnly({ REGISTRATION: registration, XMPP_DOMAIN: 'chat.example.org' });
      const init = await app.inject({ url: '/converse-init.js' });
      expect(init.body).toContain(`"allow_registration":${allowed}`);
      expect(init.body).toContain('"locked_domain":"chat.example.org"');
      await app.close();
    }
  });

  it('computes relative URLs between paths', () => {
    expect(relativeUrl('/', '/xmpp-websocket')).toBe('xmpp-websocket');
    expect(relativeUrl('/chat/', '/xmpp-websocket')).toBe('../xmpp-websocket');
    expect(relativeUrl('/a/b/', '/a/ws')).toBe('../ws');
    expect(relativeUrl('/a/', '/a/b/ws')).toBe('b/ws');
    expect(relativeUrl('/a/', '/a/')).toBe('./');
    expect(relativeUrl('/', '/x/y/')).toBe('x/y/');
  });

  it('picks the best accepted content encoding', () => {
    expect(preferredEncoding(undefined)).toBeUndefined();
    expect(preferredEncoding('gzip, deflate, br')).toBe('br');
    expect(preferredEncoding('gzip')).toBe('gzip');
    expect(preferredEncoding('br;q=0, gzip;q=0.5')).toBe('gzip');
    expect(preferredEncoding('identity')).toBeUndefined();
  });
});

/** A request through node:http, which neither decodes bodies nor normalises the path. */
async function rawGet(
  baseUrl: string,
  rawPath: string,
  headers: Record<string, string>,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: hostname, port, path: rawPath, method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) }),
      );
    });
    request.on('error', reject);
    request.end();
  });
}
