import { createHash, createHmac, pbkdf2, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

export type ScramHash = 'SHA-1' | 'SHA-256';

/** Keys a server stores per hash (RFC 5802 §3), base64-encoded. */
export interface ScramKeys {
  storedKey: string;
  serverKey: string;
}

const pbkdf2Async = promisify(pbkdf2);

const NODE_DIGEST: Record<ScramHash, string> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256' };
export const DIGEST_LENGTH: Record<ScramHash, number> = { 'SHA-1': 20, 'SHA-256': 32 };

export function digest(hash: ScramHash, data: Buffer): Buffer {
  return createHash(NODE_DIGEST[hash]).update(data).digest();
}

export function hmac(hash: ScramHash, key: Buffer, data: Buffer | string): Buffer {
  return createHmac(NODE_DIGEST[hash], key).update(data).digest();
}

/** Hi() of RFC 5802 §2.2 is PBKDF2 with HMAC-H and one hash-sized block. */
export function saltedPassword(
  hash: ScramHash,
  normalizedPassword: string,
  salt: Buffer,
  iterations: number,
): Promise<Buffer> {
  return pbkdf2Async(normalizedPassword, salt, iterations, DIGEST_LENGTH[hash], NODE_DIGEST[hash]);
}

export function clientKeyOf(hash: ScramHash, salted: Buffer): Buffer {
  return hmac(hash, salted, 'Client Key');
}

export function serverKeyOf(hash: ScramHash, salted: Buffer): Buffer {
  return hmac(hash, salted, 'Server Key');
}

export function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** Constant-time for equal lengths; lengths themselves are public (they follow from the hash). */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
