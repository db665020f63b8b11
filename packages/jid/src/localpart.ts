/**
 * Localpart preparation (RFC 7622 §3.3): the PRECIS UsernameCaseMapped profile (RFC 8265 §3.3) with the
 * eight ASCII characters XMPP reserves excluded. Printable ASCII takes a single-pass fast path.
 */
import { hasRightToLeft, satisfiesBidiRule } from './bidi.js';
import { describeAsciiCharacter, JidMalformedError } from './errors.js';
import { MAX_PART_BYTES, MAX_RAW_PART_LENGTH, utf8ByteLength } from './limits.js';
import { applyUntilStable, findClassViolation, mapWidth } from './precis.js';

/** RFC 7622 §3.3.1: allowed by the IdentifierClass, but reserved in XMPP addresses. */
const XMPP_EXCLUDED = /["&'/:<>@]/;

/** Printable ASCII without the uppercase letters and the excluded characters: already prepared. */
const PREPARED_ASCII = /^[!#-%(-.0-9;=?[-~]+$/;
/** The same with uppercase letters, which only need lower-casing. */
const CASED_ASCII = /^[!#-%(-.0-9;=?A-~]+$/;

/** Spaces, controls and the excluded characters. */
const REJECTED_ASCII = /[\0- "&'/:<>@\x7f]/;

function fail(reason: string): never {
  throw new JidMalformedError(`Invalid localpart: ${reason}`);
}

/** Prepares a localpart; throws JidMalformedError when it is not a valid one. */
export function normalizeLocalpart(input: string): string {
  if (PREPARED_ASCII.test(input)) return checkAsciiLength(input);
  if (CASED_ASCII.test(input)) return checkAsciiLength(input.toLowerCase());
  if (input.length === 0) fail('empty');
  return prepareUnicodeLocalpart(input);
}

function checkAsciiLength(localpart: string): string {
  if (localpart.length > MAX_PART_BYTES) fail(`longer than ${MAX_PART_BYTES} bytes`);
  return localpart;
}

/** RFC 8265 §3.3.2, in order: width mapping, case mapping, normalization. */
function usernameCaseMappedRules(s: string): string {
  return mapWidth(s).toLowerCase().normalize('NFC');
}

/** The general path, for anything beyond printable ASCII or with a character that is not allowed. */
function prepareUnicodeLocalpart(input: string): string {
  // No mapping turns a rejected ASCII character into an allowed one (at most, NFC composes '<' or '>'
  // with U+0338 into a symbol, which is rejected too), so these fail early with a precise message.
  const invalidAscii = REJECTED_ASCII.exec(input);
  if (invalidAscii !== null) fail(describeAsciiCharacter(invalidAscii[0].charCodeAt(0)));
  if (input.length > MAX_RAW_PART_LENGTH) fail(`longer than ${MAX_PART_BYTES} bytes`);
  const prepared = applyUntilStable(input, usernameCaseMappedRules);
  if (prepared === undefined) fail('preparation does not reach a stable result');
  const excluded = XMPP_EXCLUDED.exec(prepared);
  if (excluded !== null) fail(`character '${excluded[0]}' is not allowed`);
  const violation = findClassViolation(prepared, 'identifier');
  if (violation !== undefined) fail(violation);
  // RFC 8265 §3.3.2, Directionality Rule.
  if (hasRightToLeft(prepared) && !satisfiesBidiRule(prepared))
    fail('right-to-left text must satisfy the Bidi Rule');
  if (utf8ByteLength(prepared) > MAX_PART_BYTES) fail(`longer than ${MAX_PART_BYTES} bytes`);
  return prepared;
}
