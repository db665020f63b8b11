/** RFC 7622 §3.2–3.4: every part is between 1 and 1023 octets once prepared and encoded as UTF-8. */
export const MAX_PART_BYTES = 1023;

/**
 * Upper bound on the UTF-16 length of a part before preparation. NFC composes at most four code points
 * into one non-ASCII character (two or more UTF-8 octets), so no mapping here shrinks a string by more
 * than half in octets per UTF-16 unit; anything longer than this can be rejected before normalizing it.
 */
export const MAX_RAW_PART_LENGTH = MAX_PART_BYTES * 4;

export function utf8ByteLength(s: string): number {
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    // A surrogate pair is two UTF-16 units and four octets; every other unit above 0x7F is 2 or 3 octets.
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff) bytes += 1;
    else if (c >= 0xdc00 && c <= 0xdfff) bytes += 1;
    else bytes += 2;
  }
  return bytes;
}
