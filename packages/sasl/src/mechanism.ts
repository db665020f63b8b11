import type { StoredCredentials } from './credentials.js';
import { SaslError } from './errors.js';

/** Looks up a user's credentials; returns undefined for unknown users. */
export type CredentialLookup = (username: string) => Promise<StoredCredentials | undefined>;

export type SaslStep =
  /** Send `<challenge/>` with this data. */
  | { type: 'challenge'; data: Buffer }
  /**
   * Send `<success/>`, with `data` as additional data when present (SCRAM's server-final-message).
   * `username` is exactly what the client sent; normalizing it is the caller's business, and so is
   * checking `authzid` (present only when the client sent a non-empty one).
   */
  | { type: 'success'; username: string; authzid?: string; data?: Buffer };

/** One authentication exchange. `step` throws SaslError on failure; the exchange is over after that. */
export interface SaslMechanism {
  readonly name: string;
  step(input: Buffer): Promise<SaslStep>;
}

/** Storage failures become 'temporary-auth-failure' so the client may retry later. */
export async function lookupCredentials(
  lookup: CredentialLookup,
  username: string,
): Promise<StoredCredentials | undefined> {
  try {
    return await lookup(username);
  } catch (cause) {
    throw new SaslError('temporary-auth-failure', 'credential lookup failed', { cause });
  }
}
