import type { Element } from '@strom/xml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { STORAGE_KINDS, startTestServer, type TestClient, type TestServer } from './harness.js';
import { storeMutualSubscription } from './im-helpers.js';
import { accountFactory, online } from './message-helpers.js';
import { messageWith, NS_CSI, NS_SM, RawStream } from './raw-stream.js';

const NS_CHATSTATES = 'http://jabber.org/protocol/chatstates';
const NS_STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams';

const presenceFrom = (jid: string, status?: string) => (el: Element) =>
  el.name === 'presence' &&
  el.attrs.from === jid &&
  (status === undefined || el.getChildText('status') === status);
const chatStateFrom = (jid: string, state: string) => (el: Element) =>
  el.name === 'message' && el.attrs.from === jid && el.getChild(state, NS_CHATSTATES) !== undefined;
const isPong = (el: Element) => el.name === 'iq' && (el.attrs.id ?? '').startsWith('ping-');

describe.each(STORAGE_KINDS)('client state indication, XEP-0352 (%s)', (storage) => {
  let server: TestServer;
  const accounts = accountFactory((username) => server.addUser(username));
  const streams: RawStream[] = [];
  const clients: TestClient[] = [];
  const raw = async (username: string, resource = 'phone') => {
    const stream = await RawStream.login(server, username, resource);
    streams.push(stream);
    return stream;
  };
  const client = async (username: string) => {
    const c = await online(server, username, 'desk');
    clients.push(c);
    return c;
  };
  /** Sends, then waits for a ping through the same stream: by then the stanza has been routed. */
  const settle = async (from: TestClient, stanza: string) => {
    await from.send(stanza);
    await from.iq('<iq type="get" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>');
  };
  /** A presence update from `c`, once its broadcast went out (it comes back to the sender last). */
  const status = async (c: TestClient, text: string, show = '') => {
    await c.send(`<presence>${show ? `<show>${show}</show>` : ''}<status>${text}</status></presence>`);
    await c.inbox.waitFor(presenceFrom(c.jid, text));
  };
  const composing = (c: TestClient, to: string) =>
    settle(c, `<message to="${to}" type="chat"><composing xmlns="${NS_CHATSTATES}"/></message>`);
  /** Bob, online and told about alice, then inactive. */
  const inactiveBob = async (bob: string, alice: TestClient) => {
    const b = await raw(bob);
    await b.waitFor(presenceFrom(alice.jid));
    b.send(`<inactive xmlns="${NS_CSI}"/>`);
    return b;
  };

  beforeAll(async () => {
    server = await startTestServer({ storage });
  });
  afterEach(async () => {
    await Promise.all(streams.splice(0).map((s) => s.close()));
    await Promise.all(clients.splice(0).map((c) => c.stop()));
  });
  afterAll(async () => {
    await server.stop();
  });

  it('is offered after authentication', async () => {
    const [bob] = await accounts('bob');
    const b = await RawStream.connect(server);
    streams.push(b);
    expect((await b.open()).getChild('csi', NS_CSI)).toBeUndefined();
    const again = await RawStream.connect(server);
    streams.push(again);
    expect((await again.authenticate(bob!)).getChild('csi', NS_CSI)).toBeDefined();
  });

  it('holds presence (the latest per contact) while inactive, passes a message with a body, and flushes on active', async () => {
    const [alice, bob, carol] = await accounts('alice', 'bob', 'carol');
    await storeMutualSubscription(server.strom.storage, alice!, bob!);
    const a = await client(alice!);
    const c = await client(carol!);
    const b = await inactiveBob(bob!, a);

    await status(a, 'first', 'away');
    await status(a, 'second');
    expect(await b.nothing(presenceFrom(a.jid))).toBe(true);

    await settle(c, `<message to="${b.jid}" type="chat"><body>hello bob</body></message>`);
    await b.waitFor(messageWith('hello bob'));
    // Carol's message does not bring out alice's presence.
    expect(await b.nothing(presenceFrom(a.jid))).toBe(true);

    await composing(a, b.jid);
    expect(await b.nothing(chatStateFrom(a.jid, 'composing'))).toBe(true);

    b.send(`<active xmlns="${NS_CSI}"/>`);
    await b.ping();
    // Everything held was out before the answer to the ping that followed <active/> (§5.1).
    const tail = b.log.slice(-3);
    expect(presenceFrom(a.jid, 'second')(tail[0]!)).toBe(true);
    expect(chatStateFrom(a.jid, 'composing')(tail[1]!)).toBe(true);
    expect(isPong(tail[2]!)).toBe(true);
    expect(b.count(presenceFrom(a.jid, 'first'))).toBe(0);
    expect(b.count(presenceFrom(a.jid, 'second'))).toBe(1);
  });

  it('lets out what a contact had waiting before that contact’s message, in order', async () => {
    const [alice, bob] = await accounts('alice', 'bob');
    await storeMutualSubscription(server.strom.storage, alice!, bob!);
    const a = await client(alice!);
    const b = await inactiveBob(bob!, a);
    await status(a, 'busy', 'dnd');
    await composing(a, b.jid);
    expect(await b.nothing(presenceFrom(a.jid, 'busy'))).toBe(true);

    await settle(a, `<message to="${b.jid}" type="chat"><body>done</body></message>`);
    await b.waitFor(messageWith('done'));
    const tail = b.log.slice(-3);
    expect(presenceFrom(a.jid, 'busy')(tail[0]!)).toBe(true);
    expect(chatStateFrom(a.jid, 'composing')(tail[1]!)).toBe(true);
    expect(messageWith('done')(tail[2]!)).toBe(true);
  });

  it('passes subscription requests and IQs at once', async () => {
    const [alice, bob, dave] = await accounts('alice', 'bob', 'dave');
    await storeMutualSubscription(server.strom.storage, alice!, bob!);
    const a = await client(alice!);
    const d = await client(dave!);
    const b = await inactiveBob(bob!, a);
    await settle(d, `<presence to="${bob}@localhost" type="subscribe"/>`);
    await b.waitFor((el) => el.name === 'presence' && el.attrs.type === 'subscribe');
    await settle(a, `<iq to="${b.jid}" type="get" id="v1"><query xmlns="jabber:iq:version"/></iq>`);
    await b.waitFor((el) => el.name === 'iq' && el.attrs.id === 'v1');
  });

  it('works with stream management: only what is really written is counted', async () => {
    const [alice, bob, carol] = await accounts('alice', 'bob', 'carol');
    await storeMutualSubscription(server.strom.storage, alice!, bob!);
    const a = await client(alice!);
    const c = await client(carol!);
    const b = await raw(bob!);
    await b.waitFor(presenceFrom(a.jid));
    await b.enable();
    b.send(`<inactive xmlns="${NS_CSI}"/>`);
    await status(a, 'held');
    await settle(c, `<message to="${b.jid}" type="chat"><body>counted</body></message>`);
    await b.waitFor(messageWith('counted'));
    expect(await b.nothing(presenceFrom(a.jid, 'held'))).toBe(true);
    // Carol's message and a ping answer, not alice's presence.
    expect(b.h).toBe(2);
    b.ack();

    b.send(`<active xmlns="${NS_CSI}"/>`);
    await b.waitFor(presenceFrom(a.jid, 'held'));
    await b.ping();
    expect(b.h).toBe(4);
    // The server's own count shows in the error for an h one too high.
    b.ack(b.h + 1);
    const error = await b.waitFor((el) => el.name === 'stream:error');
    expect(error.getChild('undefined-condition', NS_STREAMS)).toBeDefined();
    expect(error.getChild('handled-count-too-high', NS_SM)?.attrs['send-count']).toBe(String(b.h));
  });

  it('is active again on a resumed stream, after the unacknowledged stanzas went out again', async () => {
    const [alice, bob, carol] = await accounts('alice', 'bob', 'carol');
    await storeMutualSubscription(server.strom.storage, alice!, bob!);
    const a = await client(alice!);
    const c = await client(carol!);
    const b = await raw(bob!);
    await b.waitFor(presenceFrom(a.jid));
    const previd = (await b.enable()).attrs.id!;
    b.send(`<inactive xmlns="${NS_CSI}"/>`);
    await b.ping();
    await status(a, 'while inactive');
    await settle(c, `<message to="${b.jid}" type="chat"><body>unacked</body></message>`);
    await b.waitFor(messageWith('unacked'));
    // Bob's client lost "unacked" with its connection.
    const handled = b.h - 1;
    await b.drop();
    await status(a, 'while away');

    const again = await RawStream.connect(server);
    streams.push(again);
    await again.authenticate(bob!);
    expect((await again.resume(previd, handled)).is('resumed', NS_SM)).toBe(true);
    await again.waitFor(messageWith('unacked'));
    await again.waitFor(presenceFrom(a.jid, 'while away'));
    expect(again.count(presenceFrom(a.jid, 'while inactive'))).toBe(0);
    // Not inactive any more: a presence update goes straight out.
    await status(a, 'back');
    await again.waitFor(presenceFrom(a.jid, 'back'));
    const order = again.log.filter((el) => el.name === 'message' || el.name === 'presence');
    expect(messageWith('unacked')(order[0]!)).toBe(true);
    expect(presenceFrom(a.jid, 'while away')(order[1]!)).toBe(true);
    await again.ping();
    again.ack(again.h + 1);
    const error = await again.waitFor((el) => el.name === 'stream:error');
    expect(error.getChild('handled-count-too-high', NS_SM)?.attrs['send-count']).toBe(String(again.h));
  });
});
