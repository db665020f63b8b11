import { verifyPassword } from './credentials.js';
import { decoyCredentials } from './decoy.js';
import { decodeUtf8 } from './encoding.js';
import { SaslError } from './errors.js';
import { type CredentialLookup, lookupCredentials, type SaslMechanism, type SaslStep } from './mechanism.js';

export interface PlainOptions {
  /** Key for the decoy credentials of unknown users; every node of a deployment passes the same. */
  decoySecret?: Buffer;
}

/** Server side of PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`. */
export class PlainMechanism implements SaslMechanism {
  readonly name = 'PLAIN';
  private state: 'initial' | 'sent-empty-challenge' | 'finished' = 'initial';

  constructor(
    private readonly lookup: CredentialLookup,
    private readonly opts: PlainOptions = {},
  ) {}

  async step(input: Buffer): Promise<SaslStep> {
    const state = this.state;
    this.state = 'finished';
    if (state === 'finished') throw new SaslError('malformed-request', 'exchange already finished');
    // RFC 6120 §6.4.2: without an initial response the server sends an empty challenge.
    if (state === 'initial' && input.length === 0) {
      this.state = 'sent-empty-challenge';
      return { type: 'challenge', data: Buffer.alloc(0) };
    }

    const parts = decodeUtf8(input).split('\0');
    if (parts.length !== 3)
      throw new SaslError('malformed-request', 'expected authzid, authcid and password');
    const [authzid, username, password] = parts as [string, string, string];
    if (username === '' || password === '') {
      throw new SaslError('malformed-request', 'authcid and password must not be empty');
    }

    const stored = await lookupCredentials(this.lookup, username);
    // Unknown users pay for the same key derivation, so response time does not reveal them.
    const matches = await verifyPassword(
      stored ?? decoyCredentials(username, this.opts.decoySecret),
      password,
    ).catch((cause: unknown) => {
      throw new SaslError('temporary-auth-failure', 'stored credentials are unusable', { cause });
    });
    if (!matches || stored === undefined) throw new SaslError('not-authorized');
    return { type: 'success', username, ...(authzid !== '' && { authzid }) };
  }
}

/** PLAIN initial response, for clients and tests. */
export function plainInitial(username: string, password: string, authzid = ''): Buffer {
  return Buffer.from(`${authzid}\0${username}\0${password}`, 'utf8');
}
