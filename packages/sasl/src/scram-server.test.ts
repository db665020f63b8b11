import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveCredentials, type StoredCredentials } from './credentials.js';
import type { CredentialLookup } from './mechanism.js';
import { createMechanism, SCRAM_MECHANISMS } from './registry.js';
import { ScramClient } from './scram-client.js';
import type { ScramHash } from './scram-crypto.js';
import { conditionOf, expectChallenge, expectSuccess, stepText, text, userTable } from './test-support.js';

const HASHES: Array<[string, ScramHash]> = [
  ['SCRAM-SHA-256', 'SHA-256'],
  ['SCRAM-SHA-1', 'SHA-1'],
];

/** SCRAM client computations written out independently of ScramClient (RFC 5802 §3). */
function signByHand(hash: ScramHash, password: string, creds: StoredCredentials, authMessage: string) {
  const algorithm = hash === 'SHA-1' ? 'sha1' : 'sha256';
  const length = hash === 'SHA-1' ? 20 : 32;
  const salted = pbkdf2Sync(password, Buffer.from(creds.salt, 'base64'), creds.iterations, length, algorithm);
  const clientKey = createHmac(algorithm, salted).update('Client Key').digest();
  const storedKey = createHash(algorithm).update(clientKey).digest();
  const signature = createHmac(algorithm, storedKey).update(authMessage).digest();
  const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]!));
  const serverKey = createHmac(algorithm, salted).update('Server Key').digest();
  return {
    proof: proof.toString('base64'),
    serverSignature: createHmac(algorithm, serverKey).update(authMessage).digest('base64'),
  };
}

async function vectorLookup(saltBase64: string): Promise<CredentialLookup> {
  const creds = await deriveCredentials('pencil', {
    salt: Buffer.from(saltBase64, 'base64'),
    iterations: 4096,
  });
  return async (username) => (username === 'user' ? creds : undefined);
}

describe('SCRAM test vectors', () => {
  it('reproduces RFC 5802 §5 (SCRAM-SHA-1)', async () => {
    const lookup = await vectorLookup('QSXCR+Q6sek8bf92');
    const server = createMechanism('SCRAM-SHA-1', lookup, { generateNonce: () => '3rfcNHYJY1ZVvWVs7j' })!;
    const serverFirst = await stepText(server, 'n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL');
    expect(serverFirst).toBe('r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096');
    const final = await server.step(
      Buffer.from('c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts='),
    );
    const success = expectSuccess(final);
    expect(success.username).toBe('user');
    expect(success.authzid).toBeUndefined();
    expect(text(success.data)).toBe('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=');
  });

  it('reproduces RFC 7677 §3 (SCRAM-SHA-256)', async () => {
    const lookup = await vectorLookup('W22ZaJ0SNY7soEsUEjb6gQ==');
    const server = createMechanism('SCRAM-SHA-256', lookup, {
      generateNonce: () => '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
    })!;
    const serverFirst = await stepText(server, 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    expect(serverFirst).toBe(
      'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    );
    const final = await server.step(
      Buffer.from(
        'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
      ),
    );
    expect(text(expectSuccess(final).data)).toBe('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  });

  it('produces the RFC client messages from ScramClient', async () => {
    const client = new ScramClient('SHA-256', 'user', 'pencil', { nonce: 'rOprNGfwEbeRWgbNEkqO' });
    expect(text(client.first())).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    const final = await client.final(
      Buffer.from('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'),
    );
    expect(text(final)).toBe(
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    );
    expect(client.verify(Buffer.from('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='))).toBe(true);
    expect(client.verify(Buffer.from('v=rmF9pqV8S7suAoZWja4dJRkFsKQ='))).toBe(false);
  });
});

describe.each(HASHES)('%s exchange', (mechanismName, hash) => {
  async function setup() {
    const users = await userTable({ alice: 'correct horse', 'odd,name=x': 'pässwörd' });
    const server = createMechanism(mechanismName, users.lookup)!;
    return { ...users, server };
  }

  async function runExchange(username: string, password: string) {
    const { server, lookups } = await setup();
    const client = new ScramClient(hash, username, password);
    const serverFirst = expectChallenge(await server.step(client.first()));
    const clientFinal = await client.final(serverFirst);
    return { server, client, serverFirst, clientFinal, lookups };
  }

  it('authenticates a ScramClient and lets it verify the server', async () => {
    const { server, client, clientFinal, lookups } = await runExchange('alice', 'correct horse');
    const success = expectSuccess(await server.step(clientFinal));
    expect(success.username).toBe('alice');
    expect(lookups).toEqual(['alice']);
    expect(client.verify(success.data!)).toBe(true);
  });

  it('decodes =2C and =3D in the username and returns it as sent', async () => {
    const { server, client, clientFinal, lookups } = await runExchange('odd,name=x', 'pässwörd');
    expect(text(client.first())).toContain('n=odd=2Cname=3Dx,');
    const success = expectSuccess(await server.step(clientFinal));
    expect(success.username).toBe('odd,name=x');
    expect(lookups).toEqual(['odd,name=x']);
  });

  it('rejects a wrong password at the proof', async () => {
    const { server, clientFinal } = await runExchange('alice', 'wrong horse');
    expect(await conditionOf(server.step(clientFinal))).toBe('not-authorized');
  });

  it('does not reveal unknown users before the proof', async () => {
    const known = await runExchange('alice', 'correct horse');
    const unknown = await runExchange('mallory', 'whatever');
    const shape = /^r=[^,]+,s=[A-Za-z0-9+/]{22}==,i=4096$/;
    expect(text(known.serverFirst)).toMatch(shape);
    expect(text(unknown.serverFirst)).toMatch(shape);
    expect(await conditionOf(unknown.server.step(unknown.clientFinal))).toBe('not-authorized');
  });

  it('gives an unknown user a salt that is stable per name and differs between names', async () => {
    const saltOf = async (username: string) => {
      const { serverFirst } = await runExchange(username, 'x');
      return /,s=([^,]+),/.exec(text(serverFirst))![1];
    };
    const first = await saltOf('mallory');
    expect(await saltOf('mallory')).toBe(first);
    expect(await saltOf('trudy')).not.toBe(first);
  });

  it('uses a fresh server nonce per exchange', async () => {
    const a = await runExchange('alice', 'correct horse');
    const b = await runExchange('alice', 'correct horse');
    expect(text(a.serverFirst)).not.toBe(text(b.serverFirst));
  });

  it('rejects a tampered proof', async () => {
    const { server, clientFinal } = await runExchange('alice', 'correct horse');
    const message = text(clientFinal);
    const proof = Buffer.from(message.slice(message.indexOf(',p=') + 3), 'base64');
    proof[0]! ^= 1;
    const tampered = `${message.slice(0, message.indexOf(',p=') + 3)}${proof.toString('base64')}`;
    expect(await conditionOf(server.step(Buffer.from(tampered)))).toBe('not-authorized');
  });

  it('rejects a proof computed over a different nonce', async () => {
    const { server, clientFinal } = await runExchange('alice', 'correct horse');
    const altered = text(clientFinal).replace(/,r=([^,]+)/, ',r=$1x');
    expect(await conditionOf(server.step(Buffer.from(altered)))).toBe('malformed-request');
  });

  it('rejects channel binding data that does not match the gs2 header', async () => {
    const { server, clientFinal } = await runExchange('alice', 'correct horse');
    const altered = text(clientFinal).replace('c=biws', `c=${Buffer.from('y,,').toString('base64')}`);
    expect(await conditionOf(server.step(Buffer.from(altered)))).toBe('malformed-request');
  });

  it('accepts the y flag, whose channel binding data is "y,,"', async () => {
    const { server, table } = await setup();
    const serverFirst = await stepText(server, 'y,,n=alice,r=abc');
    const nonce = /^r=([^,]+),/.exec(serverFirst)![1]!;
    const withoutProof = `c=${Buffer.from('y,,').toString('base64')},r=${nonce}`;
    const final = signByHand(
      hash,
      'correct horse',
      table.get('alice')!,
      `n=alice,r=abc,${serverFirst},${withoutProof}`,
    );
    const success = expectSuccess(await server.step(Buffer.from(`${withoutProof},p=${final.proof}`)));
    expect(text(success.data)).toBe(`v=${final.serverSignature}`);
  });

  it('refuses channel binding requests (p=) because no -PLUS mechanism is offered', async () => {
    const { server, lookups } = await setup();
    expect(await conditionOf(server.step(Buffer.from('p=tls-exporter,,n=alice,r=abc')))).toBe(
      'malformed-request',
    );
    expect(lookups).toEqual([]);
  });

  it('accepts an authzid equal to the username and reports it', async () => {
    const { server } = await setup();
    const client = new ScramClient(hash, 'alice', 'correct horse', { authzid: 'alice' });
    expect(text(client.first()).startsWith('n,a=alice,')).toBe(true);
    const final = await client.final(expectChallenge(await server.step(client.first())));
    const success = expectSuccess(await server.step(final));
    expect(success.authzid).toBe('alice');
    expect(client.verify(success.data!)).toBe(true);
  });

  it('rejects an authzid other than the username', async () => {
    const { server, lookups } = await setup();
    expect(await conditionOf(server.step(Buffer.from('n,a=bob,n=alice,r=abc')))).toBe('invalid-authzid');
    expect(lookups).toEqual([]);
  });

  it.each([
    ['empty gs2 flag', ',,n=alice,r=abc'],
    ['unknown gs2 flag', 'x,,n=alice,r=abc'],
    ['missing gs2 header', 'n=alice,r=abc'],
    ['authzid without a=', 'n,alice,n=alice,r=abc'],
    ['empty authzid value', 'n,a=,n=alice,r=abc'],
    ['mandatory extension', 'n,,m=ext,n=alice,r=abc'],
    ['missing username', 'n,,r=abc'],
    ['empty username', 'n,,n=,r=abc'],
    ['bad saslname escape', 'n,,n=al=2Xice,r=abc'],
    ['bare = in username', 'n,,n=al=ice,r=abc'],
    ['missing nonce', 'n,,n=alice'],
    ['empty nonce', 'n,,n=alice,r='],
    ['non-printable nonce', 'n,,n=alice,r=a\tb'],
    ['non-ASCII nonce', 'n,,n=alice,r=abcé'],
    ['attributes out of order', 'n,,r=abc,n=alice'],
    ['garbage extension', 'n,,n=alice,r=abc,garbage'],
  ])('rejects a client-first-message with %s', async (_, message) => {
    const { server } = await setup();
    expect(await conditionOf(server.step(Buffer.from(message, 'utf8')))).toBe('malformed-request');
  });

  it('rejects a client-first-message that is not UTF-8', async () => {
    const { server } = await setup();
    expect(
      await conditionOf(
        server.step(Buffer.from([0x6e, 0x2c, 0x2c, 0x6e, 0x3d, 0xff, 0x2c, 0x72, 0x3d, 0x61])),
      ),
    ).toBe('malformed-request');
  });

  it.each([
    ['missing proof', (m: string) => m.slice(0, m.indexOf(',p='))],
    ['proof not last', (m: string) => m.replace(/,p=(.*)$/, ',p=$1,x=y')],
    ['missing channel binding', (m: string) => m.replace('c=biws,', '')],
    ['invalid base64 in proof', (m: string) => m.replace(/,p=.*$/, ',p=not*base64')],
    ['short proof', (m: string) => m.replace(/,p=.*$/, ',p=AAAA')],
    ['invalid base64 in channel binding', (m: string) => m.replace('c=biws', 'c=b!ws')],
    ['nothing', () => ''],
  ])('rejects a client-final-message with %s', async (_, alter) => {
    const { server, clientFinal } = await runExchange('alice', 'correct horse');
    expect(await conditionOf(server.step(Buffer.from(alter(text(clientFinal)))))).toBe('malformed-request');
  });

  it('accepts optional extensions in client-final-message, covered by the proof', async () => {
    const { server, table } = await setup();
    const serverFirst = await stepText(server, 'n,,n=alice,r=abc,x=first-ext');
    const nonce = /^r=([^,]+),/.exec(serverFirst)![1]!;
    const withoutProof = `c=biws,r=${nonce},y=final-ext`;
    const authMessage = `n=alice,r=abc,x=first-ext,${serverFirst},${withoutProof}`;
    const { proof } = signByHand(hash, 'correct horse', table.get('alice')!, authMessage);
    expectSuccess(await server.step(Buffer.from(`${withoutProof},p=${proof}`)));
  });

  it('answers a missing initial response with an empty challenge', async () => {
    const { server } = await setup();
    const client = new ScramClient(hash, 'alice', 'correct horse');
    expect(expectChallenge(await server.step(Buffer.alloc(0)))).toHaveLength(0);
    const serverFirst = expectChallenge(await server.step(client.first()));
    expect(client.verify(expectSuccess(await server.step(await client.final(serverFirst))).data!)).toBe(true);
  });

  it('ends the exchange after a failure or success', async () => {
    const { server, clientFinal } = await runExchange('alice', 'correct horse');
    expectSuccess(await server.step(clientFinal));
    expect(await conditionOf(server.step(clientFinal))).toBe('malformed-request');

    const failed = await setup();
    expect(await conditionOf(failed.server.step(Buffer.from('garbage')))).toBe('malformed-request');
    expect(await conditionOf(failed.server.step(Buffer.from('n,,n=alice,r=abc')))).toBe('malformed-request');
  });

  it('reports storage failures as temporary-auth-failure', async () => {
    const server = createMechanism(mechanismName, async () => {
      throw new Error('database is down');
    })!;
    expect(await conditionOf(server.step(Buffer.from('n,,n=alice,r=abc')))).toBe('temporary-auth-failure');
  });
});

describe('createMechanism', () => {
  it('knows the SCRAM mechanisms and PLAIN, strongest SCRAM first', async () => {
    const { lookup } = await userTable({});
    expect(SCRAM_MECHANISMS).toEqual(['SCRAM-SHA-256', 'SCRAM-SHA-1']);
    for (const name of [...SCRAM_MECHANISMS, 'PLAIN']) expect(createMechanism(name, lookup)?.name).toBe(name);
    expect(createMechanism('DIGEST-MD5', lookup)).toBeUndefined();
    expect(createMechanism('SCRAM-SHA-256-PLUS', lookup)).toBeUndefined();
    expect(createMechanism('scram-sha-256', lookup)).toBeUndefined();
  });

  it('honours nonceBytes for the server nonce', async () => {
    const { lookup } = await userTable({ alice: 'pw' });
    const server = createMechanism('SCRAM-SHA-256', lookup, { nonceBytes: 30 })!;
    const serverFirst = await stepText(server, 'n,,n=alice,r=abc');
    const serverNonce = /^r=abc([^,]+),/.exec(serverFirst)![1]!;
    expect(Buffer.from(serverNonce, 'base64')).toHaveLength(30);
  });
});
