import { SaslError } from './errors.js';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes the base64 payload of `<auth/>`, `<response/>` and friends. Node's own decoder silently
 * skips garbage, which would let malformed input reach the mechanisms; RFC 6120 §6.4.2 wants
 * 'incorrect-encoding' instead. A lone '=' is how XMPP sends an empty response.
 */
export function decodeBase64Strict(text: string): Buffer {
  if (text === '' || text === '=') return Buffer.alloc(0);
  if (!BASE64.test(text)) throw new SaslError('incorrect-encoding', 'invalid base64');
  const decoded = Buffer.from(text, 'base64');
  // Re-encoding catches non-zero padding bits, the one non-canonical form the pattern lets through.
  if (decoded.toString('base64') !== text) throw new SaslError('incorrect-encoding', 'non-canonical base64');
  return decoded;
}

// ignoreBOM keeps a leading U+FEFF, so decoding and re-encoding reproduces the client's exact bytes.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes a mechanism message that must be UTF-8; anything else is a malformed request. */
export function decodeUtf8(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new SaslError('malformed-request', 'message is not valid UTF-8');
  }
}
