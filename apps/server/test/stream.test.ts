import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, type Mechanism, STORAGE_KINDS, startTestServer, type TestServer } from './harness.js';

describe.each(STORAGE_KINDS)('login, bind and server IQs (%s)', (storage) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ storage });
    await server.addUser('alice', 'secret');
  });
  afterAll(() => server.stop());

  it.each<Mechanism>(['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'])(
    'logs in with %s and binds',
    async (mechanism) => {
      const client = await connectClient(server, {
        username: 'alice',
        mechanism,
        resource: `r-${mechanism}`,
      });
      expect(client.jid).toBe(`alice@localhost/r-${mechanism}`);
      await client.stop();
    },
  );

  it('records the login time and nothing else about the login', async () => {
    const before = Date.now();
    const client = await connectClient(server, { username: 'alice' });
    const account = await server.strom.storage.accounts.get('alice');
    expect(account?.lastLoginAt?.getTime()).toBeGreaterThanOrEqual(before - 1000);
    await client.stop();
  });

  it('generates a resource when the client asks for none', async () => {
    const client = await connectClient(server, { username: 'alice' });
    expect(client.jid).toMatch(/^alice@localhost\/[0-9a-f]{12}$/);
    await client.stop();
  });

  it('answers ping, time and disco#info on the server', async () => {
    const client = await connectClient(server, { username: 'alice' });
    const ping = await client.iq('<iq type="get" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>');
    expect(ping.attrs.type).toBe('result');
    expect(ping.attrs.from).toBe('localhost');

    const time = await client.iq('<iq type="get" to="localhost"><time xmlns="urn:xmpp:time"/></iq>');
    const utc = time.getChild('time', 'urn:xmpp:time')?.getChildText('utc');
    expect(Math.abs(Date.parse(utc!) - Date.now())).toBeLessThan(5000);

    const info = await client.iq(
      '<iq type="get" to="localhost"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>',
    );
    const features = info
      .getChild('query')!
      .getChildren('feature')
      .map((f) => f.attrs.var);
    expect(features).toEqual(expect.arrayContaining(['urn:xmpp:ping', 'urn:xmpp:time']));
    expect(info.getChild('query')!.getChild('identity')?.attrs).toMatchObject({
      category: 'server',
      type: 'im',
    });
    await client.stop();
  });

  it('answers an IQ nobody handles with service-unavailable', async () => {
    const client = await connectClient(server, { username: 'alice' });
    const reply = await client.iq('<iq type="get" to="localhost"><query xmlns="urn:example:nothing"/></iq>');
    expect(reply.attrs.type).toBe('error');
    expect(reply.getChild('error')?.getChild('service-unavailable')).toBeDefined();
    await client.stop();
  });

  it('gives the old session a conflict stream error when the same full JID binds again', async () => {
    const first = await connectClient(server, { username: 'alice', resource: 'same' });
    const closed = new Promise<string>((resolve) =>
      first.xmpp.on('error', (err: { condition?: string }) => resolve(String(err.condition))),
    );
    const second = await connectClient(server, { username: 'alice', resource: 'same' });
    expect(await closed).toBe('conflict');
    const ping = await second.iq('<iq type="get" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>');
    expect(ping.attrs.type).toBe('result');
    await second.stop();
    await first.stop();
  });
});
