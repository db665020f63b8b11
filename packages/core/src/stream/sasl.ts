import { createHmac } from 'node:crypto';
import { JidMalformedError, normalizeLocalpart } from '@strom/jid';
import {
  AuthThrottle,
  createMechanism,
  decodeBase64Strict,
  SaslError,
  type SaslMechanism,
  SCRAM_MECHANISMS,
  type ThrottleKeys,
} from '@strom/sasl';
import { sharedSecret } from '@strom/storage';
import { xml } from '@strom/xml';
import { normalizeUsername } from '../accounts.js';
import { AddressList, networkKey } from '../addresses.js';
import { defineModule, type ModuleContext } from '../context.js';
import { StreamError } from '../errors.js';
import { NS } from '../namespaces.js';
import type { ClientSession } from '../session.js';

const MAX_SASL_FAILURES = 3;

export interface SaslOptions {
  /** Offer PLAIN on secure transports (default true). */
  allowPlain?: boolean;
  /** Failed-login throttle (default: a fresh one with default limits). */
  throttle?: AuthThrottle;
  /** Addresses the per-address limit does not apply to (the per-account-and-address backoff still does). */
  exempt?: AddressList;
}

/** The storage row every node reads the SASL secret from (decoy salts, throttle keys). */
export const SASL_SECRET = 'sasl';

/** One stream's SASL exchange. */
interface Exchange {
  mechanism: SaslMechanism | undefined;
  mechanismName: string;
  usernameHint: string | undefined;
  failures: number;
}

/**
 * RFC 6120 §6 SASL authentication, as a module of the stream's pre-auth stage: SCRAM-SHA-256 and
 * SCRAM-SHA-1 from stored keys, PLAIN only on secure channels, failures throttled per account and
 * address and per address (`AuthThrottle`), and the stream ended after three failures.
 */
export function saslModule(options: SaslOptions = {}) {
  const allowPlain = options.allowPlain ?? true;
  return defineModule({
    name: 'sasl',
    async setup(ctx) {
      const throttle = options.throttle ?? new AuthThrottle();
      const exempt = options.exempt ?? AddressList.EMPTY;
      // One secret for the whole deployment, so every node derives the same decoy salt for an unknown
      // name (a per-node one would tell real accounts from unknown ones) and the same throttle keys.
      const secret = await sharedSecret(ctx.storage, SASL_SECRET);
      const decoySecret = derive(secret, 'decoy-credentials');
      const keySecret = derive(secret, 'throttle-keys');
      // Throttle keys are hashed: a shared store (Redis) never holds account names or addresses.
      const opaque = (text: string) => derive(keySecret, text).toString('base64url').slice(0, 24);
      const mechanisms = (secure: boolean) =>
        secure && allowPlain ? [...SCRAM_MECHANISMS, 'PLAIN'] : [...SCRAM_MECHANISMS];

      ctx.streamFeature('pre-auth', (session) => {
        const list = xml('mechanisms', { xmlns: NS.sasl });
        for (const name of mechanisms(session.transport.secure)) list.c('mechanism').t(name);
        return list;
      });

      const exchangeOf = (session: ClientSession): Exchange => {
        let exchange = session.data.get('sasl') as Exchange | undefined;
        if (!exchange) {
          exchange = { mechanism: undefined, mechanismName: '', usernameHint: undefined, failures: 0 };
          session.data.set('sasl', exchange);
        }
        return exchange;
      };

      const failure = (session: ClientSession, condition: string, text?: string): void => {
        session.sendNonza(
          xml(
            'failure',
            { xmlns: NS.sasl },
            xml(condition),
            text ? xml('text', { 'xml:lang': 'en' }, text) : undefined,
          ),
        );
        const exchange = exchangeOf(session);
        if (condition !== 'aborted' && ++exchange.failures >= MAX_SASL_FAILURES) {
          session.fail(new StreamError('policy-violation', 'Too many failed authentication attempts'));
        }
      };

      const throttleKeys = (session: ClientSession): ThrottleKeys => {
        const address = session.transport.remoteAddress;
        const network = networkKey(address);
        const hint = exchangeOf(session).usernameHint ?? '';
        return {
          pair: opaque(`pair\0${hint}\0${network}`),
          // Unknown addresses (in-process transports) and trusted ones have no address limit.
          address: address === undefined || exempt.has(address) ? undefined : opaque(`addr\0${network}`),
        };
      };

      const step = async (session: ClientSession, payload: string): Promise<void> => {
        const exchange = exchangeOf(session);
        const mechanism = exchange.mechanism!;
        let input: Buffer;
        try {
          input = decodeBase64Strict(payload);
        } catch {
          exchange.mechanism = undefined;
          return failure(session, 'incorrect-encoding');
        }
        if (exchange.usernameHint === undefined) {
          exchange.usernameHint = usernameHint(exchange.mechanismName, input);
          const wait = await throttle.check(throttleKeys(session));
          if (session.state === 'closed') return;
          if (wait > 0) {
            exchange.mechanism = undefined;
            return failure(
              session,
              'temporary-auth-failure',
              `Too many failed attempts; try again in ${Math.ceil(wait / 1000)} s`,
            );
          }
        }
        try {
          const result = await mechanism.step(input);
          if (session.state === 'closed') return;
          if (result.type === 'challenge') {
            session.sendNonza(xml('challenge', { xmlns: NS.sasl }, result.data.toString('base64')));
            return;
          }
          const username = normalizeLocalpart(result.username);
          if (
            result.authzid &&
            result.authzid !== username &&
            result.authzid !== `${username}@${ctx.domain}`
          ) {
            throw new SaslError('invalid-authzid');
          }
          exchange.mechanism = undefined;
          // Only this account's failures from this address are forgiven, not the address's.
          await throttle.succeeded(throttleKeys(session));
          if (ended(session)) return;
          session.authenticated(username);
          session.sendNonza(
            xml('success', { xmlns: NS.sasl }, result.data ? result.data.toString('base64') : undefined),
          );
        } catch (err) {
          exchange.mechanism = undefined;
          if (err instanceof SaslError) {
            if (err.condition === 'not-authorized') await throttle.failed(throttleKeys(session));
            if (ended(session)) return;
            return failure(session, err.condition);
          }
          if (err instanceof JidMalformedError) {
            await throttle.failed(throttleKeys(session));
            if (ended(session)) return;
            return failure(session, 'not-authorized');
          }
          throw err;
        }
      };

      ctx.nonza('pre-auth', NS.sasl, 'auth', ({ session, element }) => {
        const name = element.attrs.mechanism ?? '';
        if (!mechanisms(session.transport.secure).includes(name)) {
          return failure(session, name === 'PLAIN' ? 'encryption-required' : 'invalid-mechanism');
        }
        const mechanism = createMechanism(name, (username) => lookupCredentials(ctx, username), {
          decoySecret,
        });
        if (!mechanism) return failure(session, 'invalid-mechanism');
        const exchange = exchangeOf(session);
        exchange.mechanism = mechanism;
        exchange.mechanismName = name;
        exchange.usernameHint = undefined;
        return step(session, element.text());
      });
      ctx.nonza('pre-auth', NS.sasl, 'response', ({ session, element }) => {
        if (!exchangeOf(session).mechanism)
          return failure(session, 'malformed-request', 'No authentication in progress');
        return step(session, element.text());
      });
      ctx.nonza('pre-auth', NS.sasl, 'abort', ({ session }) => {
        exchangeOf(session).mechanism = undefined;
        return failure(session, 'aborted');
      });
      ctx.nonza('pre-auth', NS.sasl, '*', ({ session }) => failure(session, 'malformed-request'));
    },
  });
}

async function lookupCredentials(ctx: ModuleContext, username: string) {
  let local: string;
  try {
    local = normalizeUsername(username, ctx.domain);
  } catch {
    return undefined;
  }
  return (await ctx.storage.accounts.get(local))?.credentials;
}

/** The username a SASL exchange is about, read early for per-account throttling only. */
function usernameHint(mechanism: string, initial: Buffer): string | undefined {
  const text = initial.toString('utf8');
  let raw: string | undefined;
  if (mechanism === 'PLAIN') raw = text.split('\0')[1];
  else {
    const match = /(?:^|,)n=([^,]*)/.exec(text.replace(/^[ny],[^,]*,/, ''));
    raw = match?.[1]?.replace(/=2C/g, ',').replace(/=3D/g, '=');
  }
  if (!raw) return undefined;
  try {
    return normalizeLocalpart(raw);
  } catch {
    return raw.toLowerCase();
  }
}

/** Whether the stream ended while a step waited (a function, so no earlier check narrows it). */
function ended(session: ClientSession): boolean {
  return session.state === 'closed';
}

function derive(key: Buffer, label: string): Buffer {
  return createHmac('sha256', key).update(label).digest();
}
