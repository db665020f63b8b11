import type { ClientSession } from './session.js';

/**
 * Where a stanza entered this server. Trust follows from it: only `internal` stanzas were written by
 * the server itself; a `client` stanza's `from` is its session's JID, stamped by the core; a
 * `server` stanza comes from another domain and is trusted only for that domain.
 */
export type Origin =
  | { readonly kind: 'client'; readonly session: ClientSession }
  | { readonly kind: 'server'; readonly domain: string }
  | { readonly kind: 'component'; readonly host: string }
  | { readonly kind: 'internal' };

/** Stanzas the server or a module generated. */
export const INTERNAL: Origin = Object.freeze({ kind: 'internal' });

export function clientOrigin(session: ClientSession): Origin {
  return { kind: 'client', session };
}

/** The local client session a stanza came from, if it came from one. */
export function sessionOf(origin: Origin): ClientSession | undefined {
  return origin.kind === 'client' ? origin.session : undefined;
}

/** Whether the server itself wrote the stanza (and so its addresses and payload are to be believed). */
export function isInternal(origin: Origin): boolean {
  return origin.kind === 'internal';
}
