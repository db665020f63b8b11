import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, startTestServer, TEST_TRANSPORT, type TestServer } from './harness.js';

/** The "nothing arrived" check must be able to fail: silence on a dead connection proves nothing. */
describe('Inbox.nothing', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
    await server.addUser('alice');
    await server.addUser('bob');
  });
  afterAll(async () => {
    await server.stop();
  });

  it('logs clients in over the transport the run asks for', async () => {
    const alice = await connectClient(server, { username: 'alice', resource: 'which' });
    const session = server.strom.xmpp.sessions.get(alice.jid);
    // The TCP edge is a class of its own; the WebSocket transport is a plain object.
    expect(session?.transport.constructor.name).toBe(TEST_TRANSPORT === 'tcp' ? 'TcpConnection' : 'Object');
    await alice.stop();
  });

  it('holds on a live connection where nothing matching arrives', async () => {
    const alice = await connectClient(server, { username: 'alice', resource: 'quiet' });
    expect(await alice.inbox.nothing((el) => el.name === 'message')).toBe(true);
    await alice.stop();
  });

  it('fails when something matching arrives', async () => {
    const alice = await connectClient(server, { username: 'alice', resource: 'listening' });
    const bob = await connectClient(server, { username: 'bob' });
    await bob.send(`<message to="${alice.jid}" type="chat"><body>here</body></message>`);
    expect(await alice.inbox.nothing((el) => el.name === 'message')).toBe(false);
    await Promise.all([alice.stop(), bob.stop()]);
  });

  it('throws instead of holding when the connection is gone', async () => {
    const alice = await connectClient(server, { username: 'alice', resource: 'gone' });
    await alice.stop();
    await expect(alice.inbox.nothing((el) => el.name === 'message')).rejects.toThrow(/did not answer a ping/);
    await expect(alice.inbox.quiet()).rejects.toThrow(/did not answer a ping/);
  });
});
