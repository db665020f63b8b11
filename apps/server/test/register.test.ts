import { CoreEvents, defineModule } from '@strom/core';
import { defaultModules, RegistrationThrottle, throttleKey } from '@strom/modules';
import { createTestStorage } from '@strom/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Strom, startStrom } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { connectClient, RawClient, STORAGE_KINDS, startTestServer, type TestServer } from './harness.js';
import { discoFeatures, storeMutualSubscription } from './im-helpers.js';
import { POLL } from './message-helpers.js';

const NS_REGISTER = 'jabber:iq:register';
const REGISTER_FEATURE = '<register xmlns="http://jabber.org/features/iq-register"/>';

/**
 * A raw RFC 7395 stream opened from a chosen loopback address (all of 127/8 is loopback), so that
 * each test has its own registration throttle bucket.
 */
const AddressedStream = {
  async open(server: TestServer, localAddress: string): Promise<{ stream: RawClient; features: string }> {
    const stream = await RawClient.connect(server.wsUrl, ['xmpp'], { localAddress });
    return { stream, features: await stream.open() };
  },
};

function registration(username: string, password: string): string {
  return `<query xmlns="${NS_REGISTER}"><username>${username}</username><password>${password}</password></query>`;
}

function hasCondition(frame: string, condition: string): boolean {
  return (
    frame.includes('type="error"') &&
    frame.includes(`<${condition} xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>`)
  );
}

let addressCounter = 0;
/** A fresh loopback source address for one test. */
function nextAddress(): string {
  addressCounter++;
  return `127.0.${Math.floor(addressCounter / 250) + 1}.${(addressCounter % 250) + 1}`;
}

async function loginFails(server: TestServer, username: string, password: string): Promise<boolean> {
  try {
    const client = await connectClient(server, { username, password });
    await client.stop();
    return false;
  } catch {
    return true;
  }
}

describe.each(STORAGE_KINDS)('in-band registration (%s)', (storage) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ storage });
  });
  afterAll(() => server.stop());

  it('advertises registration, lists the fields, registers, and the new account logs in', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    const features = await raw.open();
    expect(features).toContain(REGISTER_FEATURE);

    raw.send(`<iq xmlns="jabber:client" type="get" id="reg1"><query xmlns="${NS_REGISTER}"/></iq>`);
    const form = await raw.next('id="reg1"');
    expect(form).toContain('type="result"');
    expect(form).toContain('<instructions>');
    expect(form).toContain('<username/>');
    expect(form).toContain('<password/>');

    raw.send(`<iq xmlns="jabber:client" type="set" id="reg2">${registration('newbie', 'pa55word')}</iq>`);
    const done = await raw.next('id="reg2"');
    expect(done).toContain('type="result"');
    raw.close();

    expect(await server.strom.storage.accounts.exists('newbie')).toBe(true);
    const client = await connectClient(server, { username: 'newbie', password: 'pa55word' });
    expect(client.jid).toMatch(/^newbie@localhost\//);
    await client.stop();
  });

  it('normalizes the username and refuses a taken one (also in another case) with conflict', async () => {
    await server.addUser('dave');
    const { stream } = await AddressedStream.open(server, nextAddress());
    const reply = await stream.iq('dup1', 'set', registration('Dave', 'other-pa55'));
    expect(hasCondition(reply, 'conflict'), reply).toBe(true);
    // XEP-0077 §3.3: an error reply must not echo the submitted password.
    expect(reply).not.toContain('other-pa55');
    stream.close();
    // The existing account keeps its password.
    const client = await connectClient(server, { username: 'dave', password: 'secret' });
    await client.stop();
  });

  it('refuses an invalid username with jid-malformed and an empty password with not-acceptable', async () => {
    const { stream } = await AddressedStream.open(server, nextAddress());
    const invalid = await stream.iq('bad1', 'set', registration('no@body', 'secret'));
    expect(hasCondition(invalid, 'jid-malformed'), invalid).toBe(true);
    const spaced = await stream.iq('bad2', 'set', registration('two words', 'secret'));
    expect(hasCondition(spaced, 'jid-malformed'), spaced).toBe(true);
    const empty = await stream.iq('bad3', 'set', registration('emptypw', ''));
    expect(hasCondition(empty, 'not-acceptable'), empty).toBe(true);
    const missing = await stream.iq(
      'bad4',
      'set',
      `<query xmlns="${NS_REGISTER}"><username>nopw</username></query>`,
    );
    expect(hasCondition(missing, 'not-acceptable'), missing).toBe(true);
    stream.close();
    expect(await server.strom.storage.accounts.exists('emptypw')).toBe(false);
    expect(await server.strom.storage.accounts.exists('nopw')).toBe(false);
  });

  it('registers only one account per stream', async () => {
    const { stream } = await AddressedStream.open(server, nextAddress());
    expect(await stream.iq('one1', 'set', registration('first1', 'secret'))).toContain('type="result"');
    const second = await stream.iq('one2', 'set', registration('second1', 'secret'));
    expect(hasCondition(second, 'not-acceptable'), second).toBe(true);
    stream.close();
    expect(await server.strom.storage.accounts.exists('second1')).toBe(false);
  });

  it('throttles repeated registrations from one address with resource-constraint', async () => {
    const address = nextAddress();
    const first = await AddressedStream.open(server, address);
    expect(await first.stream.iq('t1', 'set', registration('burst1', 'secret'))).toContain('type="result"');
    first.stream.close();

    const second = await AddressedStream.open(server, address);
    const refused = await second.stream.iq('t2', 'set', registration('burst2', 'secret'));
    expect(hasCondition(refused, 'resource-constraint'), refused).toBe(true);
    expect(refused).toMatch(/try again in \d+ (seconds|minutes)/);
    second.stream.close();
    expect(await server.strom.storage.accounts.exists('burst2')).toBe(false);

    // Another address is not affected.
    const other = await AddressedStream.open(server, nextAddress());
    expect(await other.stream.iq('t3', 'set', registration('burst3', 'secret'))).toContain('type="result"');
    other.stream.close();
  });

  it('answers conflict for a taken name even from a network that reached its limit, without counting it', async () => {
    await server.addUser('olga');
    const address = nextAddress();
    const first = await AddressedStream.open(server, address);
    expect(await first.stream.iq('c1', 'set', registration('fresh1', 'secret'))).toContain('type="result"');
    first.stream.close();

    // The network must now wait (REGISTRATION_INTERVAL), yet a taken name still gets its answer.
    const second = await AddressedStream.open(server, address);
    for (let i = 0; i < 3; i++) {
      const taken = await second.stream.iq(`c2-${i}`, 'set', registration('olga', 'other'));
      expect(hasCondition(taken, 'conflict'), taken).toBe(true);
    }
    const limited = await second.stream.iq('c3', 'set', registration('fresh2', 'secret'));
    expect(hasCondition(limited, 'resource-constraint'), limited).toBe(true);
    second.stream.close();
  });

  it('answers a removal request before login with unexpected-request', async () => {
    const { stream } = await AddressedStream.open(server, nextAddress());
    const reply = await stream.iq('rm0', 'set', `<query xmlns="${NS_REGISTER}"><remove/></query>`);
    expect(hasCondition(reply, 'unexpected-request'), reply).toBe(true);
    stream.close();
  });

  it('advertises jabber:iq:register in server disco and tells a logged-in user they are registered', async () => {
    await server.addUser('gina');
    const client = await connectClient(server, { username: 'gina' });
    expect(await discoFeatures(client, 'localhost')).toContain(NS_REGISTER);
    const registered = await client.iq(`<iq type="get"><query xmlns="${NS_REGISTER}"/></iq>`);
    const query = registered.getChild('query', NS_REGISTER)!;
    expect(query.getChild('registered')).toBeDefined();
    expect(query.getChildText('username')).toBe('gina');
    await client.stop();
  });

  it('changes the password: the new one works and the old one no longer does', async () => {
    await server.addUser('hank', 'oldpass');
    const client = await connectClient(server, { username: 'hank', password: 'oldpass' });
    const reply = await client.iq(
      `<iq type="set" to="localhost"><query xmlns="${NS_REGISTER}"><username>hank</username><password>newpass</password></query></iq>`,
    );
    expect(reply.attrs.type).toBe('result');
    await client.stop();

    const again = await connectClient(server, { username: 'hank', password: 'newpass' });
    expect(again.jid).toMatch(/^hank@localhost\//);
    await again.stop();
    expect(await loginFails(server, 'hank', 'oldpass')).toBe(true);
  });

  it('refuses to change another account’s password or to set an empty one, without echoing the password', async () => {
    await server.addUser('ivan', 'ivanpass');
    await server.addUser('jill', 'jillpass');
    const client = await connectClient(server, { username: 'ivan', password: 'ivanpass' });
    const other = await client.iq(
      `<iq type="set"><query xmlns="${NS_REGISTER}"><username>jill</username><password>stolen-pw</password></query></iq>`,
    );
    expect(other.attrs.type).toBe('error');
    expect(other.getChild('error')?.getChild('forbidden')).toBeDefined();
    expect(other.toString()).not.toContain('stolen-pw');

    const empty = await client.iq(
      `<iq type="set"><query xmlns="${NS_REGISTER}"><username>ivan</username><password/></query></iq>`,
    );
    expect(empty.getChild('error')?.getChild('not-acceptable')).toBeDefined();
    const incomplete = await client.iq(
      `<iq type="set"><query xmlns="${NS_REGISTER}"><password>x</password></query></iq>`,
    );
    expect(incomplete.getChild('error')?.getChild('bad-request')).toBeDefined();
    await client.stop();

    expect(await loginFails(server, 'jill', 'stolen-pw')).toBe(true);
    const jill = await connectClient(server, { username: 'jill', password: 'jillpass' });
    await jill.stop();
    const ivan = await connectClient(server, { username: 'ivan', password: 'ivanpass' });
    await ivan.stop();
  });

  it('removes an account: result first, then every session ends, then nothing about the user is left', async () => {
    await server.addUser('erin');
    await server.addUser('frank');
    const { storage: db } = server.strom;
    await db.vcards.set('erin', '<vCard xmlns="vcard-temp"><FN>Erin</FN></vCard>', null);
    await db.roster.put('erin', {
      jid: 'frank@localhost',
      groups: ['Friends'],
      subscription: 'both',
      askOut: false,
      approved: false,
    });
    await db.roster.addPendingIn('erin', 'stranger@localhost');
    await db.offline.store(
      'erin',
      '<message xmlns="jabber:client" to="erin@localhost"><body>hi</body></message>',
      100,
    );
    await db.blocklist.add('erin', ['spam@example.org']);

    const requester = await RawClient.connect(server.wsUrl);
    await requester.login('erin', 'secret', 'phone');
    const other = await connectClient(server, { username: 'erin', resource: 'laptop' });
    const otherEnded = new Promise<string>((resolve) =>
      other.xmpp.on('error', (err: { condition?: string }) => resolve(String(err.condition))),
    );

    requester.send(
      `<iq xmlns="jabber:client" type="set" id="unreg1"><query xmlns="${NS_REGISTER}"><remove/></query></iq>`,
    );
    await requester.closed;
    const resultAt = requester.frames.findIndex(
      (f) => f.includes('id="unreg1"') && f.includes('type="result"'),
    );
    const errorAt = requester.frames.findIndex((f) => f.includes('stream:error'));
    expect(resultAt).toBeGreaterThanOrEqual(0);
    expect(errorAt).toBeGreaterThan(resultAt);
    expect(requester.frames[errorAt]).toContain(
      '<not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>',
    );
    expect(await otherEnded).toBe('not-authorized');

    // The rows go once every session has ended, which can be just after the streams close.
    await expect.poll(() => db.accounts.exists('erin'), POLL).toBe(false);
    expect(await db.accounts.get('erin')).toBeUndefined();
    expect(await db.roster.get('erin')).toEqual({ version: 0, items: [] });
    expect(await db.roster.listPendingIn('erin')).toEqual([]);
    expect(await db.vcards.get('erin')).toBeUndefined();
    expect(await db.offline.count('erin')).toBe(0);
    expect(await db.blocklist.list('erin')).toEqual([]);
    expect(await loginFails(server, 'erin', 'secret')).toBe(true);
    await other.stop();
  });

  it('refuses a removal request that carries more than <remove/> with bad-request', async () => {
    await server.addUser('kate');
    const client = await connectClient(server, { username: 'kate' });
    const reply = await client.iq(
      `<iq type="set"><query xmlns="${NS_REGISTER}"><remove/><username>kate</username></query></iq>`,
    );
    expect(reply.getChild('error')?.getChild('bad-request')).toBeDefined();
    expect(await server.strom.storage.accounts.exists('kate')).toBe(true);
    await client.stop();
  });

  it('unsubscribes the contacts of a removed account (needs the roster module)', async () => {
    await server.addUser('lena');
    await server.addUser('mike');
    const { storage: db } = server.strom;
    await storeMutualSubscription(db, 'lena', 'mike');
    const mike = await connectClient(server, { username: 'mike', presence: true });

    const lena = await connectClient(server, { username: 'lena' });
    void lena.send(`<iq type="set" id="unreg2"><query xmlns="${NS_REGISTER}"><remove/></query></iq>`);

    // Mike's subscription with Lena is cancelled both ways (RFC 6121 §3.2, §3.3).
    // Both directions end separately, so wait for the final state rather than the first change.
    const subscription = async () => (await db.roster.getItem('mike', 'lena@localhost'))?.subscription;
    await expect.poll(subscription, POLL).toSatisfy((s) => s === undefined || s === 'none');
    expect([undefined, 'none']).toContain(await subscription());
    await mike.stop();
    await lena.stop();
  });
});

describe('registration when closed', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { REGISTRATION: 'closed' } });
  });
  afterAll(() => server.stop());

  it('does not advertise registration and refuses it', async () => {
    const { stream, features } = await AddressedStream.open(server, nextAddress());
    expect(features).not.toContain('iq-register');
    const form = await stream.iq('c1', 'get', `<query xmlns="${NS_REGISTER}"/>`);
    expect(hasCondition(form, 'service-unavailable'), form).toBe(true);
    const refused = await stream.iq('c2', 'set', registration('intruder', 'secret'));
    expect(hasCondition(refused, 'not-allowed'), refused).toBe(true);
    stream.close();
    expect(await server.strom.storage.accounts.exists('intruder')).toBe(false);
  });

  it('still lets a user change their password', async () => {
    await server.addUser('nina', 'before');
    const client = await connectClient(server, { username: 'nina', password: 'before' });
    const reply = await client.iq(
      `<iq type="set"><query xmlns="${NS_REGISTER}"><username>nina@localhost</username><password>after</password></query></iq>`,
    );
    expect(reply.attrs.type).toBe('result');
    await client.stop();
    const again = await connectClient(server, { username: 'nina', password: 'after' });
    await again.stop();
  });
});

describe('account removal while the rest of the deletion is still under way', () => {
  let strom: Strom;
  let wsUrl: string;
  // Holds the deletion where modules tell contacts, the step that used to come after the result.
  let release: () => void = () => {};
  let held: Promise<void> = Promise.resolve();
  const holdDeletion = defineModule({
    name: 'hold-deletion',
    setup(ctx) {
      ctx.on(CoreEvents.accountDeleted, () => held, 1000);
    },
  });
  beforeAll(async () => {
    const config = loadConfig(
      {
        XMPP_DOMAIN: 'localhost',
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'silent',
        DATA_DIR: '/nonexistent',
      },
      [...defaultModules(), holdDeletion],
    );
    strom = await startStrom(config, {
      storage: await createTestStorage('pglite'),
      adminSocket: false,
      logger: createLogger('silent'),
    });
    wsUrl = `ws://127.0.0.1:${strom.port()}/xmpp-websocket`;
  });
  afterAll(() => strom.stop());

  it('confirms a removal only once the old password no longer logs in, on any connection', async () => {
    await strom.xmpp.createAccount('paul', 'paulpass');
    held = new Promise((resolve) => {
      release = resolve;
    });
    const requester = await RawClient.connect(wsUrl);
    await requester.login('paul', 'paulpass', 'phone');
    requester.send(
      `<iq xmlns="jabber:client" type="set" id="unreg3"><query xmlns="${NS_REGISTER}"><remove/></query></iq>`,
    );
    expect(await requester.next('id="unreg3"')).toContain('type="result"');

    // The sessions have not ended yet and the rows are still there, but the password is dead.
    const eager = await RawClient.connect(wsUrl);
    await eager.open();
    eager.send(
      `<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${Buffer.from('\0paul\0paulpass').toString('base64')}</auth>`,
    );
    expect(await eager.next(/<(failure|success)/)).toContain('<not-authorized/>');
    eager.close();
    expect(requester.closeCode).toBeUndefined();

    release();
    await requester.closed;
    await expect.poll(() => strom.storage.accounts.exists('paul'), POLL).toBe(false);
  });
});

describe('registration limits (REGISTRATION_LIMIT, REGISTRATION_INTERVAL, REGISTRATION_EXEMPT)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      env: { REGISTRATION_LIMIT: '3', REGISTRATION_INTERVAL: '0', REGISTRATION_EXEMPT: '127.9.0.0/16' },
    });
  });
  afterAll(() => server.stop());

  /** Five registrations sent at once from one address, each on its own stream; the replies. */
  async function burst(address: string, prefix: string): Promise<string[]> {
    const streams = await Promise.all(
      Array.from({ length: 5 }, () => AddressedStream.open(server, address).then(({ stream }) => stream)),
    );
    const replies = await Promise.all(
      streams.map((stream, i) => stream.iq(`${prefix}${i}`, 'set', registration(`${prefix}${i}`, 'secret'))),
    );
    for (const stream of streams) stream.close();
    return replies;
  }

  it('lets exactly the limit through when five registrations race from one address', async () => {
    const replies = await burst(nextAddress(), 'race');
    expect(replies.filter((r) => r.includes('type="result"'))).toHaveLength(3);
    const refused = replies.filter((r) => hasCondition(r, 'resource-constraint'));
    expect(refused).toHaveLength(2);
    let created = 0;
    for (let i = 0; i < 5; i++) if (await server.strom.storage.accounts.exists(`race${i}`)) created++;
    expect(created).toBe(3);
  });

  it('gives a slot back when the registration fails', async () => {
    const address = nextAddress();
    const { stream } = await AddressedStream.open(server, address);
    const bad = await stream.iq('gb1', 'set', registration('bad name', 'secret'));
    expect(hasCondition(bad, 'jid-malformed'), bad).toBe(true);
    stream.close();
    const replies = await burst(address, 'back');
    expect(replies.filter((r) => r.includes('type="result"'))).toHaveLength(3);
  });

  it('does not limit an exempt address', async () => {
    const replies = await burst('127.9.0.1', 'exempt');
    expect(replies.filter((r) => r.includes('type="result"'))).toHaveLength(5);
    expect(await burst('127.9.0.1', 'exemptagain')).toSatisfy((r: string[]) =>
      r.every((reply) => reply.includes('type="result"')),
    );
  });
});

describe('registration with the default limits', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  it('lets one of five racing registrations through (ten seconds apart per address)', async () => {
    const address = nextAddress();
    const streams = await Promise.all(
      Array.from({ length: 5 }, () => AddressedStream.open(server, address).then(({ stream }) => stream)),
    );
    const replies = await Promise.all(
      streams.map((stream, i) => stream.iq(`d${i}`, 'set', registration(`default${i}`, 'secret'))),
    );
    for (const stream of streams) stream.close();
    expect(replies.filter((r) => r.includes('type="result"'))).toHaveLength(1);
  });
});

describe('registration throttle', () => {
  const HOUR = 3_600_000;

  it('allows five registrations per address per hour, spaced by the minimum interval', () => {
    const throttle = new RegistrationThrottle();
    let now = 1_000_000;
    for (let i = 0; i < 5; i++) {
      expect(throttle.check('a', now)).toBe(0);
      throttle.recordAttempt('a', now);
      throttle.recordSuccess('a', now);
      expect(throttle.check('a', now + 1000)).toBeGreaterThan(0);
      now += 60_000;
    }
    const wait = throttle.check('a', now);
    expect(wait).toBe(1_000_000 + HOUR - now);
    expect(throttle.check('a', 1_000_000 + HOUR + 1)).toBe(0);
    expect(throttle.check('b', now)).toBe(0);
  });

  it('limits attempts of any outcome, which slows down username probing', () => {
    const throttle = new RegistrationThrottle({ maxAttemptsPerWindow: 3 });
    for (let i = 0; i < 3; i++) {
      expect(throttle.check('a', 10 + i)).toBe(0);
      throttle.recordAttempt('a', 10 + i);
    }
    expect(throttle.check('a', 20)).toBe(10 + HOUR - 20);
  });

  it('takes a slot in the same step as the check, and gives it back on cancel', () => {
    const throttle = new RegistrationThrottle({ maxPerWindow: 2, minIntervalMs: 0 });
    const first = throttle.reserve('a', 100);
    const second = throttle.reserve('a', 100);
    expect(typeof first).toBe('object');
    expect(typeof second).toBe('object');
    expect(throttle.reserve('a', 100)).toBe(HOUR);
    (second as { cancel(): void }).cancel();
    expect(typeof throttle.reserve('a', 101)).toBe('object');
  });

  it('forgets an address once its window has passed', () => {
    const throttle = new RegistrationThrottle();
    throttle.recordAttempt('a', 0);
    throttle.recordSuccess('a', 0);
    expect(throttle.size).toBe(1);
    expect(throttle.check('a', HOUR + 1)).toBe(0);
    expect(throttle.size).toBe(0);
  });

  it('keys IPv4 by address, IPv6 by /64 and IPv4-mapped IPv6 as IPv4', () => {
    expect(throttleKey('192.0.2.7')).toBe('192.0.2.7');
    expect(throttleKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(throttleKey('2001:db8:1:2:aaaa::1')).toBe(throttleKey('2001:0db8:0001:0002:bbbb:cccc:dddd:eeee'));
    expect(throttleKey('2001:db8:1:2::1')).not.toBe(throttleKey('2001:db8:1:3::1'));
    expect(throttleKey('::1')).toBe('0:0:0:0::/64');
    expect(throttleKey(undefined)).toBe('unknown');
  });
});
