/**
 * Property-based tests of SASL message parsing against what a client may send: SCRAM's
 * client-first and client-final parsers and the server mechanisms fail only with SaslError, and
 * nothing but a correct proof ever succeeds. `FUZZ_RUNS` scales the number of runs.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { SaslError } from './errors.js';
import type { CredentialLookup } from './mechanism.js';
import { PlainMechanism } from './plain.js';
import {
  decodeSaslname,
  encodeSaslname,
  parseClientFinal,
  parseClientFirst,
  parseServerFirst,
} from './scram-messages.js';
import { ScramServerMechanism } from './scram-server.js';
import { userTable } from './test-support.js';

const SCALE = Number(process.env.FUZZ_RUNS ?? 1);
const runs = (n: number) => ({ numRuns: Math.max(1, Math.round(n * SCALE)) });

const TOKENS = [
  'n',
  'y',
  'p=tls-unique',
  'a=',
  'n=',
  'r=',
  'c=',
  'p=',
  's=',
  'i=',
  'm=',
  'x=',
  ',',
  '=',
  '=2C',
  '=3D',
  '=2',
  '==',
  'user',
  'biws',
  'eSws',
  'AAAA',
  '4096',
  '0',
  '-1',
  '99999999999',
  'r=abc',
  'fyko+d2lbbFgONRv9qkxdawL',
  '\u0000',
  'é',
  '😀',
  '\uD800',
  ' ',
  '\r\n',
  '+',
  '/',
  '',
];
const scramish = fc.array(fc.constantFrom(...TOKENS), { maxLength: 16 }).map((tokens) => tokens.join(''));
const text = fc.oneof(scramish, fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ maxLength: 40 }));
/** What arrives in `<auth/>` or `<response/>` after base64: any bytes, valid UTF-8 or not. */
const bytes = fc.oneof(
  text.map((t) => Buffer.from(t, 'utf8')),
  fc.uint8Array({ maxLength: 80 }).map((array) => Buffer.from(array)),
);

/** Runs `fn`; anything thrown must be a SaslError. */
function onlySaslErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof SaslError))
      throw new Error('threw something else than SaslError', { cause: error });
  }
}

async function onlySaslRejections(promise: Promise<unknown>): Promise<'ok' | 'failed'> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (!(error instanceof SaslError))
      throw new Error('rejected with something else than SaslError', { cause: error });
    return 'failed';
  }
}

describe('SCRAM message parsing under fuzzing', () => {
  it('fails only with SaslError', () => {
    fc.assert(
      fc.property(text, (input) => {
        onlySaslErrors(() => parseClientFirst(input));
        onlySaslErrors(() => parseClientFinal(input));
        onlySaslErrors(() => parseServerFirst(input));
        onlySaslErrors(() => decodeSaslname(input));
      }),
      runs(5000),
    );
  });

  it('reads back every saslname it encodes', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).filter((name) => !name.includes('\0')),
        (name) => {
          expect(decodeSaslname(encodeSaslname(name))).toBe(name);
        },
      ),
      runs(2000),
    );
  });

  it('parses a client-first message with any username and nonce the way it was written', () => {
    const nonce = fc.string({ minLength: 1, maxLength: 30 }).filter((n) => /^[\x21-\x2B\x2D-\x7E]+$/.test(n));
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).filter((name) => !name.includes('\0')),
        nonce,
        (username, clientNonce) => {
          const message = parseClientFirst(`n,,n=${encodeSaslname(username)},r=${clientNonce}`);
          expect(message).toMatchObject({ username, nonce: clientNonce, authzid: '', gs2Header: 'n,,' });
        },
      ),
      runs(2000),
    );
  });
});

describe('SASL mechanisms under fuzzing', () => {
  let lookup: CredentialLookup;
  beforeAll(async () => {
    // Few iterations: these tests are about parsing, not key stretching.
    ({ lookup } = await userTable({ user: 'pencil' }, { iterations: 16 }));
  });

  it('SCRAM fails only with SaslError, at either step, and never lets a made-up proof in', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('SHA-1', 'SHA-256') as fc.Arbitrary<'SHA-1' | 'SHA-256'>,
        fc.oneof(
          bytes,
          fc
            .constantFrom('n,,n=user,r=abc', 'y,,n=user,r=abc', 'n,a=user,n=user,r=x,e=1')
            .map((t) => Buffer.from(t)),
        ),
        bytes,
        fc.boolean(),
        async (hash, first, final, finalFromServerNonce) => {
          const scram = new ScramServerMechanism(hash, lookup, { decoySecret: Buffer.alloc(32, 7) });
          const firstStep = scram.step(first);
          if ((await onlySaslRejections(firstStep)) === 'failed') return;
          const step = await firstStep;
          let input = final;
          if (finalFromServerNonce && step.type === 'challenge') {
            // A well-formed final message with the right nonce and a made-up proof.
            const nonce = /r=([^,]+)/.exec(step.data.toString())?.[1] ?? '';
            input = Buffer.from(
              `c=biws,r=${nonce},p=${Buffer.alloc(hash === 'SHA-1' ? 20 : 32, 1).toString('base64')}`,
            );
          }
          const second = scram.step(input);
          const outcome = await onlySaslRejections(second);
          // An empty first message earns an empty challenge; only then may the second step succeed as
          // a challenge. A success needs the password, which nothing here has.
          if (outcome === 'ok') expect((await second).type).toBe('challenge');
          // After a failure or a completed exchange, the mechanism takes nothing more.
          await onlySaslRejections(scram.step(final));
        },
      ),
      runs(400),
    );
  });

  it('PLAIN fails only with SaslError and lets in only the right password', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          bytes,
          fc
            .tuple(fc.constantFrom('', 'user', 'other'), fc.constantFrom('user', 'nobody', ''), text)
            .map(([authzid, user, password]) => Buffer.from(`${authzid}\0${user}\0${password}`)),
        ),
        async (input) => {
          const plain = new PlainMechanism(lookup, { decoySecret: Buffer.alloc(32, 7) });
          const step = plain.step(input);
          if ((await onlySaslRejections(step)) === 'ok') {
            const result = await step;
            if (result.type === 'success')
              expect(input.toString().split('\0').slice(1)).toEqual(['user', 'pencil']);
            else expect(input.length).toBe(0);
          }
        },
      ),
      runs(300),
    );
  });
});
