import { Element } from '@strom/xml';
import type {
  AnyModule,
  Identity,
  NonzaHandler,
  StreamFeatureProvider,
  StreamIqHandler,
  StreamStage,
} from './context.js';
import { errorReply, iqResult, StanzaError } from './errors.js';
import type { Addressing, EventName, StanzaEvent } from './events.js';
import { HookBus, type HookHandler, type HookResult } from './hooks.js';
import type { Logger } from './logger.js';
import type { ClientSession } from './session.js';

export function iqEventName(type: string, addressing: Addressing, xmlns: string, name: string): string {
  return `iq-${type}/${addressing}/${xmlns}:${name}`;
}

/**
 * Orders modules so that each comes after the modules it requires, keeping the given order
 * otherwise. A missing requirement or a cycle is a configuration error, reported by name.
 */
export function orderModules(modules: readonly AnyModule[]): AnyModule[] {
  const byName = new Map<string, AnyModule>();
  for (const module of modules) {
    if (byName.has(module.name)) throw new Error(`Module ${module.name} is listed twice`);
    byName.set(module.name, module);
  }
  for (const module of modules) {
    for (const required of module.requires ?? []) {
      if (!byName.has(required)) {
        throw new Error(`Module ${module.name} requires ${required}, which is not in the module list`);
      }
    }
  }
  const ordered: AnyModule[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (module: AnyModule, path: string[]): void => {
    const current = state.get(module.name);
    if (current === 'done') return;
    if (current === 'visiting') {
      throw new Error(`Modules require each other in a cycle: ${[...path, module.name].join(' → ')}`);
    }
    state.set(module.name, 'visiting');
    for (const required of module.requires ?? []) visit(byName.get(required)!, [...path, module.name]);
    state.set(module.name, 'done');
    ordered.push(module);
  };
  for (const module of modules) visit(module, []);
  return ordered;
}

type BroadcastHandler = (data: unknown, fromNode: string) => void | Promise<void>;

/** Holds what modules registered: stanza hooks, typed events, disco data, stream features and nonzas. */
export class ModuleRegistry {
  readonly stanzaHooks = new HookBus<StanzaEvent>();
  private readonly events = new HookBus<unknown>();
  readonly serverFeatures = new Set<string>();
  readonly accountFeatures = new Set<string>();
  readonly identities: Identity[] = [];
  readonly accountIdentities: Identity[] = [];
  readonly modules: string[] = [];
  private readonly streamIqs = new Map<string, StreamIqHandler>();
  private readonly nonzas = new Map<string, NonzaHandler>();
  private readonly broadcasts = new Map<string, BroadcastHandler>();
  /** Synchronous handlers of events that must be decided on the spot (the hibernation veto). */
  private readonly syncHandlers = new Map<
    string,
    Array<{ handler: (payload: unknown) => unknown; priority: number }>
  >();
  private readonly features: Record<StreamStage, StreamFeatureProvider[]> = {
    'pre-auth': [],
    'pre-bind': [],
    bound: [],
  };

  constructor(private readonly log: Logger) {}

  /** Sets up modules in dependency order. */
  async load(modules: readonly AnyModule[], setup: (module: AnyModule) => Promise<void>): Promise<void> {
    for (const module of orderModules(modules)) {
      this.modules.push(module.name);
      await setup(module);
    }
  }

  hook(event: string, handler: HookHandler<StanzaEvent>, priority?: number): void {
    this.stanzaHooks.on(event, handler, priority);
  }

  iq(eventName: string, handler: HookHandler<StanzaEvent>): void {
    if (this.stanzaHooks.has(eventName)) throw new Error(`Two handlers for ${eventName}`);
    this.stanzaHooks.on(eventName, handler);
  }

  on<T>(
    event: EventName<T>,
    handler: (payload: T) => HookResult | Promise<HookResult>,
    priority?: number,
  ): void {
    this.events.on(event.name, handler as HookHandler<unknown>, priority);
    let list = this.syncHandlers.get(event.name);
    if (!list) {
      list = [];
      this.syncHandlers.set(event.name, list);
    }
    list.push({ handler: handler as (payload: unknown) => unknown, priority: priority ?? 0 });
    list.sort((a, b) => b.priority - a.priority);
  }

  fire<T>(event: EventName<T>, payload: T): Promise<boolean> {
    return this.events.fire(event.name, payload);
  }

  /**
   * Asks an event's handlers synchronously whether any of them takes the event (returns true).
   * Handlers returning a promise are not waited for and count as declining.
   */
  ask<T>(event: EventName<T>, payload: T): boolean {
    for (const { handler } of this.syncHandlers.get(event.name) ?? []) {
      if (handler(payload) === true) return true;
    }
    return false;
  }

  streamIq(
    stage: 'pre-auth' | 'pre-bind',
    type: 'get' | 'set',
    xmlns: string,
    name: string,
    handler: StreamIqHandler,
  ): void {
    const key = `${stage}/${type}/${xmlns}:${name}`;
    if (this.streamIqs.has(key)) throw new Error(`Two handlers for ${key}`);
    this.streamIqs.set(key, handler);
  }

  nonza(stage: StreamStage, xmlns: string, name: string, handler: NonzaHandler): void {
    const key = `${stage}/${xmlns}:${name}`;
    if (this.nonzas.has(key)) throw new Error(`Two handlers for <${name} xmlns="${xmlns}"/> at ${stage}`);
    this.nonzas.set(key, handler);
  }

  streamFeature(stage: StreamStage, provider: StreamFeatureProvider): void {
    this.features[stage].push(provider);
  }

  onBroadcast(key: string, handler: BroadcastHandler): void {
    if (this.broadcasts.has(key)) throw new Error(`Two handlers for the cluster message ${key}`);
    this.broadcasts.set(key, handler);
  }

  async handleBroadcast(key: string, data: unknown, fromNode: string): Promise<void> {
    const handler = this.broadcasts.get(key);
    if (!handler) return;
    try {
      await handler(data, fromNode);
    } catch (err) {
      this.log.error({ err, message: key }, 'cluster message handling failed');
    }
  }

  streamFeatures(stage: StreamStage, session: ClientSession): Element[] {
    const result: Element[] = [];
    for (const provider of this.features[stage]) {
      const feature = provider(session);
      if (feature) result.push(feature);
    }
    return result;
  }

  /** Answers an IQ sent on a stream that is not bound yet; false when no module takes it. */
  async handleStreamIq(
    stage: 'pre-auth' | 'pre-bind',
    session: ClientSession,
    stanza: Element,
  ): Promise<boolean> {
    const type = stanza.attrs.type;
    if (type !== 'get' && type !== 'set') return false;
    const payload = stanza.firstElement();
    const ns = payload?.getNS();
    if (!payload || !ns) return false;
    const handler = this.streamIqs.get(`${stage}/${type}/${ns}:${payload.localName}`);
    if (!handler) return false;
    // Replies before binding carry no addresses (the client has no JID yet) and never echo the
    // request: it may hold a password (XEP-0077 §3.3).
    const { from: _from, to: _to, ...attrs } = stanza.attrs;
    const request = new Element('iq', attrs);
    try {
      const result = await handler({ stanza, payload, session });
      session.send(iqResult(request, result ?? undefined));
    } catch (err) {
      const error = err instanceof StanzaError ? err : this.internalError(err);
      const reply = errorReply(request, error);
      if (reply) session.send(reply);
    }
    return true;
  }

  /** Hands a nonza to the module that takes it at this stage; false when none does. */
  async handleNonza(stage: StreamStage, session: ClientSession, element: Element): Promise<boolean> {
    const ns = element.getNS();
    const handler =
      this.nonzas.get(`${stage}/${ns}:${element.localName}`) ?? this.nonzas.get(`${stage}/${ns}:*`);
    if (!handler) return false;
    await handler({ element, session });
    return true;
  }

  internalError(err: unknown): StanzaError {
    this.log.error({ err }, 'handler failed');
    return new StanzaError('internal-server-error');
  }
}
