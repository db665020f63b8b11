import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  connectClient,
  RawClient,
  STORAGE_KINDS,
  startTestServer,
  type TestClient,
  type TestServer,
} from './harness.js';

const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const OPEN = `<open xmlns="${FRAMING}" to="localhost" version="1.0"/>`;

/** A stream error frame names the condition as a child in the streams namespace. */
function streamError(frame: string, condition: string): boolean {
  return (
    frame.startsWith('<stream:error') &&
    frame.includes(`<${condition} xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>`)
  );
}

describe.each(STORAGE_KINDS)('bad input gets the right error and harms no one else (%s)', (storage) => {
  let server: TestServer;
  let bystander: TestClient;

  beforeAll(async () => {
    server = await startTestServer({ storage, env: { MAX_STANZA_SIZE: String(256 * 1024) } });
    await server.addUser('alice');
    await server.addUser('bob');
    bystander = await connectClient(server, { username: 'bob', resource: 'bystander' });
  });
  // Every test connects from loopback: forget earlier failures so one case's throttling can't leak into the next.
  beforeEach(() => server.strom.xmpp.authThrottle.reset());
  afterAll(async () => {
    await bystander.stop();
    await server.stop();
  });

  /** Every case ends by checking that an unrelated session still works. */
  async function bystanderStillServed(): Promise<void> {
    const pong = await bystander.iq('<iq type="get" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>');
    expect(pong.attrs.type).toBe('result');
  }

  async function expectStreamError(raw: RawClient, condition: string): Promise<void> {
    const error = await raw.next('stream:error');
    expect(streamError(error, condition), error).toBe(true);
    expect(await raw.next('<close')).toBe(`<close xmlns="${FRAMING}"/>`);
    expect(await raw.closed).toBe(1000);
  }

  it('refuses the upgrade without the xmpp subprotocol', async () => {
    await expect(RawClient.connect(server.wsUrl, [])).rejects.toMatchObject({ status: 400 });
    await expect(RawClient.connect(server.wsUrl, ['chat'])).rejects.toMatchObject({ status: 400 });
    await bystanderStillServed();
  });

  it('echoes the xmpp subprotocol', async () => {
    const raw = await RawClient.connect(server.wsUrl, ['chat', 'xmpp']);
    expect(raw.ws.protocol).toBe('xmpp');
    raw.close();
  });

  it('answers <open/> with the framing namespace, from, id and version, then SASL features', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    raw.send(OPEN);
    const open = await raw.next('<open');
    expect(open).toMatch(
      new RegExp(`^<open xmlns="${FRAMING}" from="localhost" id="[0-9a-f]+" version="1.0"`),
    );
    const features = await raw.next('features');
    expect(features).toContain('<mechanism>SCRAM-SHA-256</mechanism>');
    expect(features).toContain('<mechanism>SCRAM-SHA-1</mechanism>');
    raw.close();
  });

  it('rejects a stream in the wrong framing namespace with invalid-namespace', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    raw.send('<open xmlns="jabber:client" to="localhost" version="1.0"/>');
    await expectStreamError(raw, 'invalid-namespace');
    await bystanderStillServed();
  });

  it('rejects a TCP-style stream header with invalid-namespace', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    raw.send(
      '<stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams" to="localhost" version="1.0"/>',
    );
    await expectStreamError(raw, 'invalid-namespace');
  });

  it('rejects an unknown domain with host-unknown', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    raw.send(`<open xmlns="${FRAMING}" to="elsewhere.example" version="1.0"/>`);
    await expectStreamError(raw, 'host-unknown');
    await bystanderStillServed();
  });

  it('rejects malformed XML with not-well-formed', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    await raw.open();
    raw.send('<message><body>unclosed</message>');
    await expectStreamError(raw, 'not-well-formed');
    await bystanderStillServed();
  });

  it('rejects an undeclared prefix with not-well-formed', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    await raw.open();
    raw.send('<foo:auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>');
    await expectStreamError(raw, 'not-well-formed');
  });

  it('rejects DOCTYPE and entity declarations with restricted-xml', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    await raw.open();
    raw.send(
      '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><message>&lol2;</message>',
    );
    await expectStreamError(raw, 'restricted-xml');
    await bystanderStillServed();
  });

  it('rejects comments and processing instructions with restricted-xml', async () => {
    for (const frame of [
      '<message xmlns="jabber:client"><!-- hi --></message>',
      '<?php echo 1; ?><message/>',
    ]) {
      const raw = await RawClient.connect(server.wsUrl);
      await raw.open();
      raw.send(frame);
      await expectStreamError(raw, 'restricted-xml');
    }
  });

  it('rejects a 2 MiB stanza with policy-violation without buffering it whole', async () => {
    const jid = await (async () => {
      const raw = await RawClient.connect(server.wsUrl);
      const bound = await raw.login('alice', 'secret', 'big');
      raw.send(
        `<message xmlns="jabber:client" to="bob@localhost"><body>${'x'.repeat(2 * 1024 * 1024)}</body></message>`,
      );
      await expectStreamError(raw, 'policy-violation');
      return bound;
    })();
    expect(jid).toBe('alice@localhost/big');
    await bystanderStillServed();
  });

  it('rejects a stanza just over the limit with policy-violation too', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    await raw.login('alice', 'secret', 'limit');
    raw.send(
      `<message xmlns="jabber:client" to="bob@localhost"><body>${'y'.repeat(256 * 1024)}</body></message>`,
    );
    await expectStreamError(raw, 'policy-violation');
  });

  it('rejects deep nesting with policy-violation', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    await raw.login('alice', 'secret', 'deep');
    raw.send(`<message xmlns="jabber:client">${'<a>'.repeat(500)}${'</a>'.repeat(500)}</message>`);
    await expectStreamError(raw, 'policy-violation');
  });

  it('answers stanzas before authentication with a not-authorized stream error', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    await raw.open();
    raw.send('<message xmlns="jabber:client" to="bob@localhost"><body>sneaky</body></message>');
    await expectStreamError(raw, 'not-authorized');
    expect(await bystander.inbox.nothing((s) => s.getChildText('body') === 'sneaky')).toBe(true);
    await bystanderStillServed();
  });

  it('answers stanzas before the first <open/> with a stream error inside an opened stream', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    raw.send('<iq xmlns="jabber:client" type="get" id="1"><ping xmlns="urn:xmpp:ping"/></iq>');
    expect(await raw.next('<open')).toContain(FRAMING);
    await expectStreamError(raw, 'not-authorized');
  });

  it('answers a binary frame with bad-format', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    await raw.open();
    raw.ws.send(Buffer.from(OPEN), { binary: true });
    await expectStreamError(raw, 'bad-format');
  });

  it('fails a wrong password with not-authorized and closes the stream after repeated failures', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    await raw.open();
    const wrong = Buffer.from('\0alice\0wrong').toString('base64');
    for (let attempt = 0; attempt < 3; attempt++) {
      raw.send(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${wrong}</auth>`);
      expect(await raw.next('<failure')).toContain('<not-authorized/>');
    }
    await expectStreamError(raw, 'policy-violation');
    await bystanderStillServed();
  });

  it('throttles an account after repeated failures, even with the right password', async () => {
    await server.addUser('carol', 'right');
    const attempt = async (password: string) => {
      const raw = await RawClient.connect(server.wsUrl);
      await raw.open();
      raw.send(
        `<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${Buffer.from(`\0carol\0${password}`).toString('base64')}</auth>`,
      );
      const answer = await raw.next(/<(failure|success)/);
      raw.close();
      return answer;
    };
    for (let i = 0; i < 4; i++) expect(await attempt('wrong')).toContain('<failure');
    const throttled = await attempt('right');
    expect(throttled).toContain('<temporary-auth-failure/>');
    expect(throttled).toContain('try again');
    await bystanderStillServed();
  });

  it('rejects SCRAM for an unknown user only at the proof, revealing nothing earlier', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    await raw.open();
    const first = Buffer.from('n,,n=nobody,r=abcdefghijklmnop').toString('base64');
    raw.send(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="SCRAM-SHA-256">${first}</auth>`);
    const challenge = await raw.next('<challenge');
    const decoded = Buffer.from(/>([^<]+)</.exec(challenge)![1]!, 'base64').toString();
    expect(decoded).toMatch(/^r=abcdefghijklmnop[^,]+,s=[^,]+,i=4096$/);
    raw.close();
  });

  it('offers PLAIN on loopback but not to a client behind an untrusted proxy', async () => {
    const direct = await RawClient.connect(server.wsUrl);
    expect(await direct.open()).toContain('<mechanism>PLAIN</mechanism>');
    direct.close();
    const proxied = new WebSocket(server.wsUrl, ['xmpp'], { headers: { 'X-Forwarded-For': '198.51.100.4' } });
    const frames: string[] = [];
    proxied.on('message', (data) => frames.push(data.toString()));
    await new Promise((resolve) => proxied.once('open', resolve));
    proxied.send(OPEN);
    await expect.poll(() => frames.find((f) => f.includes('features'))).toBeDefined();
    expect(frames.find((f) => f.includes('features'))).not.toContain('PLAIN');
    proxied.close();
  });

  it('answers PLAIN on an insecure channel with encryption-required', async () => {
    const proxied = new WebSocket(server.wsUrl, ['xmpp'], { headers: { 'X-Forwarded-For': '198.51.100.5' } });
    const frames: string[] = [];
    proxied.on('message', (data) => frames.push(data.toString()));
    await new Promise((resolve) => proxied.once('open', resolve));
    proxied.send(OPEN);
    await expect.poll(() => frames.some((f) => f.includes('features'))).toBe(true);
    proxied.send(
      `<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${Buffer.from('\0alice\0secret').toString('base64')}</auth>`,
    );
    await expect.poll(() => frames.find((f) => f.includes('<failure'))).toContain('<encryption-required/>');
    proxied.close();
  });

  it('answers an invalid JID in "to" with a jid-malformed stanza error', async () => {
    const alice = await connectClient(server, { username: 'alice', resource: 'jid' });
    const reply = await alice.iq('<iq type="get" to="a@b@c"><ping xmlns="urn:xmpp:ping"/></iq>');
    expect(reply.attrs.type).toBe('error');
    expect(
      reply.getChild('error')?.getChild('jid-malformed', 'urn:ietf:params:xml:ns:xmpp-stanzas'),
    ).toBeDefined();
    const message = alice.inbox.waitFor((s) => s.name === 'message' && s.attrs.type === 'error');
    await alice.send('<message to="@localhost" id="m1"><body>hi</body></message>');
    expect((await message).getChild('error')?.getChild('jid-malformed')).toBeDefined();
    await alice.stop();
    await bystanderStillServed();
  });

  it('answers an IQ without id or with two payloads with bad-request', async () => {
    const alice = await connectClient(server, { username: 'alice', resource: 'iq' });
    const reply = await alice.iq(
      '<iq type="get" to="localhost"><ping xmlns="urn:xmpp:ping"/><time xmlns="urn:xmpp:time"/></iq>',
    );
    expect(reply.getChild('error')?.getChild('bad-request')).toBeDefined();
    await alice.stop();
  });

  it('answers a top-level element outside jabber:client with unsupported-stanza-type', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    await raw.login('alice', 'secret', 'nonza');
    raw.send('<unknown xmlns="urn:example:no-such-protocol"/>');
    await expectStreamError(raw, 'unsupported-stanza-type');
  });

  it('survives a socket dropped in the middle of a fragmented stanza', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    await raw.login('alice', 'secret', 'dropped');
    raw.ws.send('<message xmlns="jabber:client" to="bob@localhost"><bo', { fin: false });
    raw.ws.terminate();
    await raw.closed;
    await expect.poll(() => server.strom.xmpp.sessions.has('alice@localhost/dropped')).toBe(false);
    await bystanderStillServed();
  });

  it('survives a TCP connection cut in the middle of the WebSocket frame', async () => {
    const { port } = new URL(server.wsUrl);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      'GET /xmpp-websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n',
    );
    await new Promise((resolve) => socket.once('data', resolve));
    // A masked text frame announcing 100 bytes, of which only 10 arrive.
    socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | 100, 1, 2, 3, 4]), Buffer.alloc(10, 0x41)]));
    socket.destroy();
    await bystanderStillServed();
  });

  it('closes cleanly: <close/> is answered with exactly the framing close', async () => {
    const raw = await RawClient.connect(server.wsUrl);
    await raw.login('alice', 'secret', 'closing');
    raw.send(`<close xmlns="${FRAMING}"/>`);
    expect(await raw.next('<close')).toBe(`<close xmlns="${FRAMING}"/>`);
    expect(await raw.closed).toBe(1000);
  });
});
