import type { Element } from '@strom/xml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { STORAGE_KINDS, startTestServer, type TestClient, type TestServer } from './harness.js';
import { accountFactory, online, PipeClient, POLL, startNodePair } from './message-helpers.js';
import { failedWith, isStanza, messageWith, NS_DELAY, NS_SM, RawStream } from './raw-stream.js';

const NS_STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams';

const isR = (el: Element) => el.is('r', NS_SM);
const streamError = (condition: string) => (el: Element) =>
  el.name === 'stream:error' && el.getChild(condition, NS_STREAMS) !== undefined;

/** A message stanza to a full or bare JID. */
const chat = (to: string, body: string, id = body) =>
  `<message to="${to}" type="chat" id="${id}"><body>${body}</body></message>`;

describe.each(STORAGE_KINDS)('stream management, XEP-0198 (%s)', (storage) => {
  let server: TestServer;
  const accounts = accountFactory((username) => server.addUser(username));
  const streams: RawStream[] = [];
  const clients: TestClient[] = [];
  const raw = async (username: string, resource: string, opts: { presence?: boolean } = {}) => {
    const stream = await RawStream.login(server, username, resource, opts);
    streams.push(stream);
    return stream;
  };
  const fresh = async () => {
    const stream = await RawStream.connect(server);
    streams.push(stream);
    return stream;
  };
  const client = async (username: string, resource = 'desk') => {
    const c = await online(server, username, resource);
    clients.push(c);
    return c;
  };
  /** A message body sent by `from`, delivered to its recipient's session (in order after it). */
  const sendAndSettle = async (from: TestClient, stanza: string) => {
    await from.send(stanza);
    // The sender's stream is processed in order: once its ping is answered, the message was routed.
    await from.iq('<iq type="get" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>');
  };

  beforeAll(async () => {
    server = await startTestServer({ storage, env: { SM_MAX_QUEUE: '20', SM_MAX_HIBERNATED: '1' } });
  });
  afterEach(async () => {
    await Promise.all(streams.splice(0).map((s) => s.close()));
    await Promise.all(clients.splice(0).map((c) => c.stop()));
  });
  afterAll(async () => {
    await server.stop();
  });

  it('offers <sm/> after authentication and enables with resumption', async () => {
    const [bob] = await accounts('bob');
    const stream = await fresh();
    const before = await stream.open();
    expect(before.getChild('sm', NS_SM)).toBeUndefined();
    stream.send(`<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>`);

    const b = await fresh();
    const features = await b.authenticate(bob!);
    expect(features.getChild('sm', NS_SM)).toBeDefined();
    await b.bind('phone');
    const enabled = await b.enable('resume="true" max="60"');
    expect(enabled.attrs.resume).toBe('true');
    expect(enabled.attrs.id!.length).toBeGreaterThanOrEqual(20);
    // The client's preferred maximum, as it is below the server's.
    expect(enabled.attrs.max).toBe('60');

    const plain = await raw(bob!, 'tablet');
    const noResume = await plain.enable('');
    expect(noResume.is('enabled', NS_SM)).toBe(true);
    expect(noResume.attrs.id).toBeUndefined();
    expect(noResume.attrs.resume).toBeUndefined();

    const capped = await raw(bob!, 'laptop');
    expect((await capped.enable('resume="1" max="99999"')).attrs.max).toBe('300');
  });

  it('answers <enable/> before binding and twice with <failed/>, and the stream goes on', async () => {
    const [bob] = await accounts('bob');
    const b = await fresh();
    await b.authenticate(bob!);
    expect(failedWith('unexpected-request')(await b.enable())).toBe(true);
    await b.bind('phone');
    expect((await b.enable()).is('enabled', NS_SM)).toBe(true);
    expect(failedWith('unexpected-request')(await b.enable())).toBe(true);
    b.send(`<resume xmlns="${NS_SM}" previd="x" h="0"/>`);
    expect(failedWith('unexpected-request')(await b.waitFor((el) => el.is('failed', NS_SM)))).toBe(true);
    await b.ping();
    expect(b.closed).toBe(false);

    // Before authentication too.
    const early = await fresh();
    await early.open();
    expect(failedWith('unexpected-request')(await early.enable())).toBe(true);
  });

  it('acknowledges what the client sent when asked, counting every stanza', async () => {
    const [bob] = await accounts('bob');
    const b = await raw(bob!, 'phone');
    await b.enable();
    b.send(`<r xmlns="${NS_SM}"/>`);
    expect((await b.waitFor((el) => el.is('a', NS_SM))).attrs.h).toBe('0');
    await b.ping();
    await b.ping();
    b.send(`<message xmlns="jabber:client" to="${b.jid}" id="self"><body>note</body></message>`);
    b.send(`<iq xmlns="jabber:client" type="get" id="bad"/>`);
    b.send(`<r xmlns="${NS_SM}"/>`);
    // Two pings, a message, and an invalid IQ (answered with an error, but handled all the same).
    expect((await b.waitFor((el) => el.is('a', NS_SM))).attrs.h).toBe('4');
  });

  it('asks for an ack after five unacknowledged stanzas, drops acknowledged ones, and refuses an h too high', async () => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = await client(alice!);
    const b = await raw(bob!, 'phone');
    await b.enable();
    for (let i = 1; i <= 4; i++) await sendAndSettle(a, chat(b.jid, `m${i}`));
    await b.waitFor(messageWith('m4'));
    // The ping's answer is the fifth stanza: the request comes right after it, not before.
    await b.ping();
    await b.waitFor(isR);
    const enabledAt = b.log.findIndex((el) => el.is('enabled', NS_SM));
    const since = b.log.slice(enabledAt + 1).filter((el) => isStanza(el) || isR(el));
    expect(since.map((el) => (isR(el) ? 'r' : el.name))).toEqual([
      'message',
      'message',
      'message',
      'message',
      'iq',
      'r',
    ]);
    expect(b.h).toBe(5);
    b.ack(5);
    // Acknowledged up to 5: one more stanza out (the ping answer) makes 6 sent, so h=7 is too high.
    await b.ping();
    b.ack(7);
    const error = await b.waitFor(streamError('undefined-condition'));
    const tooHigh = error.getChild('handled-count-too-high', NS_SM);
    expect(tooHigh?.attrs).toMatchObject({ h: '7', 'send-count': '6' });
    expect(await b.raw.closed).toBe(1000);
  });

  it('resumes on a new connection and sends exactly the unacknowledged stanzas again, each once, with a delay', async () => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = await client(alice!);
    const b = await raw(bob!, 'phone');
    const enabled = await b.enable();
    const previd = enabled.attrs.id!;
    await sendAndSettle(a, chat(b.jid, 'one'));
    await b.waitFor(messageWith('one'));
    b.ack();
    const sentAt = Date.now();
    await sendAndSettle(a, chat(b.jid, 'two'));
    await sendAndSettle(a, chat(b.jid, 'three'));
    await b.waitFor(messageWith('three'));
    // The client handled "two" but not "three" before its connection died.
    const handled = b.h - 1;
    b.send(`<message xmlns="jabber:client" to="${a.jid}" id="before-drop"><body>from bob</body></message>`);
    await a.inbox.waitFor(messageWith('from bob'));
    await b.drop();
    // Sent while bob's session waits: it is queued, not stored or bounced.
    await sendAndSettle(a, chat(b.jid, 'four'));
    expect(await server.strom.storage.offline.count(bob!)).toBe(0);
    expect(await a.inbox.nothing((el) => el.attrs.type === 'error')).toBe(true);

    const again = await fresh();
    await again.authenticate(bob!);
    const resumed = await again.resume(previd, handled);
    expect(resumed.is('resumed', NS_SM)).toBe(true);
    expect(resumed.attrs.previd).toBe(previd);
    // Bob's stream handled one stanza (his message) after enabling.
    expect(resumed.attrs.h).toBe('1');
    const three = await again.waitFor(messageWith('three'));
    const four = await again.waitFor(messageWith('four'));
    for (const message of [three, four]) {
      expect(message.attrs.to).toBe(b.jid);
      const delays = message.getChildren('delay', NS_DELAY);
      expect(delays).toHaveLength(1);
      expect(delays[0]!.attrs.from).toBe('localhost');
      expect(Math.abs(Date.parse(delays[0]!.attrs.stamp!) - sentAt)).toBeLessThan(5000);
    }
    expect(await again.nothing((el) => el.name === 'message')).toBe(true);
    for (const body of ['one', 'two', 'three', 'four']) {
      expect(again.count(messageWith(body)), body).toBe(body === 'three' || body === 'four' ? 1 : 0);
    }

    // The same session: same address, still available to alice, and the count goes on.
    again.jid = b.jid;
    await sendAndSettle(a, chat(b.jid, 'five'));
    await again.waitFor(messageWith('five'));
    // Converse 14 writes the resource it had before in `from`; the server stamps the real one.
    again.send(
      `<message xmlns="jabber:client" from="${bob}@localhost/stale" to="${a.jid}"><body>after</body></message>`,
    );
    expect((await a.inbox.waitFor(messageWith('after'))).attrs.from).toBe(b.jid);
    again.ack();
    again.send(`<r xmlns="${NS_SM}"/>`);
    // Bob's message before the drop, then a ping and the message with the stale resource.
    expect((await again.waitFor((el) => el.is('a', NS_SM))).attrs.h).toBe('3');
    expect(await again.nothing((el) => el.name === 'stream:error')).toBe(true);
    expect(await server.strom.storage.offline.count(bob!)).toBe(0);
  });

  it('takes over a session whose old connection is still open, ending that one with conflict', async () => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = await client(alice!);
    const b = await raw(bob!, 'phone');
    const previd = (await b.enable()).attrs.id!;
    await sendAndSettle(a, chat(b.jid, 'unacked'));
    await b.waitFor(messageWith('unacked'));

    const again = await fresh();
    await again.authenticate(bob!);
    const resumed = await again.resume(previd, 0);
    expect(resumed.is('resumed', NS_SM)).toBe(true);
    await b.waitFor(streamError('conflict'));
    await b.raw.closed;
    expect((await again.waitFor(messageWith('unacked'))).getChild('delay', NS_DELAY)).toBeDefined();
    // The old connection's close did not end the resumed session.
    expect(await again.nothing(streamError('conflict'), 500)).toBe(true);
    await sendAndSettle(a, chat(b.jid, 'after'));
    await again.waitFor(messageWith('after'));
    expect(server.strom.xmpp.sessions.get(b.jid)?.state).toBe('active');
  });

  it('refuses to resume another account’s session or an unknown one with item-not-found, and binding still works', async () => {
    const [bob, carol] = await accounts('bob', 'carol');
    const b = await raw(bob!, 'phone');
    const previd = (await b.enable()).attrs.id!;
    await b.drop();

    const c = await fresh();
    await c.authenticate(carol!);
    const refused = await c.resume(previd, 0);
    expect(failedWith('item-not-found')(refused)).toBe(true);
    expect(refused.attrs.h).toBeUndefined();
    expect(await c.bind('laptop')).toBe(`${carol}@localhost/laptop`);
    await c.ping();

    const unknown = await fresh();
    await unknown.authenticate(bob!);
    expect(failedWith('item-not-found')(await unknown.resume('no-such-session', 0))).toBe(true);
    await unknown.bind('other');
    await unknown.ping();

    // Carol's attempt did not spoil it for bob.
    const again = await fresh();
    await again.authenticate(bob!);
    expect((await again.resume(previd, 0)).is('resumed', NS_SM)).toBe(true);
    again.jid = b.jid;
    await again.ping();
  });

  it('keeps at most SM_MAX_HIBERNATED sessions of one account waiting: the oldest gives way', async () => {
    const [bob] = await accounts('bob');
    const first = await raw(bob!, 'one');
    const firstId = (await first.enable()).attrs.id!;
    const second = await raw(bob!, 'two');
    const secondId = (await second.enable()).attrs.id!;
    // One after the other, as the server sees them.
    await first.drop();
    await expect.poll(() => server.strom.xmpp.sessions.get(first.jid)?.state, POLL).toBe('hibernating');
    await second.drop();
    await expect.poll(() => server.strom.xmpp.sessions.get(first.jid), POLL).toBeUndefined();
    expect(server.strom.xmpp.sessions.get(second.jid)?.state).toBe('hibernating');
    const again = await fresh();
    await again.authenticate(bob!);
    expect(failedWith('item-not-found')(await again.resume(firstId, 0))).toBe(true);
    expect((await again.resume(secondId, 0)).is('resumed', NS_SM)).toBe(true);
    again.jid = second.jid;
    await again.ping();
  });

  it('ends a waiting session whose queue overflows and routes its messages to offline storage', async () => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = await client(alice!);
    const b = await raw(bob!, 'phone');
    const previd = (await b.enable()).attrs.id!;
    await b.drop();
    // SM_MAX_QUEUE is 20 here.
    for (let i = 1; i <= 21; i++) await a.send(chat(`${bob}@localhost`, `q${i}`));
    await expect.poll(() => server.strom.storage.offline.count(bob!), POLL).toBe(21);
    const again = await fresh();
    await again.authenticate(bob!);
    expect(failedWith('item-not-found')(await again.resume(previd, 0))).toBe(true);
    expect(await a.inbox.nothing((el) => el.attrs.type === 'error')).toBe(true);
  });

  it('re-routes unacknowledged messages when the client closes the stream without acknowledging', async () => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = await client(alice!);
    const b = await raw(bob!, 'phone');
    await b.enable();
    await sendAndSettle(a, chat(`${bob}@localhost`, 'acked'));
    await b.waitFor(messageWith('acked'));
    b.ack();
    await sendAndSettle(a, chat(`${bob}@localhost`, 'unacked'));
    await b.waitFor(messageWith('unacked'));
    await b.close();
    await expect.poll(() => server.strom.storage.offline.count(bob!), POLL).toBe(1);

    const later = await raw(bob!, 'tablet');
    const message = await later.waitFor(messageWith('unacked'));
    expect(message.getChildren('delay', NS_DELAY)).toHaveLength(1);
    expect(await later.nothing(messageWith('acked'))).toBe(true);
  });

  it('hands the unacknowledged messages of a gone session to another resource of the account', async () => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = await client(alice!);
    const other = await client(bob!, 'desktop');
    const b = await raw(bob!, 'phone');
    await b.enable();
    await sendAndSettle(a, chat(b.jid, 'to the phone'));
    await b.waitFor(messageWith('to the phone'));
    await b.close();
    const moved = await other.inbox.waitFor(messageWith('to the phone'));
    expect(moved.getChild('delay', NS_DELAY)?.attrs.from).toBe('localhost');
    expect(await server.strom.storage.offline.count(bob!)).toBe(0);
  });
});

describe.each(STORAGE_KINDS)('stream management expiry (%s)', (storage) => {
  let server: TestServer;
  const accounts = accountFactory((username) => server.addUser(username));
  const streams: RawStream[] = [];
  const clients: TestClient[] = [];
  const raw = async (username: string, resource: string) => {
    const stream = await RawStream.login(server, username, resource);
    streams.push(stream);
    return stream;
  };

  beforeAll(async () => {
    server = await startTestServer({ storage, env: { SM_RESUME_TIMEOUT: '1' } });
  });
  afterEach(async () => {
    await Promise.all(streams.splice(0).map((s) => s.close()));
    await Promise.all(clients.splice(0).map((c) => c.stop()));
  });
  afterAll(async () => {
    await server.stop();
  });

  it('stores the queued messages offline when the resumption window passes, and delivers them at the next login', async () => {
    const [alice, bob] = await accounts('alice', 'bob');
    const a = await online(server, alice!, 'desk');
    clients.push(a);
    const b = await raw(bob!, 'phone');
    const previd = (await b.enable()).attrs.id!;
    expect((await b.enable()).is('failed', NS_SM)).toBe(true);
    await a.send(chat(b.jid, 'in flight'));
    await b.waitFor(messageWith('in flight'));
    await b.drop();
    await a.send(chat(`${bob}@localhost`, 'while away'));
    // An IQ request that reached the waiting session is answered when it ends.
    const pending = a.iq(`<iq type="get" to="${b.jid}"><ping xmlns="urn:xmpp:ping"/></iq>`);
    await expect.poll(() => server.strom.storage.offline.count(bob!), POLL).toBe(2);
    const answer = await pending;
    expect(answer.attrs.type).toBe('error');
    expect(answer.getChild('error')?.getChild('service-unavailable')).toBeDefined();

    const stale = await RawStream.connect(server);
    streams.push(stale);
    await stale.authenticate(bob!);
    expect(failedWith('item-not-found')(await stale.resume(previd, 1))).toBe(true);

    const later = await raw(bob!, 'tablet');
    const first = await later.waitFor(messageWith('in flight'));
    await later.waitFor(messageWith('while away'));
    expect(first.getChildren('delay', NS_DELAY)).toHaveLength(1);
    expect(await later.nothing((el) => el.name === 'message')).toBe(true);
    expect(later.count(messageWith('in flight'))).toBe(1);
    await expect.poll(() => server.strom.storage.offline.count(bob!), POLL).toBe(0);
  });
});

describe.each(STORAGE_KINDS)('stream management at shutdown (%s)', (kind) => {
  it('routes unacknowledged messages to offline storage when the server stops', async () => {
    const pair = await startNodePair(kind);
    try {
      await pair.a.createAccount('alice', 'secret');
      await pair.a.createAccount('bob', 'secret');
      const alice = await PipeClient.online(pair.a, 'alice', 'desk');
      const bob = await PipeClient.online(pair.a, 'bob', 'phone');
      bob.stanza(`<enable xmlns="${NS_SM}" resume="true"/>`);
      // This transport cannot move to another session: acks, but no resumption.
      expect(await bob.next('<enabled')).toBe(`<enabled xmlns="${NS_SM}"/>`);
      alice.chat('bob@localhost', 'just before the end');
      await bob.next('just before the end');
      await pair.a.stop();
      expect(await pair.storage.offline.count('bob')).toBe(1);
      const [stored] = await pair.storage.offline.list('bob', 10);
      expect(stored!.stanza).toContain('just before the end');
    } finally {
      await pair.stop();
    }
  });
});
