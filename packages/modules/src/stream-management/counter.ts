/**
 * XEP-0198 sequence numbers: unsignedInt counters that wrap from 2^32 - 1 back to zero (§4), so
 * every comparison between two of them is a distance modulo 2^32.
 */
export const COUNTER_MODULUS = 2 ** 32;

/** The counter after one more stanza. */
export function increment(counter: number): number {
  return counter === COUNTER_MODULUS - 1 ? 0 : counter + 1;
}

/** The counter after `n` more stanzas. */
export function advance(counter: number, n: number): number {
  return (counter + n) % COUNTER_MODULUS;
}

/** How many stanzas lie between two counter values, `from` to `to`, across the wrap. */
export function distance(from: number, to: number): number {
  return (((to - from) % COUNTER_MODULUS) + COUNTER_MODULUS) % COUNTER_MODULUS;
}

/**
 * An `h` attribute as the schema has it (xs:unsignedInt): decimal digits only, at most 2^32 - 1.
 * Anything else (missing, signed, fractional, too large) is undefined.
 */
export function parseCounter(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (!/^\d{1,10}$/.test(text)) return undefined;
  const value = Number(text);
  return value < COUNTER_MODULUS ? value : undefined;
}
