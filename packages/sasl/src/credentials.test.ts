import { describe, expect, it } from 'vitest';
import { deriveCredentials, verifyPassword } from './credentials.js';

describe('deriveCredentials / verifyPassword', () => {
  it('stores keys for both hashes with a random 16-byte salt and 4096 iterations by default', async () => {
    const a = await deriveCredentials('secret');
    const b = await deriveCredentials('secret');
    expect(a.iterations).toBe(4096);
    expect(Buffer.from(a.salt, 'base64')).toHaveLength(16);
    expect(a.salt).not.toBe(b.salt);
    expect(Buffer.from(a['SHA-1'].storedKey, 'base64')).toHaveLength(20);
    expect(Buffer.from(a['SHA-1'].serverKey, 'base64')).toHaveLength(20);
    expect(Buffer.from(a['SHA-256'].storedKey, 'base64')).toHaveLength(32);
    expect(Buffer.from(a['SHA-256'].serverKey, 'base64')).toHaveLength(32);
    expect(JSON.stringify(a)).not.toContain('secret');
  });

  it('is deterministic for a given salt and iteration count', async () => {
    const salt = Buffer.from('fixed salt value');
    const a = await deriveCredentials('secret', { salt, iterations: 100 });
    const b = await deriveCredentials('secret', { salt, iterations: 100 });
    expect(a).toEqual(b);
    expect(a.iterations).toBe(100);
    expect(await deriveCredentials('secret', { salt, iterations: 101 })).not.toEqual(a);
  });

  it('verifies the password it was derived from, and only that', async () => {
    const creds = await deriveCredentials('correct horse', { iterations: 1000 });
    expect(await verifyPassword(creds, 'correct horse')).toBe(true);
    expect(await verifyPassword(creds, 'correct horse ')).toBe(false);
    expect(await verifyPassword(creds, '')).toBe(false);
    expect(await verifyPassword(creds, 'bad\u0000')).toBe(false);
  });

  it('verifies after SASLprep, so equivalent spellings match', async () => {
    const creds = await deriveCredentials('a\u00A0b\u00AD');
    expect(await verifyPassword(creds, 'a b')).toBe(true);
  });

  it('refuses passwords that are empty or prohibited', async () => {
    await expect(deriveCredentials('')).rejects.toMatchObject({ condition: 'malformed-request' });
    await expect(deriveCredentials('\u00AD')).rejects.toMatchObject({ condition: 'malformed-request' });
    await expect(deriveCredentials('tab\there')).rejects.toMatchObject({ condition: 'malformed-request' });
  });

  it('refuses nonsensical iteration counts', async () => {
    await expect(deriveCredentials('x', { iterations: 0 })).rejects.toThrow(RangeError);
    await expect(deriveCredentials('x', { iterations: 1.5 })).rejects.toThrow(RangeError);
  });
});
