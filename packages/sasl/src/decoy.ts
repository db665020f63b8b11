import { randomBytes } from 'node:crypto';
import { DEFAULT_ITERATIONS, DEFAULT_SALT_BYTES, type StoredCredentials } from './credentials.js';
import { hmac } from './scram-crypto.js';

// Used when the caller has no secret of its own (tools, tests): decoys then stay stable while the
// process lives. A server with several nodes must pass one secret shared by all of them, or an
// unknown name's salt would differ between nodes while a real account's does not.
const processSecret = randomBytes(32);

function derive(secret: Buffer, label: string, username: string, length: number): string {
  return hmac('SHA-256', secret, `${label}\0${username}`).subarray(0, length).toString('base64');
}

/**
 * Credentials standing in for an unknown user, so the exchange looks and costs the same as for a
 * real one and only fails at the proof. The keys match no password anyone can know; the salt is
 * stable for a name (as a real user's is) and cannot be computed without `secret`.
 */
export function decoyCredentials(username: string, secret: Buffer = processSecret): StoredCredentials {
  return {
    salt: derive(secret, 'salt', username, DEFAULT_SALT_BYTES),
    iterations: DEFAULT_ITERATIONS,
    'SHA-1': {
      storedKey: derive(secret, 'sha1-stored', username, 20),
      serverKey: derive(secret, 'sha1-server', username, 20),
    },
    'SHA-256': {
      storedKey: derive(secret, 'sha256-stored', username, 32),
      serverKey: derive(secret, 'sha256-server', username, 32),
    },
  };
}
