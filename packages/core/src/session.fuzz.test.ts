/**
 * Stream negotiation under fuzzing: a client session is fed random sequences of frames — the
 * steps of a real login in any order, mangled versions of them, and junk — through a fake
 * transport. Whatever arrives, the process must not crash, the session must end up in a sane state
 * (everything it wrote well-formed, a stream error followed only by the close, nothing left
 * behind once it is gone), and another client's session must keep being served. `FUZZ_RUNS`
 * scales the number of runs.
 */
import { createInProcessCluster } from '@strom/cluster';
import { createTestStorage, type Storage } from '@strom/storage';
import { type Element, parseFrame } from '@strom/xml';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount } from './accounts.js';
import { defineModule } from './context.js';
import { XmppServer } from './server.js';
import type { ClientSession } from './session.js';
import { bindClient, FakeTransport } from './test-support.js';

const SCALE = Number(process.env.FUZZ_RUNS ?? 1);
const runs = (n: number) => ({ numRuns: Math.max(1, Math.round(n * SCALE)) });
/** Vitest's deadline for a property, growing with the number of runs. */
const TIMEOUT_MS = 30_000 * Math.max(1, SCALE);

const DOMAIN = 'example.test';
const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
const PING = 'urn:xmpp:ping';

const pingModule = defineModule({
  name: 'ping',
  setup(ctx) {
    ctx.iq('get', 'host', PING, 'ping', () => undefined);
  },
});

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** Frames a client might send, well-formed or not, in any order. */
const STEPS = [
  `<open xmlns="${FRAMING}" to="${DOMAIN}" version="1.0"/>`,
  `<open xmlns="${FRAMING}" to="elsewhere.test" version="1.0"/>`,
  `<open xmlns="${FRAMING}" to="${DOMAIN}"/>`,
  `<open xmlns="${FRAMING}"/>`,
  `<open xmlns="urn:wrong" to="${DOMAIN}" version="1.0"/>`,
  `<stream:stream xmlns:stream="http://etherx.jabber.org/streams" to="${DOMAIN}" version="1.0"/>`,
  `<close xmlns="${FRAMING}"/>`,
  `<auth xmlns="${SASL}" mechanism="PLAIN">${b64('\0fuzz\0secret')}</auth>`,
  `<auth xmlns="${SASL}" mechanism="PLAIN">${b64('\0fuzz\0wrong')}</auth>`,
  `<auth xmlns="${SASL}" mechanism="PLAIN">${b64('fuzz\0fuzz\0secret')}</auth>`,
  `<auth xmlns="${SASL}" mechanism="PLAIN">${b64('other\0fuzz\0secret')}</auth>`,
  `<auth xmlns="${SASL}" mechanism="PLAIN">not base64!</auth>`,
  `<auth xmlns="${SASL}" mechanism="PLAIN">=</auth>`,
  `<auth xmlns="${SASL}" mechanism="PLAIN"/>`,
  `<auth xmlns="${SASL}" mechanism="NOPE"/>`,
  `<auth xmlns="${SASL}"/>`,
  `<auth xmlns="${SASL}" mechanism="SCRAM-SHA-256">${b64('n,,n=fuzz,r=abcdef')}</auth>`,
  `<auth xmlns="${SASL}" mechanism="SCRAM-SHA-1">${b64('n,,n=fuzz')}</auth>`,
  `<response xmlns="${SASL}">${b64('c=biws,r=abcdef,p=AAAA')}</response>`,
  `<response xmlns="${SASL}">${b64('\0fuzz\0secret')}</response>`,
  `<response xmlns="${SASL}"/>`,
  `<abort xmlns="${SASL}"/>`,
  `<iq xmlns="jabber:client" type="set" id="b"><bind xmlns="${BIND}"><resource>fuzz</resource></bind></iq>`,
  `<iq xmlns="jabber:client" type="set" id="b2"><bind xmlns="${BIND}"/></iq>`,
  `<iq xmlns="jabber:client" type="set" id="b3"><bind xmlns="${BIND}"><resource>\u0007bad</resource></bind></iq>`,
  `<iq xmlns="jabber:client" type="set" id="b4"><bind xmlns="${BIND}"><resource>${'r'.repeat(2000)}</resource></bind></iq>`,
  `<iq xmlns="jabber:client" type="get" id="b5"><bind xmlns="${BIND}"/></iq>`,
  `<iq xmlns="jabber:client" type="set" id="s"><session xmlns="urn:ietf:params:xml:ns:xmpp-session"/></iq>`,
  `<iq xmlns="jabber:client" type="get" id="p" to="${DOMAIN}"><ping xmlns="${PING}"/></iq>`,
  `<iq xmlns="jabber:client" type="get" to="${DOMAIN}"><ping xmlns="${PING}"/></iq>`,
  `<iq xmlns="jabber:client" type="get" id="two"><ping xmlns="${PING}"/><ping xmlns="${PING}"/></iq>`,
  `<iq xmlns="jabber:client" type="result" id="r"/>`,
  `<iq xmlns="jabber:client" type="bogus" id="t"/>`,
  `<iq xmlns="jabber:client" type="get" id="j" to="@@@"><ping xmlns="${PING}"/></iq>`,
  `<iq xmlns="jabber:client" type="get" id="f" from="someone@else.test"><ping xmlns="${PING}"/></iq>`,
  `<message xmlns="jabber:client" to="BYSTANDER"><body>hi</body></message>`,
  `<message xmlns="jabber:client" to="nobody@${DOMAIN}" type="chat"><body>x</body></message>`,
  `<message xmlns="jabber:client" type="error"/>`,
  `<presence xmlns="jabber:client"/>`,
  `<presence xmlns="jabber:client" type="subscribe" to="BYSTANDER"/>`,
  `<presence xmlns="jabber:client" to="${DOMAIN}"><priority>999999999999</priority></presence>`,
  `<enable xmlns="urn:xmpp:sm:3"/>`,
  `<unknown xmlns="urn:example:nothing"/>`,
  `<message/>`,
  `<iq xmlns="jabber:client"><query xmlns="jabber:iq:register"/></iq>`,
  '<a><b></a>',
  '<?xml version="1.0"?><a/>',
  '<!DOCTYPE a><a/>',
  '<a/><b/>',
  '',
  '   ',
  '\u0000',
  '<x:y/>',
];

const TOKENS = [
  '<',
  '>',
  '/',
  '="',
  '"',
  ' ',
  'xmlns',
  'iq',
  'message',
  'open',
  'type',
  'id',
  '&amp;',
  '&x;',
  '\uD800',
];
const junk = fc.array(fc.constantFrom(...TOKENS), { maxLength: 20 }).map((tokens) => tokens.join(''));
/** A step, a step with a random edit, or junk; sometimes already parsed, as the TCP edge hands them over. */
const frame: fc.Arbitrary<string | Element> = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(...STEPS) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...STEPS), fc.nat(), fc.nat({ max: 4 }), fc.constantFrom(...TOKENS))
      .map(([step, at, cut, token]) => {
        const position = at % (step.length + 1);
        return step.slice(0, position) + token + step.slice(position + cut);
      }),
  },
  { weight: 1, arbitrary: junk },
  {
    weight: 2,
    arbitrary: fc.constantFrom(...STEPS).chain((step) => {
      try {
        return fc.constant<string | Element>(parseFrame(step));
      } catch {
        return fc.constant<string | Element>(step);
      }
    }),
  },
);

/** The frames of a successful login, of which each run starts with a prefix. */
const LOGIN = [STEPS[0]!, STEPS[7]!, STEPS[0]!, STEPS[22]!];

/** A prefix of a real login (sometimes with one frame swapped or slipped in), then anything. */
const session_ = fc
  .tuple(
    fc.integer({ min: 0, max: LOGIN.length }),
    fc.option(fc.tuple(fc.nat(), frame, fc.boolean()), { freq: 3 }),
    fc.array(frame, { maxLength: 6 }),
  )
  .map(([length, edit, rest]) => {
    const frames: Array<string | Element> = LOGIN.slice(0, length);
    if (edit !== null) {
      const [at, extra, replace] = edit;
      frames.splice(at % (frames.length + 1), replace ? 1 : 0, extra);
    }
    return [...frames, ...rest];
  })
  .filter((frames) => frames.length > 0);

/** Everything the server wrote has settled: nothing new for a few turns of the event loop. */
async function settled(transport: FakeTransport): Promise<void> {
  const deadline = Date.now() + 3000;
  let seen = -1;
  let stable = 0;
  while (stable < 3 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (transport.frames.length === seen) stable++;
    else {
      seen = transport.frames.length;
      stable = 0;
    }
  }
}

describe('stream negotiation under fuzzing', () => {
  let storage: Storage;
  let server: XmppServer;
  let bystander: Awaited<ReturnType<typeof bindClient>>;
  let pings = 0;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
    storage = await createTestStorage('pglite');
    server = new XmppServer({
      domain: DOMAIN,
      storage,
      cluster: createInProcessCluster({}),
      modules: [pingModule],
      // Failures are the point here: nothing may be throttled.
      authThrottle: { freeAttempts: 1_000_000, addressFailures: 1_000_000 },
    });
    await server.start();
    await createAccount(storage, DOMAIN, 'fuzz', 'secret');
    bystander = await bindClient(server, 'bystander');
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
    await server?.stop();
    await storage?.close();
  });

  async function bystanderServed(): Promise<void> {
    const id = `bystander-${++pings}`;
    bystander.session.receive(
      `<iq xmlns="jabber:client" type="get" id="${id}" to="${DOMAIN}"><ping xmlns="${PING}"/></iq>`,
    );
    const answer = await bystander.transport.waitFor((el) => el.attrs.id === id, 3000);
    expect(answer.attrs.type).toBe('result');
  }

  function checkOutput(session: ClientSession, transport: FakeTransport): void {
    // Everything written is one well-formed element.
    const written = transport.frames.map((text) => parseFrame(text));
    const errorAt = written.findIndex((el) => el.name === 'stream:error');
    if (errorAt !== -1) {
      // Nothing a client sends may make a handler throw (internal-server-error is a bug's answer).
      expect(written[errorAt]!.getChild('internal-server-error')).toBeUndefined();
      // A stream error is followed by the close and nothing else, and the stream is over.
      expect(written.slice(errorAt + 1).map((el) => el.localName)).toEqual(['close']);
      expect(session.state).toBe('closed');
    }
    const closes = written.filter((el) => el.localName === 'close' && el.attrs.xmlns === FRAMING);
    expect(closes.length).toBeLessThanOrEqual(1);
    if (closes.length === 1) expect(written.at(-1)?.localName).toBe('close');
    if (transport.closed) expect(session.state).toBe('closed');
    expect(['connecting', 'authenticating', 'authenticated', 'binding', 'active', 'closed']).toContain(
      session.state,
    );
    // Each bind answer names a resource of the fuzz account, or is an error.
    for (const el of written) {
      const jid = el.getChild('bind', BIND)?.getChildText('jid');
      if (jid !== undefined) expect(jid).toMatch(new RegExp(`^fuzz@${DOMAIN}/.+`));
    }
  }

  /** Feeds the frames, checks what came out, ends the connection and checks nothing is left. */
  async function drive(session: ClientSession, transport: FakeTransport, frames: Array<string | Element>) {
    for (const f of frames) {
      session.receive(typeof f === 'string' ? f.replaceAll('BYSTANDER', bystander.jid) : f);
    }
    // Never hangs: every frame is handled (or dropped with the stream) within a few seconds.
    await expect
      .poll(() => (session as unknown as { busy: boolean }).busy, { timeout: 3000, interval: 5 })
      .toBe(false);
    await settled(transport);
    checkOutput(session, transport);
    // The connection goes away: nothing of the session is left behind.
    session.transportClosed();
    await settled(transport);
    expect(session.state).toBe('closed');
    expect(server.streams.has(session)).toBe(false);
    for (const bound of server.local.byJid.values()) expect(bound).not.toBe(session);
    expect(unhandled).toEqual([]);
    await bystanderServed();
  }

  let run = 0;
  const newTransport = () => new FakeTransport(true, `198.51.100.${++run % 250}`);

  it(
    'negotiation: never crashes, always ends in a sane state, and others keep being served',
    async () => {
      await fc.assert(
        fc.asyncProperty(session_, async (frames) => {
          const transport = newTransport();
          await drive(server.openStream(transport), transport, frames);
        }),
        runs(50),
      );
      expect(server.streams.size).toBe(1);
    },
    TIMEOUT_MS,
  );

  it(
    'bound sessions: whatever follows a login, the same holds',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 8 }), async (frames) => {
          const transport = newTransport();
          const session = server.openStream(transport);
          for (const step of LOGIN) session.receive(step);
          await transport.waitFor((el) => el.attrs.id === 'b', 3000);
          expect(session.state).toBe('active');
          await drive(session, transport, frames);
        }),
        runs(30),
      );
      expect(server.streams.size).toBe(1);
    },
    TIMEOUT_MS,
  );
});
