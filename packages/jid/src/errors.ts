/** Thrown for any string that is not a valid JID or JID part; maps to the `jid-malformed` error condition. */
export class JidMalformedError extends Error {
  override name = 'JidMalformedError';
}

/** Names a rejected ASCII character in an error message, keeping invisible ones readable in logs. */
export function describeAsciiCharacter(c: number): string {
  if (c < 0x20 || c === 0x7f) return 'control characters are not allowed';
  if (c === 0x20) return 'spaces are not allowed';
  return `character '${String.fromCharCode(c)}' is not allowed`;
}
