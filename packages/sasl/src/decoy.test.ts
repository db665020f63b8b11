import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decoyCredentials } from './decoy.js';
import { plainInitial } from './plain.js';
import { createMechanism } from './registry.js';

const nobody = async () => undefined;

/** The salt a SCRAM server announces for `username` in its first challenge. */
async function announcedSalt(secret: Buffer | undefined, username: string): Promise<string> {
  const mechanism = createMechanism('SCRAM-SHA-256', nobody, secret ? { decoySecret: secret } : {})!;
  const step = await mechanism.step(Buffer.from(`n,,n=${username},r=clientnonce`));
  if (step.type !== 'challenge') throw new Error('expected a challenge');
  return /,s=([^,]+),/.exec(step.data.toString())![1]!;
}

describe('decoy credentials for unknown users', () => {
  it('depend only on the secret and the name, so nodes sharing a secret agree', async () => {
    const secret = randomBytes(32);
    const copy = Buffer.from(secret);
    expect(decoyCredentials('ghost', secret)).toEqual(decoyCredentials('ghost', copy));
    expect(await announcedSalt(secret, 'ghost')).toBe(await announcedSalt(copy, 'ghost'));
    expect(await announcedSalt(secret, 'ghost')).toBe(decoyCredentials('ghost', secret).salt);
  });

  it('differ between names and between secrets', () => {
    const secret = randomBytes(32);
    expect(decoyCredentials('ghost', secret).salt).not.toBe(decoyCredentials('phantom', secret).salt);
    expect(decoyCredentials('ghost', secret).salt).not.toBe(decoyCredentials('ghost', randomBytes(32)).salt);
  });

  it('stay stable within a process when no secret is given', async () => {
    expect(await announcedSalt(undefined, 'ghost')).toBe(await announcedSalt(undefined, 'ghost'));
  });

  it('never let PLAIN in, with or without a secret', async () => {
    for (const opts of [{}, { decoySecret: randomBytes(32) }]) {
      const mechanism = createMechanism('PLAIN', nobody, opts)!;
      await expect(mechanism.step(plainInitial('ghost', 'anything'))).rejects.toMatchObject({
        condition: 'not-authorized',
      });
    }
  });
});
