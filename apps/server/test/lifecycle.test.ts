import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connectClient, RawClient, startTestServer, type TestServer, WAIT_MS } from './harness.js';

const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';

describe('health, keepalive and shutdown', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('reports liveness and readiness as JSON', async () => {
    server = await startTestServer();
    const live = await fetch(`${server.httpUrl}/health`);
    expect(live.status).toBe(200);
    expect(await live.json()).toMatchObject({ status: 'ok' });
    const ready = await fetch(`${server.httpUrl}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', storage: 'ok', cluster: 'ok', sessions: 0 });
  });

  it('reports not-ready (503) when storage is unreachable', async () => {
    server = await startTestServer();
    const storage = server.strom.storage;
    const ping = storage.ping.bind(storage);
    storage.ping = async () => {
      throw new Error('database gone');
    };
    const ready = await fetch(`${server.httpUrl}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'not-ready', storage: 'unreachable' });
    storage.ping = ping;
  });

  it('pings idle connections with WebSocket ping frames', async () => {
    server = await startTestServer({ env: { PING_INTERVAL: '1' } });
    const raw = await RawClient.connect(server.wsUrl);
    await raw.open();
    const pinged = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), WAIT_MS);
      raw.ws.once('ping', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    expect(pinged).toBe(true);
    raw.close();
  });

  it('cuts off a peer that stops answering pings', async () => {
    server = await startTestServer({ env: { PING_INTERVAL: '1', DEAD_PEER_TIMEOUT: '1' } });
    await server.addUser('alice');
    const ws = new WebSocket(server.wsUrl, ['xmpp'], { autoPong: false });
    const raw = await new Promise<WebSocket>((resolve) => ws.once('open', () => resolve(ws)));
    raw.send(`<open xmlns="${FRAMING}" to="localhost" version="1.0"/>`);
    const closed = await new Promise<number>((resolve) => raw.once('close', (code) => resolve(code)));
    expect(closed).toBe(1006);
  });

  it('ends every stream with system-shutdown on stop', async () => {
    server = await startTestServer();
    await server.addUser('alice');
    const raw = await RawClient.connect(server.wsUrl);
    await raw.login('alice');
    const stopping = server.stop();
    const error = await raw.next('stream:error');
    expect(error).toContain('<system-shutdown xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>');
    expect(await raw.next('<close')).toBe(`<close xmlns="${FRAMING}"/>`);
    await stopping;
    server = undefined;
  });

  it('redirects clients with see-other-uri when a redirect URL is configured', async () => {
    server = await startTestServer({ env: { SHUTDOWN_REDIRECT_URL: 'wss://other.example/xmpp-websocket' } });
    await server.addUser('alice');
    const client = await connectClient(server, { username: 'alice' });
    const raw = await RawClient.connect(server.wsUrl);
    await raw.login('alice', 'secret', 'raw2');
    const stopping = server.stop();
    expect(await raw.next('<close')).toBe(
      `<close xmlns="${FRAMING}" see-other-uri="wss://other.example/xmpp-websocket"/>`,
    );
    await stopping;
    server = undefined;
    await client.stop();
  });
});
