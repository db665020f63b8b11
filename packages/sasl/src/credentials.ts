import { randomBytes } from 'node:crypto';
import { SaslError } from './errors.js';
import { saslprep } from './saslprep.js';
import {
  clientKeyOf,
  constantTimeEqual,
  digest,
  type ScramHash,
  type ScramKeys,
  saltedPassword,
  serverKeyOf,
} from './scram-crypto.js';

/** What storage keeps per user: enough to verify SCRAM and PLAIN logins, never the password. */
export interface StoredCredentials {
  /** Base64. Stable per user, because clients such as Converse cache keys derived from it. */
  salt: string;
  iterations: number;
  'SHA-1': ScramKeys;
  'SHA-256': ScramKeys;
}

export const DEFAULT_ITERATIONS = 4096;
export const DEFAULT_SALT_BYTES = 16;

function checkIterations(iterations: number): void {
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new RangeError(`iteration count must be a positive integer, got ${iterations}`);
  }
}

async function scramKeys(hash: ScramHash, normalized: string, salt: Buffer, iterations: number) {
  const salted = await saltedPassword(hash, normalized, salt, iterations);
  return {
    storedKey: digest(hash, clientKeyOf(hash, salted)).toString('base64'),
    serverKey: serverKeyOf(hash, salted).toString('base64'),
  };
}

/** Derives the stored SCRAM keys for a new or changed password. */
export async function deriveCredentials(
  password: string,
  opts: { salt?: Buffer; iterations?: number } = {},
): Promise<StoredCredentials> {
  const normalized = saslprep(password);
  if (normalized === '') throw new SaslError('malformed-request', 'password is empty');
  const salt = opts.salt ?? randomBytes(DEFAULT_SALT_BYTES);
  const iterations = opts.iterations ?? DEFAULT_ITERATIONS;
  checkIterations(iterations);
  const [sha1, sha256] = await Promise.all([
    scramKeys('SHA-1', normalized, salt, iterations),
    scramKeys('SHA-256', normalized, salt, iterations),
  ]);
  return { salt: salt.toString('base64'), iterations, 'SHA-1': sha1, 'SHA-256': sha256 };
}

/**
 * Checks a clear-text password (PLAIN) against stored credentials by re-deriving the SHA-256
 * StoredKey. A password SASLprep rejects cannot have been stored, so it simply does not match.
 */
export async function verifyPassword(creds: StoredCredentials, password: string): Promise<boolean> {
  let normalized: string;
  try {
    normalized = saslprep(password);
  } catch {
    return false;
  }
  if (normalized === '') return false;
  checkIterations(creds.iterations);
  const salted = await saltedPassword(
    'SHA-256',
    normalized,
    Buffer.from(creds.salt, 'base64'),
    creds.iterations,
  );
  const storedKey = digest('SHA-256', clientKeyOf('SHA-256', salted));
  return constantTimeEqual(storedKey, Buffer.from(creds['SHA-256'].storedKey, 'base64'));
}
