import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTestStorage, type Storage } from '@strom/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Strom, startStrom } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { RawClient, startTestServer, type TestServer } from './harness.js';

type Outcome = 'success' | 'not-authorized' | 'temporary-auth-failure';

/**
 * One PLAIN login from a chosen loopback source address (all of 127/8 is loopback, and loopback
 * counts as secure), on a connection of its own.
 */
async function attempt(wsUrl: string, address: string, username: string, password: string): Promise<Outcome> {
  const raw = await RawClient.connect(wsUrl, ['xmpp'], { localAddress: address });
  try {
    await raw.open();
    const payload = Buffer.from(`\0${username}\0${password}`).toString('base64');
    raw.send(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${payload}</auth>`);
    const answer = await raw.next(/<(failure|success)/);
    if (answer.startsWith('<success')) return 'success';
    if (answer.includes('<temporary-auth-failure/>')) return 'temporary-auth-failure';
    if (answer.includes('<not-authorized/>')) return 'not-authorized';
    throw new Error(`unexpected answer ${answer}`);
  } finally {
    raw.close();
  }
}

let addressCounter = 0;
/** A loopback address no other test in this file uses: one "network" (a NAT, an attacker). */
function network(): string {
  addressCounter++;
  return `127.1.${Math.floor(addressCounter / 250)}.${(addressCounter % 250) + 1}`;
}

describe('login throttling over WebSocket', () => {
  let server: TestServer;
  const login = (address: string, username: string, password = 'secret') =>
    attempt(server.wsUrl, address, username, password);

  beforeAll(async () => {
    server = await startTestServer({
      env: {
        AUTH_THROTTLE_FREE_ATTEMPTS: '3',
        // Long enough that no test outruns a delay on a slow machine.
        AUTH_THROTTLE_BASE_DELAY: '30',
        AUTH_THROTTLE_ADDRESS_FAILURES: '8',
        AUTH_THROTTLE_ADDRESS_WINDOW: '60',
        AUTH_THROTTLE_ADDRESS_BLOCK: '120',
      },
    });
    for (const name of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hank']) {
      await server.addUser(name);
    }
  });
  afterAll(() => server.stop());

  it("keeps honest users behind one address logging in while another user's typos pile up there", async () => {
    const nat = network();
    // Carol gets her password wrong four times: below the address's limit, beyond her free attempts.
    for (let i = 0; i < 4; i++) expect(await login(nat, 'carol', 'wrong')).toBe('not-authorized');
    expect(await login(nat, 'alice')).toBe('success');
    expect(await login(nat, 'bob')).toBe('success');
    // Carol herself waits before her next try from there, even with the right password...
    expect(await login(nat, 'carol')).toBe('temporary-auth-failure');
    // ...but not from anywhere else.
    expect(await login(network(), 'carol')).toBe('success');
  });

  it('never locks a user out because someone guesses their password from other addresses', async () => {
    const home = network();
    for (let attacker = 0; attacker < 3; attacker++) {
      const from = network();
      for (let i = 0; i < 4; i++) expect(await login(from, 'dave', `guess${i}`)).toBe('not-authorized');
      expect(await login(from, 'dave', 'guess')).toBe('temporary-auth-failure');
    }
    expect(await login(home, 'dave')).toBe('success');
  });

  it('refuses every login from an address once it reaches the per-address limit', async () => {
    const attacker = network();
    // Eight failures for eight different accounts: no pair is throttled, the address is.
    const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'nobody'];
    for (const name of names) expect(await login(attacker, name, 'wrong')).toBe('not-authorized');
    expect(await login(attacker, 'hank')).toBe('temporary-auth-failure');
    // The answer says how long to wait, and nothing about whether the password was right.
    const raw = await RawClient.connect(server.wsUrl, ['xmpp'], { localAddress: attacker });
    await raw.open();
    raw.send(
      `<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${Buffer.from('\0hank\0secret').toString('base64')}</auth>`,
    );
    expect(await raw.next('<failure')).toMatch(/try again in (1[01]\d|120) s/);
    raw.close();
    expect(await login(network(), 'hank')).toBe('success');
  });

  it("clears an account's failures from an address when it logs in from there", async () => {
    const home = network();
    for (let i = 0; i < 3; i++) expect(await login(home, 'erin', 'wrong')).toBe('not-authorized');
    expect(await login(home, 'erin')).toBe('success');
    // Without the success, these would be failures four to six and delay the next login.
    for (let i = 0; i < 3; i++) expect(await login(home, 'erin', 'wrong')).toBe('not-authorized');
    expect(await login(home, 'erin')).toBe('success');
  });
});

describe('login throttling for trusted addresses', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      env: {
        AUTH_THROTTLE_ADDRESS_FAILURES: '3',
        AUTH_THROTTLE_FREE_ATTEMPTS: '2',
        AUTH_THROTTLE_BASE_DELAY: '30',
        AUTH_THROTTLE_EXEMPT: '127.2.0.0/16, ::1',
      },
    });
    for (const name of ['ann', 'ben', 'cat', 'dan', 'eve']) await server.addUser(name);
  });
  afterAll(() => server.stop());

  it('exempts them from the per-address limit but keeps the backoff per account', async () => {
    const gateway = '127.2.0.1';
    for (const name of ['ann', 'ben', 'cat', 'dan']) {
      expect(await attempt(server.wsUrl, gateway, name, 'wrong')).toBe('not-authorized');
    }
    expect(await attempt(server.wsUrl, gateway, 'eve', 'secret')).toBe('success');
    // The same failures from an address that is not exempt block it.
    const other = '127.3.0.1';
    for (const name of ['ann', 'ben', 'cat']) {
      expect(await attempt(server.wsUrl, other, name, 'wrong')).toBe('not-authorized');
    }
    expect(await attempt(server.wsUrl, other, 'eve', 'secret')).toBe('temporary-auth-failure');
    // One account guessed from the exempt address still slows down there.
    for (let i = 0; i < 2; i++)
      expect(await attempt(server.wsUrl, gateway, 'ann', 'wrong')).toBe('not-authorized');
    expect(await attempt(server.wsUrl, gateway, 'ann', 'secret')).toBe('temporary-auth-failure');
  });
});

describe('login throttling shared by the nodes of a cluster', () => {
  let storage: Storage;
  let nodes: Strom[];
  let dataDir: string;
  beforeAll(async () => {
    storage = await createTestStorage('postgres');
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'strom-throttle-'));
    const env = {
      XMPP_DOMAIN: 'localhost',
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      REDIS_URL: process.env.STROM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
      REDIS_KEY_PREFIX: `strom-test:${randomBytes(6).toString('hex')}:`,
      AUTH_THROTTLE_FREE_ATTEMPTS: '2',
      AUTH_THROTTLE_BASE_DELAY: '30',
      AUTH_THROTTLE_ADDRESS_FAILURES: '6',
    };
    nodes = [];
    for (const nodeId of ['throttle-a', 'throttle-b']) {
      const config = loadConfig({ ...env, NODE_ID: nodeId });
      // Both nodes share one database, as a deployment does; each would close it on stop.
      nodes.push(await startStrom(config, { storage, adminSocket: false, logger: createLogger('silent') }));
    }
    await nodes[0]!.xmpp.createAccount('ivy', 'secret');
    await nodes[0]!.xmpp.createAccount('jay', 'secret');
  });
  afterAll(async () => {
    for (const node of nodes ?? []) await node.xmpp.authThrottle.reset();
    for (const node of nodes ?? []) await node.stop();
    await storage?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const wsUrl = (node: Strom) => `ws://127.0.0.1:${node.port()}/xmpp-websocket`;

  it('counts failures on one node against logins on the other', async () => {
    const [a, b] = nodes as [Strom, Strom];
    const from = network();
    for (let i = 0; i < 3; i++) expect(await attempt(wsUrl(a), from, 'ivy', 'wrong')).toBe('not-authorized');
    expect(await attempt(wsUrl(b), from, 'ivy', 'secret')).toBe('temporary-auth-failure');
    expect(await attempt(wsUrl(b), network(), 'ivy', 'secret')).toBe('success');

    const attacker = network();
    for (const name of ['x1', 'x2', 'x3'])
      expect(await attempt(wsUrl(a), attacker, name, 'w')).toBe('not-authorized');
    for (const name of ['x4', 'x5', 'x6'])
      expect(await attempt(wsUrl(b), attacker, name, 'w')).toBe('not-authorized');
    expect(await attempt(wsUrl(a), attacker, 'jay', 'secret')).toBe('temporary-auth-failure');
    expect(await attempt(wsUrl(b), attacker, 'jay', 'secret')).toBe('temporary-auth-failure');
  });
});
