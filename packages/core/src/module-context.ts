import type { Element } from '@strom/xml';
import { answerIq } from './answer-iq.js';
import type { ModuleContext } from './context.js';
import { iqEventName } from './registry.js';
import type { XmppServer } from './server.js';

/** What a context needs from the server beyond its public members. */
export interface ContextLinks {
  broadcast(name: string, data: unknown, nodesOf: readonly string[] | undefined): Promise<void>;
  onBroadcast(name: string, handler: (data: unknown, fromNode: string) => void | Promise<void>): void;
  sendIq(iq: Element, timeoutMs: number | undefined): Promise<Element>;
}

/**
 * Builds the one object a module touches. It is made of closures over the server, so a module can
 * neither reach the server object nor another module's state through it.
 */
export function createModuleContext(server: XmppServer, module: string, links: ContextLinks): ModuleContext {
  const { registry, router, local } = server;
  const log = server.log.child?.({ module }) ?? server.log;
  return {
    module,
    domain: server.domain,
    log,
    storage: server.storage,
    database: server.storage.database,
    startedAt: server.startedAt,
    hosts: {
      isLocal: (domain) => server.hosts.isLocal(domain),
      register: (host, handler) => server.hosts.register(host, handler),
      all: () => server.hosts.all(),
    },
    sessions: {
      resources: (bare) => server.cluster.resources(bare.bareString),
      resourcesMany: (bares) => server.cluster.resourcesMany([...bares]),
      local: (fullJid) => local.get(fullJid),
      localOf: (username) => local.ofAccount(username),
      isHere: (entry) => local.isHere(entry),
      update: (session, patch) => server.updateSession(session, patch),
      bind: (session, resource) => server.bindSession(session, resource),
    },
    accounts: {
      create: (username, password) => server.createAccount(username, password),
      changePassword: (username, password) => server.changePassword(username, password),
      delete: (username, options) => server.deleteAccount(username, options),
    },
    disco: {
      serverFeatures: () => [...registry.serverFeatures].sort(),
      accountFeatures: () => [...registry.accountFeatures].sort(),
      identities: () => registry.identities.map((identity) => ({ ...identity })),
      accountIdentities: () => registry.accountIdentities.map((identity) => ({ ...identity })),
    },
    hook: (event, handler, priority) => registry.hook(event, handler, priority),
    iq: (type, addressing, xmlns, name, handler) => {
      registry.iq(iqEventName(type, addressing, xmlns, name), (event) =>
        answerIq(event, handler, router, registry),
      );
    },
    streamIq: (stage, type, xmlns, name, handler) => registry.streamIq(stage, type, xmlns, name, handler),
    nonza: (stage, xmlns, name, handler) => registry.nonza(stage, xmlns, name, handler),
    streamFeature: (stage, provider) => registry.streamFeature(stage, provider),
    feature: (...namespaces) => {
      for (const ns of namespaces) registry.serverFeatures.add(ns);
    },
    accountFeature: (...namespaces) => {
      for (const ns of namespaces) registry.accountFeatures.add(ns);
    },
    identity: (identity) => {
      registry.identities.push(identity);
    },
    accountIdentity: (identity) => {
      registry.accountIdentities.push(identity);
    },
    on: (event, handler, priority) => registry.on(event, handler, priority),
    fire: (event, payload) => registry.fire(event, payload),
    route: (stanza, origin) => router.route(stanza, origin),
    submit: (session, stanza) => router.fromClient(session, stanza),
    reply: (event, reply) => router.reply(event, reply),
    bounce: (stanza, error, origin) => router.bounce(stanza, error, origin),
    deliver: (to, stanza) => local.deliverFull(stanza, to),
    deliverMany: (items) => local.deliverMany(items),
    sendIq: (iq, timeoutMs) => links.sendIq(iq, timeoutMs),
    broadcast: (name, data, options) => links.broadcast(name, data, options?.nodesOf),
    onBroadcast: (name, handler) => links.onBroadcast(name, handler),
  };
}
