import { InProcessHub } from '@strom/cluster';
import { createTestStorage, type Storage } from '@strom/storage';
import { type Element, xml } from '@strom/xml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defineModule, type ModuleContext } from './context.js';
import { CoreEvents, defineEvent, type StanzaEvent } from './events.js';
import type { Origin } from './origin.js';
import { bindClient, type CoreTestServer, FakeTransport, startCoreServer } from './test-support.js';

// One database for the file: every test binds fresh accounts, so they never see each other's rows.
let shared: Storage;
beforeAll(async () => {
  shared = await createTestStorage('pglite');
});
afterAll(async () => {
  await shared.close();
});

const running: CoreTestServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

async function start(...args: Parameters<typeof startCoreServer>): Promise<CoreTestServer> {
  const [modules, options = {}] = args;
  const server = await startCoreServer(modules, { storage: shared, ...options });
  running.push(server);
  return server;
}

const PING = 'urn:xmpp:ping';
const pingModule = defineModule({
  name: 'ping',
  setup(ctx) {
    ctx.iq('get', 'host', PING, 'ping', () => undefined);
  },
});

function ping(id: string, to = 'example.test'): string {
  return `<iq xmlns="jabber:client" type="get" id="${id}" to="${to}"><ping xmlns="${PING}"/></iq>`;
}

const byId = (id: string) => (el: Element) => el.attrs.id === id;

describe('module context', () => {
  it('gives a module no way to the server object', async () => {
    let seen: ModuleContext | undefined;
    const probe = defineModule({
      name: 'probe',
      setup(ctx) {
        seen = ctx;
      },
    });
    await start([probe]);
    expect(seen).toBeDefined();
    expect('server' in seen!).toBe(false);
    for (const value of Object.values(seen!)) expect(value?.constructor?.name).not.toBe('XmppServer');
  });

  it('refuses to start with a missing dependency, naming it', async () => {
    const needy = defineModule({ name: 'offline', requires: ['message'], setup() {} });
    await expect(startCoreServer([needy], { storage: shared })).rejects.toThrow(
      'Module offline requires message, which is not in the module list',
    );
  });

  it('sets modules up in dependency order whatever the list order', async () => {
    const order: string[] = [];
    const a = defineModule({ name: 'a', requires: ['b'], setup: () => void order.push('a') });
    const b = defineModule({ name: 'b', setup: () => void order.push('b') });
    await start([a, b]);
    expect(order).toEqual(['b', 'a']);
  });

  it('reports bad module settings by name before starting', async () => {
    const storage = shared;
    const { XmppServer } = await import('./server.js');
    const { createInProcessCluster } = await import('@strom/cluster');
    const { setting } = await import('./settings.js');
    const server = new XmppServer({
      domain: 'example.test',
      storage,
      cluster: createInProcessCluster(),
      env: { QUOTA: 'lots' },
      modules: [defineModule({ name: 'q', settings: { quota: setting.int('QUOTA', 1, 0, 9) }, setup() {} })],
    });
    await expect(server.start()).rejects.toThrow('QUOTA must be an integer from 0 to 9 (got "lots")');
  });

  it('carries typed events between modules', async () => {
    const greeted = defineEvent<{ who: string }>('test/greeted');
    const heard: string[] = [];
    const listener = defineModule({
      name: 'listener',
      setup: (ctx) => ctx.on(greeted, ({ who }) => void heard.push(who)),
    });
    let fire: (() => Promise<boolean>) | undefined;
    const speaker = defineModule({
      name: 'speaker',
      requires: ['listener'],
      setup: (ctx) => {
        fire = () => ctx.fire(greeted, { who: 'alice' });
      },
    });
    await start([speaker, listener]);
    expect(await fire!()).toBe(false);
    expect(heard).toEqual(['alice']);
  });
});

describe('routing', () => {
  it('answers a handled IQ to the host and service-unavailable for an unhandled one', async () => {
    const { server } = await start([pingModule]);
    const { session, transport } = await bindClient(server);
    session.receive(ping('p1'));
    expect((await transport.waitFor(byId('p1'))).attrs.type).toBe('result');
    session.receive(`<iq xmlns="jabber:client" type="get" id="p2"><nothing xmlns="urn:example:none"/></iq>`);
    const error = await transport.waitFor(byId('p2'));
    expect(error.attrs.type).toBe('error');
    expect(error.getChild('error')?.getChild('service-unavailable')).toBeDefined();
  });

  it('hands every stanza for a registered component host to its handler, and bounces other domains', async () => {
    const seen: StanzaEvent[] = [];
    const component = defineModule({
      name: 'component',
      setup(ctx) {
        ctx.hosts.register('rooms.example.test', (event) => {
          seen.push(event);
          void ctx.reply(
            event,
            xml('iq', {
              type: 'result',
              id: event.stanza.attrs.id,
              from: 'rooms.example.test',
              to: event.from.toString(),
            }),
          );
        });
      },
    });
    const { server } = await start([component]);
    expect(server.hosts.isLocal('rooms.example.test')).toBe(true);
    const { session, transport, jid } = await bindClient(server);
    session.receive(ping('c1', 'room@rooms.example.test/nick'));
    expect((await transport.waitFor(byId('c1'))).attrs.type).toBe('result');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.addressing).toBe('full');
    expect(seen[0]!.remote).toBe(false);
    expect(seen[0]!.origin.kind).toBe('client');
    expect(seen[0]!.session).toBe(session);
    expect(seen[0]!.from.toString()).toBe(jid);

    session.receive(ping('r1', 'elsewhere.example'));
    const bounced = await transport.waitFor(byId('r1'));
    expect(bounced.getChild('error')?.getChild('remote-server-not-found')).toBeDefined();
  });

  it('marks stanzas by origin: a client stanza carries its session, a module-routed one is internal', async () => {
    const origins: Origin[] = [];
    let route: ((stanza: Element) => Promise<void>) | undefined;
    const watcher = defineModule({
      name: 'watcher',
      setup(ctx) {
        ctx.hook('message/full', (event) => {
          origins.push(event.origin);
          return undefined;
        });
        route = (stanza) => ctx.route(stanza);
      },
    });
    const { server } = await start([watcher]);
    const alice = await bindClient(server, 'a');
    const bob = await bindClient(server, 'b');
    alice.session.receive(`<message xmlns="jabber:client" to="${bob.jid}" id="m1"><body>hi</body></message>`);
    const got = await bob.transport.waitFor(byId('m1'));
    expect(got.attrs.from).toBe(alice.jid);
    await route!(xml('message', { xmlns: 'jabber:client', from: 'example.test', to: bob.jid, id: 'm2' }));
    await bob.transport.waitFor(byId('m2'));
    expect(origins.map((o) => o.kind)).toEqual(['client', 'internal']);
    expect(origins[0]!.kind === 'client' && origins[0]!.session).toBe(alice.session);
  });

  it('stamps the sender: a client cannot claim another address', async () => {
    const { server } = await start([]);
    const alice = await bindClient(server, 'a');
    const bob = await bindClient(server, 'b');
    alice.session.receive(
      `<message xmlns="jabber:client" from="mallory@example.test/x" to="${bob.jid}" id="s1"><body>hi</body></message>`,
    );
    expect((await bob.transport.waitFor(byId('s1'))).attrs.from).toBe(alice.jid);
  });
});

describe('session seams', () => {
  it('runs inbound filters before the router: a filter can take a stanza or let it through', async () => {
    const { server } = await start([pingModule]);
    const { session, transport } = await bindClient(server);
    const seen: string[] = [];
    session.addFilter('in', (stanza) => {
      seen.push(stanza.attrs.id ?? '');
      return stanza.attrs.id === 'held' ? undefined : stanza;
    });
    session.receive(ping('held'));
    session.receive(ping('passed'));
    await transport.waitFor(byId('passed'));
    expect(seen).toEqual(['held', 'passed']);
    expect(transport.elements().some(byId('held'))).toBe(false);
  });

  it('runs outbound filters on every stanza, also on the shared pre-rendered path, and can hold one back', async () => {
    const { server } = await start([pingModule]);
    const alice = await bindClient(server, 'a');
    const bob = await bindClient(server, 'b');
    const counted: string[] = [];
    bob.session.addFilter('out', (out) => {
      counted.push(out.text);
      return out.text.includes('secret') ? undefined : out;
    });
    const entries = await server.cluster.resources(bob.jid.split('/')[0]!);
    await server.local.deliverMany([
      {
        stanza: xml('message', { xmlns: 'jabber:client', to: bob.jid, id: 'f1' }, xml('body', {}, 'secret')),
        entries,
      },
    ]);
    alice.session.receive(
      `<message xmlns="jabber:client" to="${bob.jid}" id="f2"><body>plain</body></message>`,
    );
    await bob.transport.waitFor(byId('f2'));
    expect(counted).toHaveLength(2);
    expect(bob.transport.elements().some(byId('f1'))).toBe(false);
  });

  it('keeps a session a module vetoes ending, routes to it through filters, and resumes it on a new transport', async () => {
    const held: string[] = [];
    const keeper = defineModule({
      name: 'keeper',
      setup(ctx) {
        ctx.on(CoreEvents.sessionEnding, ({ reason }) => reason.kind === 'transport-lost');
      },
    });
    const closed: string[] = [];
    const closeWatcher = defineModule({
      name: 'close-watcher',
      setup: (ctx) => ctx.on(CoreEvents.sessionClosed, ({ reason }) => void closed.push(reason.kind)),
    });
    const { server } = await start([keeper, closeWatcher, pingModule]);
    const alice = await bindClient(server, 'a');
    const bob = await bindClient(server, 'b');
    bob.session.addFilter('out', (out) => {
      if (bob.session.state === 'hibernating') {
        held.push(out.text);
        return undefined;
      }
      return out;
    });

    bob.session.transportClosed();
    expect(bob.session.state).toBe('hibernating');
    expect(bob.transport.closed).toBe(true);
    // Still in the directory: the message is routed to it, not stored or bounced.
    expect((await server.cluster.resources(bob.jid.split('/')[0]!)).map((e) => e.jid)).toEqual([bob.jid]);
    alice.session.receive(
      `<message xmlns="jabber:client" to="${bob.jid}" id="h1"><body>while away</body></message>`,
    );
    await expect.poll(() => held.length).toBe(1);
    expect(held[0]).toContain('while away');
    expect(closed).toEqual([]);

    const fresh = new FakeTransport();
    bob.session.replaceTransport(fresh);
    expect(bob.session.state).toBe('active');
    expect(fresh.attachedTo).toBe(bob.session);
    bob.session.receive(ping('after'));
    expect((await fresh.waitFor(byId('after'))).attrs.type).toBe('result');

    bob.session.transportClosed();
    expect(bob.session.state).toBe('hibernating');
    bob.session.terminate();
    await expect.poll(() => closed).toEqual(['terminated']);
    expect(await server.cluster.resources(bob.jid.split('/')[0]!)).toEqual([]);
  });

  it('ends the session as before when no module vetoes', async () => {
    const { server } = await start([]);
    const { session, jid } = await bindClient(server);
    session.transportClosed();
    expect(session.state).toBe('closed');
    await expect.poll(async () => (await server.cluster.resources(jid.split('/')[0]!)).length).toBe(0);
  });

  it('routes nonzas to the module serving the stream stage, and ends the stream for unknown ones', async () => {
    const got: string[] = [];
    const sm = defineModule({
      name: 'acks',
      setup(ctx) {
        ctx.nonza('bound', 'urn:example:acks', 'r', ({ session }) => {
          got.push('r');
          session.sendNonza(xml('a', { xmlns: 'urn:example:acks', h: '0' }));
        });
      },
    });
    const { server } = await start([sm]);
    const { session, transport } = await bindClient(server);
    session.receive('<r xmlns="urn:example:acks"/>');
    await transport.waitFor((el) => el.localName === 'a');
    expect(got).toEqual(['r']);
    session.receive('<unknown xmlns="urn:example:other"/>');
    const error = await transport.waitFor((el) => el.localName === 'error');
    expect(error.getChild('unsupported-stanza-type')).toBeDefined();
  });

  it('moves a connection to the session it resumes (hand-over) without announcing the new stream', async () => {
    const { server } = await start([
      defineModule({ name: 'keeper', setup: (ctx) => ctx.on(CoreEvents.sessionEnding, () => true) }),
      pingModule,
    ]);
    const old = await bindClient(server, 'a');
    old.session.transportClosed();
    const incoming = new FakeTransport();
    const fresh = server.openStream(incoming);
    fresh.handOver(old.session);
    expect(fresh.state).toBe('closed');
    expect(server.streams.has(fresh)).toBe(false);
    expect(incoming.attachedTo).toBe(old.session);
    old.session.receive(ping('h'));
    expect((await incoming.waitFor(byId('h'))).attrs.type).toBe('result');
  });
});

describe('cluster broadcast', () => {
  it('reaches the module on the nodes holding sessions of the named accounts only', async () => {
    const hub = new InProcessHub();
    const storage = shared;
    const received: Array<{ node: string; data: unknown }> = [];
    const send: Array<(data: unknown, nodesOf?: string[]) => Promise<void>> = [];
    const notifier = (node: string) =>
      defineModule({
        name: 'notifier',
        setup(ctx) {
          ctx.onBroadcast('changed', (data) => void received.push({ node, data }));
          send.push((data, nodesOf) => ctx.broadcast('changed', data, nodesOf ? { nodesOf } : undefined));
        },
      });
    const one = await start([notifier('one')], { hub, storage, nodeId: 'one' });
    await start([notifier('two')], { hub, storage, nodeId: 'two' });
    await start([notifier('three')], { hub, storage, nodeId: 'three' });
    const onTwo = await bindClient(running[1]!.server);
    await send[0]!({ n: 1 }, [onTwo.jid.split('/')[0]!]);
    await expect.poll(() => received).toEqual([{ node: 'two', data: { n: 1 } }]);
    await send[0]!({ n: 2 });
    await expect.poll(() => received.length).toBe(3);
    expect(
      received
        .slice(1)
        .map((r) => r.node)
        .sort(),
    ).toEqual(['three', 'two']);
    expect(one.server.cluster.nodeId).toBe('one');
  });
});
