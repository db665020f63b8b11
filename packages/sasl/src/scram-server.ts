import { randomBytes } from 'node:crypto';
import type { StoredCredentials } from './credentials.js';
import { decoyCredentials } from './decoy.js';
import { decodeBase64Strict, decodeUtf8 } from './encoding.js';
import { SaslError } from './errors.js';
import { type CredentialLookup, lookupCredentials, type SaslMechanism, type SaslStep } from './mechanism.js';
import { constantTimeEqual, DIGEST_LENGTH, digest, hmac, type ScramHash, xor } from './scram-crypto.js';
import { isValidNonce, malformed, parseClientFinal, parseClientFirst } from './scram-messages.js';

export interface ScramServerOptions {
  /** Random bytes in the server's part of the nonce (base64-encoded on the wire). */
  nonceBytes?: number;
  /** Replaces the random server nonce; for reproducing fixed test vectors. */
  generateNonce?: () => string;
  /**
   * Key for the decoy credentials of unknown users. Every node of a deployment must pass the same,
   * so an unknown name gets the same salt everywhere (as a real account does).
   */
  decoySecret?: Buffer;
}

const DEFAULT_NONCE_BYTES = 18;

type State =
  | { kind: 'initial'; sentEmptyChallenge: boolean }
  | {
      kind: 'awaiting-final';
      username: string;
      authzid: string;
      gs2Header: string;
      nonce: string;
      /** client-first-message-bare "," server-first-message, the first part of AuthMessage. */
      transcript: string;
      storedKey: Buffer;
      serverKey: Buffer;
      knownUser: boolean;
    }
  | { kind: 'finished' };

function keysFor(hash: ScramHash, creds: StoredCredentials): { storedKey: Buffer; serverKey: Buffer } {
  const keys = creds[hash];
  const storedKey = keys ? Buffer.from(keys.storedKey, 'base64') : Buffer.alloc(0);
  const serverKey = keys ? Buffer.from(keys.serverKey, 'base64') : Buffer.alloc(0);
  if (storedKey.length !== DIGEST_LENGTH[hash] || serverKey.length !== DIGEST_LENGTH[hash]) {
    throw new SaslError('temporary-auth-failure', `stored ${hash} keys are unusable`);
  }
  if (!Number.isSafeInteger(creds.iterations) || creds.iterations < 1) {
    throw new SaslError('temporary-auth-failure', 'stored iteration count is unusable');
  }
  return { storedKey, serverKey };
}

/** Server side of SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, RFC 7677) without channel binding. */
export class ScramServerMechanism implements SaslMechanism {
  readonly name: string;
  private state: State = { kind: 'initial', sentEmptyChallenge: false };

  constructor(
    private readonly hash: ScramHash,
    private readonly lookup: CredentialLookup,
    private readonly opts: ScramServerOptions = {},
  ) {
    this.name = `SCRAM-${hash}`;
  }

  async step(input: Buffer): Promise<SaslStep> {
    const state = this.state;
    // Any failure ends the exchange: the state only advances when a step completes.
    this.state = { kind: 'finished' };
    switch (state.kind) {
      case 'initial':
        // RFC 6120 §6.4.2: without an initial response the server sends an empty challenge.
        if (input.length === 0 && !state.sentEmptyChallenge) {
          this.state = { kind: 'initial', sentEmptyChallenge: true };
          return { type: 'challenge', data: Buffer.alloc(0) };
        }
        return this.clientFirst(input);
      case 'awaiting-final':
        return this.clientFinal(state, input);
      case 'finished':
        throw malformed('exchange already finished');
    }
  }

  private serverNonce(): string {
    const nonce =
      this.opts.generateNonce?.() ??
      randomBytes(this.opts.nonceBytes ?? DEFAULT_NONCE_BYTES).toString('base64');
    if (!isValidNonce(nonce)) throw new Error('server nonce must be printable ASCII without commas');
    return nonce;
  }

  private async clientFirst(input: Buffer): Promise<SaslStep> {
    const message = parseClientFirst(decodeUtf8(input));
    if (message.authzid !== '' && message.authzid !== message.username) {
      throw new SaslError('invalid-authzid', 'authorization identity differs from the username');
    }
    const stored = await lookupCredentials(this.lookup, message.username);
    const creds = stored ?? decoyCredentials(message.username, this.opts.decoySecret);
    const { storedKey, serverKey } = keysFor(this.hash, creds);
    const salt = Buffer.from(creds.salt, 'base64').toString('base64');
    const nonce = message.nonce + this.serverNonce();
    const serverFirst = `r=${nonce},s=${salt},i=${creds.iterations}`;
    this.state = {
      kind: 'awaiting-final',
      username: message.username,
      authzid: message.authzid,
      gs2Header: message.gs2Header,
      nonce,
      transcript: `${message.bare},${serverFirst}`,
      storedKey,
      serverKey,
      knownUser: stored !== undefined,
    };
    return { type: 'challenge', data: Buffer.from(serverFirst, 'utf8') };
  }

  private async clientFinal(
    state: Extract<State, { kind: 'awaiting-final' }>,
    input: Buffer,
  ): Promise<SaslStep> {
    const message = parseClientFinal(decodeUtf8(input));
    const channelBinding = decodeBase64OrMalformed(message.channelBinding);
    if (!channelBinding.equals(Buffer.from(state.gs2Header, 'utf8'))) {
      throw malformed('channel binding data does not match the gs2 header');
    }
    if (message.nonce !== state.nonce) throw malformed('nonce does not match');
    const proof = decodeBase64OrMalformed(message.proof);
    if (proof.length !== DIGEST_LENGTH[this.hash]) throw malformed('client proof has the wrong length');

    const authMessage = `${state.transcript},${message.withoutProof}`;
    const clientSignature = hmac(this.hash, state.storedKey, authMessage);
    const clientKey = xor(proof, clientSignature);
    const proofMatches = constantTimeEqual(digest(this.hash, clientKey), state.storedKey);
    if (!proofMatches || !state.knownUser) throw new SaslError('not-authorized');

    const serverSignature = hmac(this.hash, state.serverKey, authMessage);
    return {
      type: 'success',
      username: state.username,
      ...(state.authzid !== '' && { authzid: state.authzid }),
      data: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8'),
    };
  }
}

function decodeBase64OrMalformed(text: string): Buffer {
  try {
    return decodeBase64Strict(text);
  } catch {
    throw malformed('invalid base64 in attribute');
  }
}
