import { createHash } from 'node:crypto';
import { clientKeyOf, type ScramHash, saltedPassword, serverKeyOf } from './scram-crypto.js';

export interface DerivedClientKeys {
  clientKey: Buffer;
  serverKey: Buffer;
}

const MAX_ENTRIES = 1024;

/**
 * PBKDF2 dominates a SCRAM login, and a load tool logs the same accounts in over and over.
 * Entries are keyed by a digest so the map never holds passwords; pending derivations are shared
 * so concurrent logins of one account derive once.
 */
const cache = new Map<string, Promise<DerivedClientKeys>>();

function cacheKey(hash: ScramHash, normalizedPassword: string, salt: Buffer, iterations: number): string {
  const h = createHash('sha256');
  for (const field of [hash, String(iterations), salt.toString('base64'), normalizedPassword]) {
    h.update(`${Buffer.byteLength(field)}:`).update(field);
  }
  return h.digest('base64');
}

export function derivedClientKeys(
  hash: ScramHash,
  normalizedPassword: string,
  salt: Buffer,
  iterations: number,
): Promise<DerivedClientKeys> {
  const key = cacheKey(hash, normalizedPassword, salt, iterations);
  const hit = cache.get(key);
  if (hit) {
    // Re-inserting keeps recently used entries away from the eviction end.
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const derivation = saltedPassword(hash, normalizedPassword, salt, iterations).then((salted) => ({
    clientKey: clientKeyOf(hash, salted),
    serverKey: serverKeyOf(hash, salted),
  }));
  derivation.catch(() => cache.delete(key));
  cache.set(key, derivation);
  if (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  return derivation;
}

export function clientKeyCacheSize(): number {
  return cache.size;
}
