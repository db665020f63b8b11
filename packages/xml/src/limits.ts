/** Resource limits applied while parsing untrusted XML; exceeding one is a policy-violation. */
export interface XmlLimits {
  /** UTF-8 bytes of one frame, or of one depth-1 element of a stream (leading whitespace excluded). */
  maxStanzaBytes: number;
  /** Element nesting depth of one frame or stanza; the stanza itself is depth 1. */
  maxDepth: number;
  /** Attributes (namespace declarations included) on any single element. */
  maxAttributes: number;
  /** UTF-8 bytes of all character data in one frame or stanza; unlimited when absent. */
  maxTextBytes?: number;
}

export const DEFAULT_LIMITS: Readonly<XmlLimits> = Object.freeze({
  maxStanzaBytes: 256 * 1024,
  maxDepth: 32,
  maxAttributes: 64,
});

/**
 * For XML Strom produced or already accepted itself (stored stanzas, configuration). Size is not
 * capped because the text is already in memory; depth stays bounded because the serializer and
 * clone recurse.
 */
export const TRUSTED_LIMITS: Readonly<XmlLimits> = Object.freeze({
  maxStanzaBytes: Number.POSITIVE_INFINITY,
  maxDepth: 1024,
  maxAttributes: 4096,
});

/** Whether `text` is longer than `maxBytes` in UTF-8, without encoding it when the length alone decides. */
export function exceedsUtf8Bytes(text: string, maxBytes: number): boolean {
  // A UTF-16 code unit takes one to three bytes in UTF-8 (a surrogate pair takes four for two units).
  if (text.length > maxBytes) return true;
  if (text.length * 3 <= maxBytes) return false;
  return Buffer.byteLength(text, 'utf8') > maxBytes;
}
