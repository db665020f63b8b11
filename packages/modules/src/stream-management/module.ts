import { randomBytes } from 'node:crypto';
import {
  type AnyModule,
  type ClientSession,
  CoreEvents,
  defineEvent,
  defineModule,
  type ModuleContext,
  NS,
  StanzaError,
  type StanzaErrorCondition,
  StreamError,
  setting,
} from '@strom/core';
import { type Element, parseElement, serialize, xml } from '@strom/xml';
import { increment, parseCounter } from './counter.js';
import { UnackedQueue } from './queue.js';
import { delayedCopy, fateOf, type Unacked } from './unacked.js';

export const NS_SM = 'urn:xmpp:sm:3';

/**
 * Stanzas the server lets wait unacknowledged before it asks for an ack with `<r/>` (and as many
 * more before it asks again without an answer): the "every 5 stanzas" of XEP-0198 §8.2, and what
 * Prosody and ejabberd do by default.
 */
export const ACK_REQUEST_THRESHOLD = 5;

/**
 * Fired once a hibernating (or still connected) session was resumed on a new connection, after the
 * unacknowledged stanzas went out again. Client state indication listens: a resumed stream is
 * active again (XEP-0352 §5.2).
 */
export const streamResumed = defineEvent<{ session: ClientSession }>('stream-management/resumed');

/** Key of the per-session state in `session.data`. */
const KEY = 'stream-management';

interface SmState {
  readonly session: ClientSession;
  readonly queue: UnackedQueue<Unacked>;
  /** Stanzas handled from the client: the `h` the server reports. */
  handled: number;
  /** The SM-ID, when the session may be resumed. */
  readonly id: string | undefined;
  /** Seconds the session is kept after its connection is lost. */
  readonly keepSeconds: number;
  expiry: NodeJS.Timeout | undefined;
  /** Ending because its queue overflowed: it is not kept for resumption. */
  overflowing: boolean;
}

function stateOf(session: ClientSession): SmState | undefined {
  return session.data.get(KEY) as SmState | undefined;
}

/**
 * XEP-0198 stream management: stanza acknowledgements in both directions and stream resumption.
 *
 * Counting and the unacknowledged queue are session filters, installed at `<enable/>`: the inbound
 * one counts what the client sent, the outbound one counts and keeps a copy of what is written to
 * it. Filters run in the order they were added, so a filter added earlier that holds stanzas back
 * (client state indication, added when the resource is bound) runs first, and only what really goes
 * out is counted. A resumable session whose connection is lost hibernates (the `session-ending`
 * veto) until it is resumed on a new stream of the same account or its time runs out.
 *
 * Whenever a session ends for good with stanzas unacknowledged, after it left the session directory
 * (`session-closed`), its messages are routed again to the account (another resource, or offline
 * storage), IQ requests are answered with an error and presence is dropped.
 *
 * The state lives in memory on the node holding the session: a `<resume/>` that reaches another
 * node of a cluster fails with `item-not-found`, and the client binds a new resource there.
 */
export const streamManagementModule: AnyModule = defineModule({
  name: 'stream-management',
  settings: {
    resumeSeconds: setting.int(
      'SM_RESUME_TIMEOUT',
      300,
      0,
      3600,
      'seconds a session whose connection was lost waits to be resumed (XEP-0198); 0 turns resumption off',
    ),
    maxHibernated: setting.int(
      'SM_MAX_HIBERNATED',
      5,
      0,
      100,
      'sessions one account may have waiting for resumption; a new one ends the one that waited longest',
    ),
    maxQueue: setting.int(
      'SM_MAX_QUEUE',
      500,
      5,
      100_000,
      'unacknowledged stanzas kept per session; beyond it the session ends and its messages are re-routed',
    ),
  },
  setup(ctx, { resumeSeconds, maxHibernated, maxQueue }) {
    /** Resumable sessions by SM-ID, while they may be resumed. */
    const resumable = new Map<string, SmState>();
    /** Hibernating sessions by account, oldest first. */
    const hibernating = new Map<string, Set<SmState>>();

    // XEP-0198 §3: offered once the client has authenticated (the features after the SASL
    // restart), where it can resume; enabling waits until a resource is bound.
    ctx.streamFeature('pre-bind', () => xml('sm', { xmlns: NS_SM }));

    ctx.nonza('pre-auth', NS_SM, 'enable', ({ session }) => refuse(session, 'unexpected-request'));
    ctx.nonza('pre-auth', NS_SM, 'resume', ({ session }) => refuse(session, 'not-authorized'));
    ctx.nonza('pre-bind', NS_SM, 'enable', ({ session }) => refuse(session, 'unexpected-request'));
    ctx.nonza('bound', NS_SM, 'resume', ({ session }) => refuse(session, 'unexpected-request'));

    ctx.nonza('bound', NS_SM, 'enable', ({ session, element }) => {
      // §3: one attempt per stream; a resumed session was enabled before.
      if (stateOf(session)) {
        refuse(session, 'unexpected-request');
        return;
      }
      // Resumption needs a connection that can be moved to another session (Transport.attach).
      const mayResume =
        isTrue(element.attrs.resume) &&
        resumeSeconds > 0 &&
        maxHibernated > 0 &&
        session.transport.attach !== undefined;
      const wanted = positiveInt(element.attrs.max);
      const keepSeconds = Math.min(wanted ?? resumeSeconds, resumeSeconds);
      const state: SmState = {
        session,
        queue: new UnackedQueue<Unacked>(),
        handled: 0,
        id: mayResume ? randomBytes(18).toString('base64url') : undefined,
        keepSeconds,
        expiry: undefined,
        overflowing: false,
      };
      session.data.set(KEY, state);
      if (state.id !== undefined) resumable.set(state.id, state);
      // Both counters start now (§4): nothing can be written between these lines and <enabled/>.
      session.addFilter('in', (stanza) => {
        state.handled = increment(state.handled);
        return stanza;
      });
      session.addFilter('out', (out) => {
        track(state, { text: out.text, element: out.element, at: Date.now() });
        return out;
      });
      session.sendNonza(
        xml(
          'enabled',
          state.id === undefined
            ? { xmlns: NS_SM }
            : { xmlns: NS_SM, id: state.id, resume: 'true', max: String(keepSeconds) },
        ),
      );
    });

    ctx.nonza('bound', NS_SM, 'r', ({ session }) => {
      const state = enabledOn(session);
      if (state) session.sendNonza(xml('a', { xmlns: NS_SM, h: String(state.handled) }));
    });

    ctx.nonza('bound', NS_SM, 'a', ({ session, element }) => {
      const state = enabledOn(session);
      if (!state) return;
      const h = parseCounter(element.attrs.h);
      if (h === undefined) {
        session.fail(new StreamError('bad-format', 'h must be an unsigned 32-bit integer'));
        return;
      }
      const result = state.queue.ack(h);
      if (!result.ok) session.fail(new HandledCountTooHigh(result.h, result.sendCount));
    });

    ctx.nonza('pre-bind', NS_SM, 'resume', ({ session: incoming, element }) => {
      if (incoming.state !== 'authenticated') {
        refuse(incoming, 'unexpected-request');
        return;
      }
      // §5: a server that does not resume says so.
      if (resumeSeconds === 0 || maxHibernated === 0) {
        refuse(incoming, 'feature-not-implemented');
        return;
      }
      const h = parseCounter(element.attrs.h);
      const previd = element.attrs.previd;
      if (h === undefined || !previd) {
        refuse(incoming, 'bad-request');
        return;
      }
      const state = resumable.get(previd);
      const old = state?.session;
      // Another account's session looks exactly like one that never existed or has expired.
      if (
        state === undefined ||
        old === undefined ||
        old.username !== incoming.username ||
        (old.state !== 'hibernating' && old.state !== 'active')
      ) {
        refuse(incoming, 'item-not-found');
        return;
      }
      // §5: h is handled as an <a/> would be, before anything is sent again.
      const result = state.queue.ack(h);
      if (!result.ok) {
        incoming.fail(new HandledCountTooHigh(result.h, result.sendCount));
        return;
      }
      wake(state);
      if (old.state === 'active') replaceLiveConnection(old, incoming);
      incoming.handOver(old);
      old.sendNonza(xml('resumed', { xmlns: NS_SM, previd, h: String(state.handled) }));
      resend(state);
      void ctx.fire(streamResumed, { session: old }).catch((err: unknown) => {
        ctx.log.error({ error: errorName(err) }, 'stream resumption listeners failed');
      });
    });

    // A resumable session that loses its connection waits (hibernates) instead of ending.
    ctx.on(CoreEvents.sessionEnding, ({ session, reason }) => {
      if (reason.kind !== 'transport-lost') return false;
      const state = stateOf(session);
      if (state?.id === undefined || state.overflowing) return false;
      const username = session.username!;
      let waiting = hibernating.get(username);
      if (!waiting) {
        waiting = new Set();
        hibernating.set(username, waiting);
      }
      // The account's cap: the session that has waited longest gives way.
      for (const oldest of waiting) {
        if (waiting.size < maxHibernated) break;
        waiting.delete(oldest);
        oldest.session.terminate();
      }
      waiting.add(state);
      state.expiry = setTimeout(() => session.terminate(), state.keepSeconds * 1000);
      state.expiry.unref();
      return true;
    });

    // Every end of a session that had stream management: expiry, shutdown, close, errors, conflict.
    // The session is out of the directory by now, so routing does not come back to it. Ahead of the
    // other listeners, so none that fails can keep the messages from being routed again.
    ctx.on(
      CoreEvents.sessionClosed,
      async ({ session }) => {
        const state = stateOf(session);
        if (!state) return;
        wake(state);
        if (state.id !== undefined && resumable.get(state.id) === state) resumable.delete(state.id);
        const unacked = state.queue.drain();
        if (unacked.length > 0) await reroute(ctx, session, unacked);
      },
      10,
    );

    /** The session no longer waits for resumption (resumed, or gone). */
    function wake(state: SmState): void {
      clearTimeout(state.expiry);
      state.expiry = undefined;
      const username = state.session.username!;
      const waiting = hibernating.get(username);
      if (waiting?.delete(state) && waiting.size === 0) hibernating.delete(username);
    }

    /** Counts and keeps a stanza going to the client; asks for an ack or ends the session as needed. */
    function track(state: SmState, sent: Unacked): void {
      const { queue, session } = state;
      queue.push(sent);
      if (queue.length > maxQueue) {
        overflow(state);
        return;
      }
      if (session.state === 'active' && queue.wantsAck(ACK_REQUEST_THRESHOLD)) {
        queue.requested();
        // After this turn's writes, so the request follows the stanza that triggered it.
        queueMicrotask(() => {
          if (session.state === 'active') session.sendNonza(xml('r', { xmlns: NS_SM }));
        });
      }
    }

    /**
     * Too much waits unacknowledged: the session ends (a hibernating one is terminated) and its
     * stanzas, this one included, take the unacknowledged route. Deferred, since this runs inside a
     * delivery.
     */
    function overflow(state: SmState): void {
      if (state.overflowing) return;
      state.overflowing = true;
      queueMicrotask(() => {
        const { session } = state;
        if (session.state === 'hibernating') session.terminate();
        else session.fail(new StreamError('resource-constraint', 'Too many unacknowledged stanzas'));
      });
    }

    /**
     * Sends the unacknowledged stanzas again on the resumed stream, messages with a `<delay/>`. They
     * passed the session's filters when first sent, so they go straight to the connection and are
     * only counted again (from the client's `h`).
     */
    function resend(state: SmState): void {
      const { session } = state;
      for (const item of state.queue.takeForResend()) {
        const again = isMessage(item) ? delayed(item, ctx.domain) : item;
        track(state, again);
        session.transport.send(again.text);
      }
    }
  },
});

/** A `<failed/>` answer to `<enable/>` or `<resume/>` (XEP-0198 §6): never a stream error. */
function refuse(session: ClientSession, condition: StanzaErrorCondition): void {
  session.sendNonza(xml('failed', { xmlns: NS_SM }, xml(condition, { xmlns: NS.stanzas })));
}

/** The state of a session that enabled stream management; otherwise `<r/>` and `<a/>` end the stream. */
function enabledOn(session: ClientSession): SmState | undefined {
  const state = stateOf(session);
  if (!state) session.fail(new StreamError('unsupported-stanza-type', 'Stream management is not enabled'));
  return state;
}

/**
 * The session being resumed still has a connection (the server has not noticed it is dead): §5
 * wants a `conflict` stream error on it. Its frames and its close, still to come, are pointed at
 * the incoming stream, which the hand-over closes, so they cannot end the resumed session.
 */
function replaceLiveConnection(old: ClientSession, incoming: ClientSession): void {
  const previous = old.transport;
  previous.attach?.(incoming);
  previous.send(serialize(new StreamError('conflict', 'Replaced by a resumed stream').toElement()));
  previous.send(serialize(xml('close', { xmlns: NS.framing })));
}

/** XEP-0198 §6: an `h` above the number of stanzas sent ends the stream, saying both numbers. */
export class HandledCountTooHigh extends StreamError {
  constructor(
    readonly h: number,
    readonly sendCount: number,
  ) {
    super('undefined-condition', `You acknowledged ${h} stanzas, but I only sent you ${sendCount} so far.`);
  }

  override toElement(): Element {
    // RFC 6120 §4.9.4: the application-specific condition comes last.
    return super.toElement().append(
      xml('handled-count-too-high', {
        xmlns: NS_SM,
        h: String(this.h),
        'send-count': String(this.sendCount),
      }),
    );
  }
}

/** Routes what a gone session never acknowledged, as RFC 6121 treats stanzas for an unavailable resource. */
async function reroute(ctx: ModuleContext, session: ClientSession, unacked: Unacked[]): Promise<void> {
  const self = session.jid!.toString();
  for (const item of unacked) {
    try {
      const stanza = item.element ?? parseElement(item.text);
      switch (fateOf(stanza)) {
        case 'reroute': {
          if (stanza.attrs.from === undefined) break;
          // To the resource that is gone: the router falls back to the account's bare-JID rules.
          const copy = delayedCopy(stanza, ctx.domain, item.at);
          copy.attrs.to ??= self;
          await ctx.route(copy);
          break;
        }
        case 'bounce':
          await ctx.bounce(stanza, new StanzaError('service-unavailable', 'The recipient went offline'));
          break;
        case 'drop':
          break;
      }
    } catch (err) {
      ctx.log.error({ error: errorName(err) }, 'an unacknowledged stanza could not be routed again');
    }
  }
}

function isMessage(item: Unacked): boolean {
  return item.element ? item.element.localName === 'message' : item.text.startsWith('<message');
}

/** The item as a message with a `<delay/>`, rendered for the client stream. */
function delayed(item: Unacked, domain: string): Unacked {
  const copy = delayedCopy(item.element ?? parseElement(item.text), domain, item.at);
  const { xmlns: _neutral, ...attrs } = copy.attrs;
  copy.attrs = { xmlns: NS.client, ...attrs };
  return { text: serialize(copy), element: copy, at: item.at };
}

function isTrue(value: string | undefined): boolean {
  return value === 'true' || value === '1';
}

function positiveInt(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,9}$/.test(value.trim())) return undefined;
  const parsed = Number(value.trim());
  return parsed > 0 ? parsed : undefined;
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}
