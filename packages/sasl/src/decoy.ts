import { randomBytes } from 'node:crypto';
import { DEFAULT_ITERATIONS, DEFAULT_SALT_BYTES, type StoredCredentials } from './credentials.js';
import { hmac } from './scram-crypto.js';

// Generated once per process: decoy salts stay stable while the process lives (as a real user's
// salt would) but cannot be computed from outside.
const secret = randomBytes(32);

function derive(label: string, username: string, length: number): string {
  return hmac('SHA-256', secret, `${label}\0${username}`).subarray(0, length).toString('base64');
}

/**
 * Credentials standing in for an unknown user, so the exchange looks and costs the same as for a
 * real one and only fails at the proof. The keys match no password anyone can know.
 */
export function decoyCredentials(username: string): StoredCredentials {
  return {
    salt: derive('salt', username, DEFAULT_SALT_BYTES),
    iterations: DEFAULT_ITERATIONS,
    'SHA-1': {
      storedKey: derive('sha1-stored', username, 20),
      serverKey: derive('sha1-server', username, 20),
    },
    'SHA-256': {
      storedKey: derive('sha256-stored', username, 32),
      serverKey: derive('sha256-server', username, 32),
    },
  };
}
