import { afterEach, describe, expect, it } from 'vitest';
import type { Mechanism } from './args.js';
import { attributeOf, chooseMechanism, isIqError, keyScope, type LoginResult, login } from './client.js';
import { KeyCache } from './key-cache.js';
import { sleep, waitUntil } from './pool.js';
import { ServerMonitor } from './proc.js';
import { Progress } from './progress.js';
import { describeRegistrationError, provisionAccounts } from './provision.js';
import { FakeServer, type FakeServerOptions } from './test-fake-server.js';
import { runTraffic, sentAtMicros } from './traffic.js';

let server: FakeServer | undefined;
const logins: LoginResult[] = [];

afterEach(async () => {
  for (const l of logins.splice(0)) l.connection.terminate();
  await server?.stop();
  server = undefined;
});

async function fake(options: FakeServerOptions = {}): Promise<FakeServer> {
  server = await FakeServer.start(options);
  await server.addUser('alice', 'pw');
  await server.addUser('bob', 'pw');
  return server;
}

async function loginAs(
  username: string,
  opts: { mechanism?: Mechanism; keyCache?: KeyCache; password?: string } = {},
) {
  const result = await login({
    url: server!.url,
    domain: 'localhost',
    username,
    password: opts.password ?? 'pw',
    resource: 'bench',
    mechanism: opts.mechanism ?? 'auto',
    keyCache: opts.keyCache ?? new KeyCache(undefined),
    timeoutMs: 5000,
  });
  logins.push(result);
  return result;
}

describe('login', () => {
  it('negotiates SCRAM-SHA-256, binds, fetches the roster, sends presence and keeps the keys', async () => {
    const s = await fake();
    const keys = new KeyCache(undefined);
    const result = await loginAs('alice', { keyCache: keys });
    expect(result.mechanism).toBe('SCRAM-SHA-256');
    expect(result.connection.jid).toBe('alice@localhost/bench');
    expect(result.roster).toContain('friend@localhost');
    expect(result.handshakeMs).toBeGreaterThan(0);
    expect(keys.has(keyScope(s.url, 'localhost'), 'alice')).toBe(true);
    expect(keys.derivations).toBe(1);
    const sent = s.connections[0]!.received;
    expect(sent.some((f) => f.startsWith('<presence'))).toBe(true);
    // Optional session: not requested.
    expect(s.sessionRequests).toBe(0);
    // A second login with the kept keys still verifies the server signature.
    const again = await loginAs('alice', { keyCache: keys });
    expect(again.connection.jid).toBe('alice@localhost/bench');
    expect(keys.derivations).toBe(1);
  });

  it('uses SCRAM-SHA-1 or PLAIN when that is what is offered or asked for, and a required session', async () => {
    await fake({ mechanisms: ['SCRAM-SHA-1', 'PLAIN'], sessionRequired: true });
    expect((await loginAs('alice')).mechanism).toBe('SCRAM-SHA-1');
    expect(server!.sessionRequests).toBe(1);
    expect((await loginAs('bob', { mechanism: 'PLAIN' })).mechanism).toBe('PLAIN');
  });

  it('hands what the initial presence triggers to the early handler, which can answer it', async () => {
    const request = `<presence xmlns="jabber:client" from="bob@localhost" type="subscribe"/>`;
    const s = await fake({ afterPresence: request });
    const seen: string[] = [];
    const result = await login({
      url: s.url,
      domain: 'localhost',
      username: 'alice',
      password: 'pw',
      resource: 'bench',
      mechanism: 'auto',
      keyCache: new KeyCache(undefined),
      timeoutMs: 5000,
      onStanza: (frame, connection) => {
        seen.push(frame);
        connection.send('<presence xmlns="jabber:client" to="bob@localhost" type="subscribed"/>');
      },
    });
    logins.push(result);
    expect(seen).toEqual([request]);
    expect(
      await waitUntil(() => s.connections[0]!.received.some((f) => f.includes('subscribed')), 2000),
    ).toBe(true);
  });

  it('fails with the SASL condition on a wrong password', async () => {
    await fake();
    await expect(loginAs('alice', { password: 'wrong' })).rejects.toThrow(
      /login of alice failed: not-authorized/,
    );
    await expect(loginAs('alice', { mechanism: 'PLAIN', password: 'wrong' })).rejects.toThrow(
      /not-authorized/,
    );
  });

  it('answers pings and roster pushes, refuses other requests, and notices a stream error', async () => {
    const s = await fake();
    const { connection } = await loginAs('alice');
    const seen: string[] = [];
    connection.onStanza = (frame) => seen.push(frame);
    const closed = new Promise<string>((resolve) => {
      connection.onClose = resolve;
    });
    s.push(
      'alice',
      `<iq xmlns="jabber:client" type="get" id="p1" from="localhost"><ping xmlns="urn:xmpp:ping"/></iq>`,
    );
    s.push(
      'alice',
      `<iq xmlns="jabber:client" type="set" id="r1"><query xmlns="jabber:iq:roster"><item jid="x@localhost"/></query></iq>`,
    );
    s.push(
      'alice',
      `<iq xmlns="jabber:client" type="get" id="v1" from="localhost"><query xmlns="jabber:iq:version"/></iq>`,
    );
    const answers = s.connections[0]!.received;
    expect(await waitUntil(() => answers.some((f) => f.includes('id="v1"')), 2000)).toBe(true);
    await sleep(50);
    expect(answers).toContain('<iq xmlns="jabber:client" type="result" id="p1" to="localhost"/>');
    expect(answers).toContain('<iq xmlns="jabber:client" type="result" id="r1"/>');
    expect(answers.find((f) => f.includes('id="v1"'))).toContain('service-unavailable');
    // Server requests still reach the scenario (the presence scenario watches roster pushes).
    expect(seen.filter((f) => f.startsWith('<iq'))).toHaveLength(3);
    s.push(
      'alice',
      `<stream:error xmlns:stream="http://etherx.jabber.org/streams"><conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>`,
    );
    expect(await closed).toBe('stream error conflict');
    expect(connection.closed).toBe(true);
    await expect(connection.ping('localhost')).rejects.toThrow(/stream error conflict/);
  });
});

describe('provisioning by in-band registration', () => {
  it('creates missing accounts and accepts existing ones', async () => {
    const s = await fake();
    const result = await provisionAccounts(['alice', 'carol'], {
      method: 'register',
      url: s.url,
      domain: 'localhost',
      password: 'pw',
      concurrency: 2,
      timeoutMs: 5000,
    });
    expect(result).toMatchObject({ method: 'register', created: 1, existing: 1 });
    expect(s.accounts.has('carol')).toBe(true);
    expect((await loginAs('carol')).connection.jid).toBe('carol@localhost/bench');
  });

  it('explains what to do when the server throttles registration', async () => {
    const s = await fake({ registrationError: 'resource-constraint' });
    await expect(
      provisionAccounts(['zed'], {
        method: 'register',
        url: s.url,
        domain: 'localhost',
        password: 'pw',
        concurrency: 1,
        timeoutMs: 5000,
      }),
    ).rejects.toThrow(/resource-constraint \(no\) — the server limits.*--provision cli/);
    expect(
      describeRegistrationError(
        'u',
        '<iq type="error"><error><conflict xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>',
      ),
    ).toBe('registering u failed: conflict');
  });
});

describe('traffic', () => {
  it('keeps the window full, times every delivery and counts bounces as errors, not losses', async () => {
    await fake();
    const alice = (await loginAs('alice')).connection;
    const bob = (await loginAs('bob')).connection;
    const ghostSender = (await loginAs('alice')).connection;
    const result = await runTraffic(
      [
        { sender: alice, receiver: bob, to: 'bob@localhost' },
        { sender: ghostSender, receiver: ghostSender, to: 'ghost@localhost' },
      ],
      {
        window: 4,
        warmupSeconds: 0.1,
        durationSeconds: 0.5,
        drainSeconds: 2,
        rate: undefined,
        bodySize: 16,
        monitor: new ServerMonitor([process.pid]),
        progress: new Progress('test', true),
        label: 'test',
      },
    );
    expect(result.delivered).toBeGreaterThan(0);
    expect(result.latency.count).toBe(result.delivered);
    expect(result.errors).toBeGreaterThan(0);
    expect(result.lost).toBe(0);
    expect(result.sent).toBe(result.received + result.errors);
    expect(result.server?.cpuSeconds).toBeGreaterThanOrEqual(0);
    expect(result.tool.cpuSeconds).toBeGreaterThan(0);
  });

  it('paces to a total rate', async () => {
    await fake();
    const alice = (await loginAs('alice')).connection;
    const bob = (await loginAs('bob')).connection;
    const result = await runTraffic([{ sender: alice, receiver: bob, to: 'bob@localhost' }], {
      window: 50,
      warmupSeconds: 0,
      durationSeconds: 1,
      drainSeconds: 2,
      rate: 200,
      bodySize: 16,
      monitor: new ServerMonitor([]),
      progress: new Progress('test', true),
      label: 'test',
    });
    expect(result.deliveredPerSecond).toBeGreaterThan(120);
    expect(result.deliveredPerSecond).toBeLessThan(280);
    expect(result.server).toBeNull();
    expect(result.lost).toBe(0);
  });
});

describe('frame helpers', () => {
  it('reads attributes quoted either way and does not mistake xml:id for id', () => {
    expect(attributeOf(`<iq xml:id='x' id='q1' type="result">`, 'id')).toBe('q1');
    expect(attributeOf(`<iq type='error'>`, 'type')).toBe('error');
    expect(attributeOf('<iq>', 'id')).toBeUndefined();
    expect(isIqError(`<iq type='error' id='1'><error/></iq>`)).toBe(true);
    expect(isIqError(`<iq type="result" id="1"><query xmlns="x" type="error"/></iq>`)).toBe(false);
  });

  it('finds the send time at the end of a message id', () => {
    const frame = `<message id='bm_abc_1_2_123456789' type='chat'><body/></message>`;
    expect(sentAtMicros(frame, frame.indexOf('bm_'))).toBe(123456789);
  });

  it('picks the strongest offered mechanism unless one is asked for', () => {
    expect(chooseMechanism(['PLAIN', 'SCRAM-SHA-1', 'SCRAM-SHA-256'], 'auto')).toBe('SCRAM-SHA-256');
    expect(chooseMechanism(['PLAIN', 'SCRAM-SHA-1'], 'auto')).toBe('SCRAM-SHA-1');
    expect(chooseMechanism(['PLAIN'], 'auto')).toBe('PLAIN');
    expect(() => chooseMechanism(['X-OAUTH2'], 'auto')).toThrow(/no supported SASL mechanism/);
    expect(() => chooseMechanism(['PLAIN'], 'SCRAM-SHA-1')).toThrow(/does not offer SCRAM-SHA-1/);
  });
});
