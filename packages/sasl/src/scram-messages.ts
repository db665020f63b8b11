import { SaslError } from './errors.js';

/** Printable ASCII except ',' (RFC 5802 §7, "printable"). */
const NONCE = /^[\x21-\x2B\x2D-\x7E]+$/;
const SASLNAME = /^(?:[^\0=,]|=2C|=3D)+$/;
const EXTENSION = /^[A-Za-z]=[^,]+$/;

export function malformed(message: string): SaslError {
  return new SaslError('malformed-request', message);
}

export function isValidNonce(nonce: string): boolean {
  return NONCE.test(nonce);
}

export function encodeSaslname(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

export function decodeSaslname(encoded: string): string {
  if (!SASLNAME.test(encoded)) throw malformed('invalid saslname encoding');
  return encoded.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** Returns the value of an attribute `name=value`, or throws if the part is something else. */
export function attribute(part: string | undefined, name: string): string {
  if (part === undefined || !part.startsWith(`${name}=`)) throw malformed(`expected attribute '${name}'`);
  return part.slice(name.length + 1);
}

/** Optional extensions are allowed and ignored, but must at least look like attributes. */
export function checkExtensions(parts: string[]): void {
  for (const part of parts) if (!EXTENSION.test(part)) throw malformed('invalid attribute');
}

export interface ClientFirst {
  gs2Header: string;
  authzid: string;
  username: string;
  nonce: string;
  bare: string;
}

/** Parses client-first-message (RFC 5802 §7); channel binding is refused since no -PLUS is offered. */
export function parseClientFirst(text: string): ClientFirst {
  const parts = text.split(',');
  const [cbindFlag, authzidPart, usernamePart, noncePart, ...extensions] = parts;
  if (cbindFlag?.startsWith('p=')) throw malformed('channel binding is not supported');
  if (cbindFlag !== 'n' && cbindFlag !== 'y') throw malformed('invalid gs2 header');
  if (authzidPart === undefined) throw malformed('invalid gs2 header');
  const authzid = authzidPart === '' ? '' : decodeSaslname(attribute(authzidPart, 'a'));
  const gs2Header = `${cbindFlag},${authzidPart},`;
  if (usernamePart?.startsWith('m=')) throw malformed('mandatory extension not supported');
  const username = decodeSaslname(attribute(usernamePart, 'n'));
  const nonce = attribute(noncePart, 'r');
  if (!isValidNonce(nonce)) throw malformed('invalid nonce');
  checkExtensions(extensions);
  return { gs2Header, authzid, username, nonce, bare: text.slice(gs2Header.length) };
}

export interface ClientFinal {
  channelBinding: string;
  nonce: string;
  proof: string;
  withoutProof: string;
}

export function parseClientFinal(text: string): ClientFinal {
  const parts = text.split(',');
  if (parts.length < 3) throw malformed('incomplete client-final-message');
  const proofPart = parts[parts.length - 1]!;
  const channelBinding = attribute(parts[0], 'c');
  const nonce = attribute(parts[1], 'r');
  checkExtensions(parts.slice(2, -1));
  const proof = attribute(proofPart, 'p');
  return { channelBinding, nonce, proof, withoutProof: text.slice(0, text.length - proofPart.length - 1) };
}

export interface ServerFirst {
  nonce: string;
  salt: string;
  iterations: number;
}

export function parseServerFirst(text: string): ServerFirst {
  const parts = text.split(',');
  if (parts[0]?.startsWith('m=')) throw malformed('mandatory extension not supported');
  const nonce = attribute(parts[0], 'r');
  const salt = attribute(parts[1], 's');
  const iterationText = attribute(parts[2], 'i');
  checkExtensions(parts.slice(3));
  if (!/^[1-9][0-9]{0,9}$/.test(iterationText)) throw malformed('invalid iteration count');
  return { nonce, salt, iterations: Number(iterationText) };
}
