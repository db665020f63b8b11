import type { SessionEntry } from '@strom/cluster';
import type { JID } from '@strom/jid';
import type { Element } from '@strom/xml';
import type { Origin } from './origin.js';
import type { ClientSession, CloseReason } from './session.js';

export type StanzaKind = 'message' | 'presence' | 'iq';

/**
 * How a stanza is addressed, as seen by the server that handles it:
 * `host` — the server itself; `self` — the sender's own account (no `to`, or its own bare JID);
 * `bare` — another account; `full` — a specific resource.
 */
export type Addressing = 'host' | 'self' | 'bare' | 'full';

export interface StanzaEvent {
  readonly stanza: Element;
  readonly kind: StanzaKind;
  /** The stanza's type with RFC defaults applied (message: normal, presence: available). */
  readonly type: string;
  readonly from: JID;
  /** The addressee; for a stanza without `to` from a client, the sender's bare JID. */
  readonly to: JID;
  readonly addressing: Addressing;
  /** True when `to` is on a domain this server does not host. */
  readonly remote: boolean;
  /** Where the stanza entered the server. */
  readonly origin: Origin;
  /** The local client session that sent it, when it came from a client of this node. */
  readonly session: ClientSession | undefined;
}

export interface IqEvent extends StanzaEvent {
  readonly payload: Element;
}

/**
 * A typed event name. Modules export the events they fire (`export const initialPresence =
 * defineEvent<{ session: ClientSession }>('presence/initial')`) and others listen to them through
 * their context, so no module reaches into another.
 */
export interface EventName<T> {
  readonly name: string;
  /** Never set: carries the payload type. */
  readonly __payload?: T;
}

export function defineEvent<T>(name: string): EventName<T> {
  return Object.freeze({ name });
}

/** Events the core itself fires. */
export const CoreEvents = {
  /** A resource was bound; the session can now send and receive stanzas. */
  sessionBound: defineEvent<{ session: ClientSession }>('session-bound'),
  /**
   * A bound session is about to end because of `reason`. A handler returning true keeps it
   * (hibernating: no transport, still in the directory) until it is resumed or terminated.
   * Handlers run synchronously, in priority order.
   */
  sessionEnding: defineEvent<{ session: ClientSession; reason: CloseReason }>('session-ending'),
  /** A bound session ended, for any reason; it is already gone from the session directory. */
  sessionClosed: defineEvent<{ session: ClientSession; reason: CloseReason }>('session-closed'),
  /** Another node died; its sessions are already gone from the directory. Fired on one surviving node. */
  nodeDown: defineEvent<{ node: string; sessions: SessionEntry[] }>('node-down'),
  /** The node is stopping: modules stop their timers (storage is still open). */
  stopping: defineEvent<Record<string, never>>('stopping'),
  /** An account is being deleted; modules notify contacts and drop in-memory state. */
  accountDeleted: defineEvent<{ username: string; jid: JID }>('account-deleted'),
} as const;
