import { describe, expect, it } from 'vitest';
import { plainInitial } from './plain.js';
import { createMechanism } from './registry.js';
import { conditionOf, expectChallenge, expectSuccess, userTable } from './test-support.js';

async function setup() {
  const users = await userTable({ alice: 'correct horse', bob: 'I\u00ADX' });
  return { ...users, server: createMechanism('PLAIN', users.lookup)! };
}

describe('PLAIN', () => {
  it('authenticates the right password and returns the username as sent', async () => {
    const { server, lookups } = await setup();
    const success = expectSuccess(await server.step(plainInitial('alice', 'correct horse')));
    expect(success).toEqual({ type: 'success', username: 'alice' });
    expect(lookups).toEqual(['alice']);
  });

  it('passes a non-empty authzid through for the caller to check', async () => {
    const { server } = await setup();
    const success = expectSuccess(
      await server.step(plainInitial('alice', 'correct horse', 'alice@example.org')),
    );
    expect(success.authzid).toBe('alice@example.org');
  });

  it('normalizes the password with SASLprep, like SCRAM does', async () => {
    const { server } = await setup();
    expectSuccess(await server.step(plainInitial('bob', 'IX')));
  });

  it('rejects a wrong password', async () => {
    const { server } = await setup();
    expect(await conditionOf(server.step(plainInitial('alice', 'correct horsE')))).toBe('not-authorized');
  });

  it('rejects an unknown user the same way', async () => {
    const { server } = await setup();
    expect(await conditionOf(server.step(plainInitial('mallory', 'correct horse')))).toBe('not-authorized');
  });

  it('rejects a password SASLprep prohibits as a wrong password', async () => {
    const { server } = await setup();
    expect(await conditionOf(server.step(plainInitial('alice', 'correct\u0007horse')))).toBe(
      'not-authorized',
    );
  });

  it.each([
    ['no separators', Buffer.from('alice')],
    ['one separator', Buffer.from('alice\0correct horse')],
    ['too many separators', Buffer.from('\0alice\0correct\0horse')],
    ['empty authcid', Buffer.from('\0\0correct horse')],
    ['empty password', Buffer.from('\0alice\0')],
    ['invalid UTF-8', Buffer.from([0, 0x61, 0, 0xc3, 0x28])],
  ])('rejects a message with %s as malformed', async (_, message) => {
    const { server } = await setup();
    expect(await conditionOf(server.step(message))).toBe('malformed-request');
  });

  it('answers a missing initial response with an empty challenge, once', async () => {
    const { server } = await setup();
    expect(expectChallenge(await server.step(Buffer.alloc(0)))).toHaveLength(0);
    expect(await conditionOf(server.step(Buffer.alloc(0)))).toBe('malformed-request');
  });

  it('accepts the response after an empty challenge', async () => {
    const { server } = await setup();
    expectChallenge(await server.step(Buffer.alloc(0)));
    expect(expectSuccess(await server.step(plainInitial('alice', 'correct horse'))).username).toBe('alice');
  });

  it('ends the exchange after one attempt', async () => {
    const { server } = await setup();
    expect(await conditionOf(server.step(plainInitial('alice', 'wrong')))).toBe('not-authorized');
    expect(await conditionOf(server.step(plainInitial('alice', 'correct horse')))).toBe('malformed-request');
  });

  it('reports storage failures as temporary-auth-failure', async () => {
    const server = createMechanism('PLAIN', () => Promise.reject(new Error('down')))!;
    expect(await conditionOf(server.step(plainInitial('alice', 'x')))).toBe('temporary-auth-failure');
  });
});
