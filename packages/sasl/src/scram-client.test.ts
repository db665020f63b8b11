import { randomBytes } from 'node:crypto';
import ScramSha1Client from 'sasl-scram-sha-1';
import { describe, expect, it } from 'vitest';
import { clientKeyCacheSize } from './client-key-cache.js';
import { createMechanism } from './registry.js';
import { ScramClient } from './scram-client.js';
import { conditionOf, expectChallenge, expectSuccess, text, userTable } from './test-support.js';

const SERVER_FIRST_5802 = 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096';
const CLIENT_FINAL_5802 =
  'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=';

describe('ScramClient', () => {
  it('produces the RFC 5802 client messages', async () => {
    const client = new ScramClient('SHA-1', 'user', 'pencil', { nonce: 'fyko+d2lbbFgONRv9qkxdawL' });
    expect(text(client.first())).toBe('n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL');
    expect(text(await client.final(Buffer.from(SERVER_FIRST_5802)))).toBe(CLIENT_FINAL_5802);
    expect(client.verify(Buffer.from('v=rmF9pqV8S7suAoZWja4dJRkFsKQ='))).toBe(true);
  });

  it('refuses to verify before final() and rejects error or garbage server-final messages', async () => {
    const client = new ScramClient('SHA-1', 'user', 'pencil', { nonce: 'fyko+d2lbbFgONRv9qkxdawL' });
    expect(client.verify(Buffer.from('v=rmF9pqV8S7suAoZWja4dJRkFsKQ='))).toBe(false);
    await client.final(Buffer.from(SERVER_FIRST_5802));
    expect(client.verify(Buffer.from('e=invalid-proof'))).toBe(false);
    expect(client.verify(Buffer.from('v=not base64'))).toBe(false);
    expect(client.verify(Buffer.from('v='))).toBe(false);
  });

  it('rejects a server nonce that does not extend its own', async () => {
    const client = new ScramClient('SHA-1', 'user', 'pencil', { nonce: 'abc' });
    expect(await conditionOf(client.final(Buffer.from('r=xyz123,s=QSXCR+Q6sek8bf92,i=4096')))).toBe(
      'malformed-request',
    );
    expect(await conditionOf(client.final(Buffer.from('r=abc,s=QSXCR+Q6sek8bf92,i=4096')))).toBe(
      'malformed-request',
    );
    expect(await conditionOf(client.final(Buffer.from('r=abcd,s=QSXCR+Q6sek8bf92,i=0')))).toBe(
      'malformed-request',
    );
  });

  it('reuses keys derived for the same password, salt, iteration count and hash', async () => {
    // A salt no other test uses, so the cache starts without an entry for it.
    const serverFirst = Buffer.from(`r=abcdef,s=${randomBytes(12).toString('base64')},i=1234`);
    const first = new ScramClient('SHA-256', 'user', 'pw', { nonce: 'abc' });
    const before = clientKeyCacheSize();
    await first.final(serverFirst);
    expect(clientKeyCacheSize()).toBe(before + 1);
    const second = new ScramClient('SHA-256', 'user', 'pw', { nonce: 'abc' });
    await second.final(serverFirst);
    expect(clientKeyCacheSize()).toBe(before + 1);
    expect(second.derived!.clientKey).toBe(first.derived!.clientKey);
    await new ScramClient('SHA-256', 'user', 'other pw', { nonce: 'abc' }).final(serverFirst);
    await new ScramClient('SHA-1', 'user', 'pw', { nonce: 'abc' }).final(serverFirst);
    expect(clientKeyCacheSize()).toBe(before + 3);
  });

  it('logs in with keys handed over from an earlier login', async () => {
    const { lookup } = await userTable({ alice: 'correct horse' });
    const login = async (client: ScramClient) => {
      const server = createMechanism('SCRAM-SHA-256', lookup)!;
      const serverFirst = expectChallenge(await server.step(client.first()));
      const success = expectSuccess(await server.step(await client.final(serverFirst)));
      return client.verify(success.data!);
    };
    const first = new ScramClient('SHA-256', 'alice', 'correct horse');
    expect(await login(first)).toBe(true);
    // A wrong password proves the cached keys, not the password, were used.
    const second = new ScramClient('SHA-256', 'alice', 'not the password', { cachedKeys: first.derived! });
    expect(await login(second)).toBe(true);
  });

  it('interoperates with the sasl-scram-sha-1 client used by @xmpp/client', async () => {
    const { lookup } = await userTable({ 'al,ice': 'pässwörd' });
    const server = createMechanism('SCRAM-SHA-1', lookup)!;
    const credentials = { username: 'al,ice', password: 'pässwörd' };
    const client = new ScramSha1Client();
    const first = client.response(credentials);
    client.challenge(text(expectChallenge(await server.step(Buffer.from(first)))));
    const final = await client.response(credentials);
    const success = expectSuccess(await server.step(Buffer.from(final)));
    expect(success.username).toBe('al,ice');
  });
});
