import { JID } from '@strom/jid';
import type { Element } from '@strom/xml';
import { errorReply, StanzaError } from './errors.js';
import type { Addressing, StanzaEvent, StanzaKind } from './events.js';
import type { HostTable } from './hosts.js';
import type { Logger } from './logger.js';
import { clientOrigin, INTERNAL, type Origin, sessionOf } from './origin.js';
import { iqEventName, type ModuleRegistry } from './registry.js';
import type { ClientSession } from './session.js';

/** What the router delivers through: the node's sessions and the cluster, and pending server IQs. */
export interface RouterLinks {
  readonly hosts: HostTable;
  readonly registry: ModuleRegistry;
  readonly log: Logger;
  deliverFull(stanza: Element, to: JID): Promise<boolean>;
  settleIq(response: Element): void;
}

const IQ_TYPES = new Set(['get', 'set', 'result', 'error']);
const MESSAGE_TYPES = new Set(['normal', 'chat', 'groupchat', 'headline', 'error']);
const PRESENCE_TYPES = new Set([
  'available',
  'unavailable',
  'subscribe',
  'subscribed',
  'unsubscribe',
  'unsubscribed',
  'probe',
  'error',
]);

/**
 * Every stanza passes through here: from a local client (`fromClient`: stamped, checked, outbound
 * hooks), then to its destination (`route`: inbound hooks, then the RFC 6121 default rules).
 * Delivery to a resource goes through the session directory and the cluster bus, so modules never
 * need to know on which node a session lives.
 */
export class Router {
  constructor(private readonly links: RouterLinks) {}

  /** A stanza sent by a bound local client. */
  async fromClient(session: ClientSession, stanza: Element): Promise<void> {
    const origin = clientOrigin(session);
    const kind = stanza.localName as StanzaKind;
    const sender = session.jid!;
    // The sender's address is always the session's own: clients may write anything (or a stale resource).
    stanza.attrs.from = sender.toString();

    const rawType = stanza.attrs.type;
    if (kind === 'iq') {
      if (rawType === undefined || !IQ_TYPES.has(rawType) || stanza.attrs.id === undefined) {
        return this.bounce(stanza, new StanzaError('bad-request', 'IQ needs a valid type and an id'), origin);
      }
      if ((rawType === 'get' || rawType === 'set') && stanza.elements().length !== 1) {
        return this.bounce(
          stanza,
          new StanzaError('bad-request', 'IQ get/set needs exactly one payload'),
          origin,
        );
      }
    } else if (rawType !== undefined && !(kind === 'message' ? MESSAGE_TYPES : PRESENCE_TYPES).has(rawType)) {
      return this.bounce(stanza, new StanzaError('bad-request', `Unknown ${kind} type`), origin);
    }

    let to: JID;
    let addressing: Addressing;
    const rawTo = stanza.attrs.to;
    if (rawTo === undefined) {
      to = sender.bare();
      addressing = 'self';
    } else {
      const parsed = JID.tryParse(rawTo);
      if (parsed === undefined) {
        return this.bounce(stanza, new StanzaError('jid-malformed', 'Invalid address in "to"'), origin);
      }
      to = parsed;
      addressing = classify(to, sender);
    }
    const event = this.event(stanza, kind, to, addressing, sender, origin);
    if (await this.links.registry.stanzaHooks.fire(`pre-${kind}/${addressing}`, event)) return;
    await this.dispatch(event);
  }

  /**
   * Routes a stanza with `from` and `to` set: one the server or a module generated (by default), or
   * one from another origin after its edge has checked it.
   */
  async route(stanza: Element, origin: Origin = INTERNAL): Promise<void> {
    const from = JID.tryParse(stanza.attrs.from ?? '');
    const to = JID.tryParse(stanza.attrs.to ?? '');
    if (!from || !to) {
      this.links.log.warn({ stanza: stanza.localName }, 'internal stanza without valid addresses dropped');
      return;
    }
    const kind = stanza.localName as StanzaKind;
    const addressing = classify(to, from);
    await this.dispatch(this.event(stanza, kind, to, addressing, from, origin));
  }

  /** Replies to the sender of an event; a local origin gets it directly. */
  async reply(event: StanzaEvent, reply: Element): Promise<void> {
    if (event.session?.jid?.equals(event.from)) {
      event.session.send(reply);
      return;
    }
    await this.route(reply);
  }

  /** Answers a stanza with an error (never an error to an error). */
  async bounce(stanza: Element, error: StanzaError, origin: Origin = INTERNAL): Promise<void> {
    const reply = errorReply(stanza, error);
    if (!reply) return;
    if (reply.attrs.from === undefined) reply.attrs.from = this.links.hosts.main;
    const session = sessionOf(origin);
    if (session?.jid && reply.attrs.to === session.jid.toString()) session.send(reply);
    else if (reply.attrs.to !== undefined) await this.route(reply);
  }

  private event(
    stanza: Element,
    kind: StanzaKind,
    to: JID,
    addressing: Addressing,
    from: JID,
    origin: Origin,
  ): StanzaEvent {
    const raw = stanza.attrs.type;
    const type = raw ?? (kind === 'message' ? 'normal' : kind === 'presence' ? 'available' : '');
    return {
      stanza,
      kind,
      type,
      from,
      to,
      addressing,
      remote: !this.links.hosts.isLocal(to.domain),
      origin,
      session: sessionOf(origin),
    };
  }

  private async dispatch(event: StanzaEvent): Promise<void> {
    const { kind, addressing, stanza } = event;
    const hooks = this.links.registry.stanzaHooks;
    if (event.remote) {
      if (await hooks.fire('route/remote', event)) return;
      return this.bounce(stanza, new StanzaError('remote-server-not-found'), event.origin);
    }
    const component = this.links.hosts.component(event.to.domain);
    if (component) {
      await component(event);
      return;
    }
    if (await hooks.fire(`${kind}/${addressing}`, event)) return;
    if (addressing === 'self' && (await hooks.fire(`${kind}/bare`, event))) return;

    if (kind === 'iq') return this.defaultIq(event);
    if (kind === 'message') return this.defaultMessage(event);
    return this.defaultPresence(event);
  }

  private async defaultIq(event: StanzaEvent): Promise<void> {
    const { stanza, type, addressing } = event;
    const hooks = this.links.registry.stanzaHooks;
    if (type === 'get' || type === 'set') {
      if (addressing !== 'full') {
        const payload = stanza.firstElement()!;
        const ns = payload.getNS() ?? '';
        if (await hooks.fire(iqEventName(type, addressing, ns, payload.localName), event)) return;
        if (
          addressing === 'self' &&
          (await hooks.fire(iqEventName(type, 'bare', ns, payload.localName), event))
        ) {
          return;
        }
        return this.bounce(stanza, new StanzaError('service-unavailable'), event.origin);
      }
      if (await this.links.deliverFull(stanza, event.to)) return;
      return this.bounce(stanza, new StanzaError('service-unavailable'), event.origin);
    }
    // Responses: to a resource they are delivered; to the server they settle a pending request.
    if (addressing === 'full') {
      await this.links.deliverFull(stanza, event.to);
      return;
    }
    if (addressing === 'host') this.links.settleIq(stanza);
  }

  private async defaultMessage(event: StanzaEvent): Promise<void> {
    const { stanza, type, addressing } = event;
    if (addressing === 'full') {
      if (await this.links.deliverFull(stanza, event.to)) return;
      return this.undeliverable(stanza, event.to);
    }
    if (type === 'error' || type === 'headline') return;
    // Without a messaging module nothing can accept it; say so rather than drop it.
    return this.bounce(stanza, new StanzaError('service-unavailable'), event.origin);
  }

  private async defaultPresence(event: StanzaEvent): Promise<void> {
    if (event.addressing === 'full') await this.links.deliverFull(event.stanza, event.to);
    // Presence to an account or the server that no module handled is ignored (RFC 6121 §4.3, §8.5.2).
  }

  /**
   * A stanza for a resource that is not (or no longer) online — RFC 6121 §8.5.3.2: messages fall
   * back to the bare JID's rules, IQ requests are answered with an error, presence is ignored.
   */
  async undeliverable(stanza: Element, to: JID): Promise<void> {
    const kind = stanza.localName;
    const type = stanza.attrs.type;
    if (kind === 'iq') {
      if (type === 'get' || type === 'set') await this.bounce(stanza, new StanzaError('service-unavailable'));
      return;
    }
    if (kind !== 'message' || type === 'error') return;
    if (type === 'groupchat') return this.bounce(stanza, new StanzaError('service-unavailable'));
    if (type === 'headline') return;
    const from = JID.tryParse(stanza.attrs.from ?? '');
    if (!from) return;
    const event = this.event(stanza, 'message', to, 'bare', from, INTERNAL);
    if (await this.links.registry.stanzaHooks.fire('message/bare', event)) return;
    return this.bounce(stanza, new StanzaError('service-unavailable'));
  }
}

function classify(to: JID, from: JID): Addressing {
  if (to.local === '') return 'host';
  if (to.resource !== '') return 'full';
  return from.local === to.local && from.domain === to.domain ? 'self' : 'bare';
}
