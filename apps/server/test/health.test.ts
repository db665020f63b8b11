import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, startTestServer, type TestServer } from './harness.js';

describe('readiness details', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      env: { HEALTH_TOKEN: 'ready-token-123', TRUSTED_PROXIES: '127.0.0.1' },
    });
    await server.addUser('alice');
  });
  afterAll(() => server.stop());

  const ready = (options: { remoteAddress?: string; headers?: Record<string, string> }) =>
    server.strom.http.inject({ url: '/health/ready', ...options });

  it('shows storage, cluster and the session count to a caller on this machine', async () => {
    const alice = await connectClient(server, { username: 'alice' });
    const response = await fetch(`${server.httpUrl}/health/ready`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready', storage: 'ok', cluster: 'ok', sessions: 1 });
    await alice.stop();
  });

  it('gives anyone else only the status', async () => {
    const remote = await ready({ remoteAddress: '203.0.113.5' });
    expect(remote.statusCode).toBe(200);
    expect(remote.json()).toEqual({ status: 'ready' });
    // Through a proxy on this machine the caller is whoever the proxy forwards.
    const proxied = await fetch(`${server.httpUrl}/health/ready`, {
      headers: { 'x-forwarded-for': '198.51.100.7' },
    });
    expect(await proxied.json()).toEqual({ status: 'ready' });
  });

  it('shows the details with the token, and not with a wrong one', async () => {
    const withToken = await ready({
      remoteAddress: '203.0.113.5',
      headers: { authorization: 'Bearer ready-token-123' },
    });
    expect(withToken.json()).toMatchObject({ status: 'ready', storage: 'ok', cluster: 'ok', sessions: 0 });
    for (const authorization of ['Bearer wrong-token-123', 'Bearer ready-token-12', 'ready-token-123', '']) {
      const refused = await ready({ remoteAddress: '203.0.113.5', headers: { authorization } });
      expect(refused.json(), authorization).toEqual({ status: 'ready' });
    }
  });

  it('keeps the status code meaningful for everyone when not ready', async () => {
    const storage = server.strom.storage;
    const ping = storage.ping.bind(storage);
    storage.ping = async () => {
      throw new Error('database gone');
    };
    try {
      const remote = await ready({ remoteAddress: '203.0.113.5' });
      expect(remote.statusCode).toBe(503);
      expect(remote.json()).toEqual({ status: 'not-ready' });
      const local = await fetch(`${server.httpUrl}/health/ready`);
      expect(await local.json()).toMatchObject({ status: 'not-ready', storage: 'unreachable' });
    } finally {
      storage.ping = ping;
    }
  });
});

describe('readiness details without a token', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  it('accepts no bearer token at all', async () => {
    const response = await server.strom.http.inject({
      url: '/health/ready',
      remoteAddress: '203.0.113.5',
      headers: { authorization: 'Bearer ' },
    });
    expect(response.json()).toEqual({ status: 'ready' });
  });
});
