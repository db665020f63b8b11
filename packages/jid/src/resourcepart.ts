/**
 * Resourcepart preparation (RFC 7622 §3.4): the PRECIS OpaqueString profile (RFC 8265 §4.2). Resources
 * keep their case and may hold spaces, '@' and '/'. Printable ASCII takes a single-pass fast path.
 */
import { JidMalformedError } from './errors.js';
import { MAX_PART_BYTES, MAX_RAW_PART_LENGTH, utf8ByteLength } from './limits.js';
import { applyUntilStable, findClassViolation, mapNonAsciiSpaces } from './precis.js';

/** Already prepared: OpaqueString maps nothing in printable ASCII and allows all of it, space included. */
const PRINTABLE_ASCII = /^[ -~]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const ASCII_CONTROL = /[\0-\x1f\x7f]/;

function fail(reason: string): never {
  throw new JidMalformedError(`Invalid resourcepart: ${reason}`);
}

/** Prepares a resourcepart; throws JidMalformedError when it is not a valid one. */
export function normalizeResourcepart(input: string): string {
  if (PRINTABLE_ASCII.test(input)) {
    if (input.length > MAX_PART_BYTES) fail(`longer than ${MAX_PART_BYTES} bytes`);
    return input;
  }
  if (input.length === 0) fail('empty');
  // ASCII controls are disallowed in every PRECIS class, and nothing maps them to anything else.
  if (ASCII_CONTROL.test(input)) fail('control characters are not allowed');
  return prepareUnicodeResourcepart(input);
}

/** RFC 8265 §4.2.2: non-ASCII spaces become U+0020, then normalization; case and width are kept. */
function opaqueStringRules(s: string): string {
  return mapNonAsciiSpaces(s).normalize('NFC');
}

function prepareUnicodeResourcepart(input: string): string {
  if (input.length > MAX_RAW_PART_LENGTH) fail(`longer than ${MAX_PART_BYTES} bytes`);
  const prepared = applyUntilStable(input, opaqueStringRules);
  if (prepared === undefined) fail('preparation does not reach a stable result');
  const violation = findClassViolation(prepared, 'freeform');
  if (violation !== undefined) fail(violation);
  if (utf8ByteLength(prepared) > MAX_PART_BYTES) fail(`longer than ${MAX_PART_BYTES} bytes`);
  return prepared;
}
