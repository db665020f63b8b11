import { randomBytes } from 'node:crypto';
import { derivedClientKeys } from './client-key-cache.js';
import { decodeBase64Strict, decodeUtf8 } from './encoding.js';
import { saslprep } from './saslprep.js';
import { constantTimeEqual, digest, hmac, type ScramHash, xor } from './scram-crypto.js';
import { encodeSaslname, isValidNonce, malformed, parseServerFirst } from './scram-messages.js';

/** Keys a client may keep between logins to skip PBKDF2 (valid while salt and iterations match). */
export interface ScramClientKeys {
  salt: string;
  iterations: number;
  clientKey: Buffer;
  serverKey: Buffer;
}

export interface ScramClientOptions {
  cachedKeys?: ScramClientKeys;
  /** Fixed client nonce, for reproducing test vectors. */
  nonce?: string;
  authzid?: string;
}

const GS2_NO_BINDING = 'n';

/** Client side of SCRAM without channel binding, for the load tool and tests. */
export class ScramClient {
  private readonly nonce: string;
  private readonly gs2Header: string;
  private readonly firstBare: string;
  private serverSignature: Buffer | undefined;
  private derivedKeys: ScramClientKeys | undefined;

  constructor(
    readonly hash: ScramHash,
    readonly username: string,
    private readonly password: string,
    private readonly opts: ScramClientOptions = {},
  ) {
    this.nonce = opts.nonce ?? randomBytes(18).toString('base64');
    if (!isValidNonce(this.nonce))
      throw new RangeError('client nonce must be printable ASCII without commas');
    const authzid = opts.authzid ? `a=${encodeSaslname(opts.authzid)}` : '';
    this.gs2Header = `${GS2_NO_BINDING},${authzid},`;
    this.firstBare = `n=${encodeSaslname(username)},r=${this.nonce}`;
  }

  /** client-first-message, the initial response of `<auth/>`. */
  first(): Buffer {
    return Buffer.from(this.gs2Header + this.firstBare, 'utf8');
  }

  /** Answers server-first-message with client-final-message. */
  async final(serverFirst: Buffer): Promise<Buffer> {
    const serverFirstText = decodeUtf8(serverFirst);
    const { nonce, salt: saltText, iterations } = parseServerFirst(serverFirstText);
    if (!nonce.startsWith(this.nonce) || nonce.length === this.nonce.length) {
      throw malformed('server nonce does not extend the client nonce');
    }
    const salt = decodeBase64Strict(saltText);
    const { clientKey, serverKey } = await this.keys(salt, iterations);

    const withoutProof = `c=${Buffer.from(this.gs2Header, 'utf8').toString('base64')},r=${nonce}`;
    const authMessage = `${this.firstBare},${serverFirstText},${withoutProof}`;
    const storedKey = digest(this.hash, clientKey);
    const proof = xor(clientKey, hmac(this.hash, storedKey, authMessage));
    this.serverSignature = hmac(this.hash, serverKey, authMessage);
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8');
  }

  /** Checks server-final-message (the data of `<success/>`): true only if the server knows our keys. */
  verify(serverFinal: Buffer): boolean {
    if (!this.serverSignature) return false;
    let text: string;
    try {
      text = decodeUtf8(serverFinal);
    } catch {
      return false;
    }
    const match = /^v=([^,]*)(?:,.*)?$/s.exec(text);
    if (!match) return false;
    try {
      return constantTimeEqual(decodeBase64Strict(match[1]!), this.serverSignature);
    } catch {
      return false;
    }
  }

  /** Keys derived (or reused) by the last `final()`, for callers that cache them across processes. */
  get derived(): ScramClientKeys | undefined {
    return this.derivedKeys;
  }

  private async keys(salt: Buffer, iterations: number): Promise<ScramClientKeys> {
    const saltText = salt.toString('base64');
    const cached = this.opts.cachedKeys;
    if (cached && cached.iterations === iterations && cached.salt === saltText) {
      this.derivedKeys = cached;
      return cached;
    }
    const keys = await derivedClientKeys(this.hash, saslprep(this.password), salt, iterations);
    this.derivedKeys = { salt: saltText, iterations, ...keys };
    return this.derivedKeys;
  }
}
