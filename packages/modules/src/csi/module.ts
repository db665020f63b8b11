import {
  type AnyModule,
  type ClientSession,
  CoreEvents,
  defineModule,
  type Outbound,
  setting,
} from '@strom/core';
import { xml } from '@strom/xml';
import { streamResumed } from '../stream-management/module.js';
import { bareOf, HeldStanzas, holdKey } from './rules.js';

export const NS_CSI = 'urn:xmpp:csi:0';

/** Key of the per-session state in `session.data`. */
const KEY = 'csi';

interface CsiState {
  inactive: boolean;
  /** Set while held stanzas are being let out, so the filter passes them. */
  flushing: boolean;
  readonly held: HeldStanzas<Outbound>;
}

/**
 * XEP-0352 client state indication. While a client says it is `<inactive/>`, presence updates and
 * chat-state-only messages wait (only the latest per sender full JID), and everything else —
 * messages with a body, IQs, subscription requests — goes at once; `<active/>` lets what waited out
 * in the order it arrived. The rules are in `rules.ts`.
 *
 * Ordering: before a stanza that goes at once, whatever its sender (bare JID) has waiting goes
 * first, so a message never overtakes an older presence or chat state from the same contact (the
 * "composing" held from before a message would otherwise arrive after it). Stanzas from different
 * senders may be reordered: that is the point of holding them.
 *
 * The filter is added when the resource is bound, before stream management can be enabled, and
 * filters run in the order they were added: stream management counts and keeps only what this
 * filter lets through, at the moment it really goes out. A session that is resumed is active again
 * (XEP-0352 §5.2); one that ends drops what waited (presence is sent afresh, chat states are stale).
 */
export const csiModule: AnyModule = defineModule({
  name: 'csi',
  settings: {
    maxHeld: setting.int(
      'CSI_MAX_HELD',
      1000,
      10,
      100_000,
      'stanzas held back for an inactive client (XEP-0352); beyond it they are all let out',
    ),
  },
  setup(ctx, { maxHeld }) {
    // XEP-0352 §3.1: in the stream features after authentication; the nonzas count once bound.
    ctx.streamFeature('pre-bind', () => xml('csi', { xmlns: NS_CSI }));

    ctx.on(CoreEvents.sessionBound, ({ session }) => {
      const state: CsiState = { inactive: false, flushing: false, held: new HeldStanzas() };
      session.data.set(KEY, state);
      session.addFilter('out', (out) => {
        if (state.flushing || out.element === undefined) return out;
        if (state.inactive) {
          const key = holdKey(out.element, session.jid!.toString());
          const sender = bareOf(out.element.attrs.from);
          if (key !== undefined) {
            state.held.hold(key, sender, out);
            if (state.held.size > maxHeld) release(session, state, state.held.takeAll());
            return undefined;
          }
          // Goes now, after what its sender had waiting.
          release(session, state, state.held.takeFrom(sender));
        }
        return out;
      });
    });

    ctx.nonza('bound', NS_CSI, 'inactive', ({ session }) => {
      const state = session.data.get(KEY) as CsiState | undefined;
      if (state) state.inactive = true;
    });

    // Synchronous, so everything held is out before the next frame from the client is processed
    // (§5.1, in-order processing).
    ctx.nonza('bound', NS_CSI, 'active', ({ session }) => activate(session));

    ctx.on(streamResumed, ({ session }) => activate(session));
  },
});

function activate(session: ClientSession): void {
  const state = session.data.get(KEY) as CsiState | undefined;
  if (!state?.inactive) return;
  state.inactive = false;
  release(session, state, state.held.takeAll());
}

/** Sends held stanzas through the session's filters (this one passes them; the ones after see them). */
function release(session: ClientSession, state: CsiState, stanzas: Outbound[]): void {
  if (stanzas.length === 0) return;
  state.flushing = true;
  try {
    for (const out of stanzas) session.sendSerialized(out.text, out.element);
  } finally {
    state.flushing = false;
  }
}
