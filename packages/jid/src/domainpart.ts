/**
 * Domainpart preparation (RFC 7622 §3.2): a fully qualified domain name with U-labels, an IPv4 address
 * or a bracketed IPv6 address. Plain ASCII names take a single-pass fast path.
 */
import { isIPv6 } from 'node:net';
import { hasRightToLeft, satisfiesBidiRule } from './bidi.js';
import { describeAsciiCharacter, JidMalformedError } from './errors.js';
import { aLabelToULabel, findULabelViolation } from './idna.js';
import { MAX_PART_BYTES, MAX_RAW_PART_LENGTH, utf8ByteLength } from './limits.js';
import { mapWidth } from './precis.js';

const DOT = 0x2e;
const HYPHEN = 0x2d;
const ALL_ASCII = /^\p{ASCII}*$/u;
const IDEOGRAPHIC_FULL_STOPS = /[\u3002\uff0e\uff61]/g;
const DEC_OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${DEC_OCTET}(?:\\.${DEC_OCTET}){3}$`);

/** A lower-case name of NR-LDH labels (with underscores, see checkAsciiLabels): needs no preparation. */
const ASCII_LABEL = '(?!xn--)[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?';
const PREPARED_ASCII_NAME = new RegExp(`^${ASCII_LABEL}(?:\\.${ASCII_LABEL})*$`);

/** A top-level domain is never all digits (RFC 3696 §2), so such a name has to be an IPv4 address. */
const NUMERIC_NAME = 'a name ending in a numeric label must be an IPv4 address';

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function fail(reason: string): never {
  throw new JidMalformedError(`Invalid domainpart: ${reason}`);
}

/** Prepares a domainpart; throws JidMalformedError when it is not a valid one. */
export function normalizeDomainpart(input: string): string {
  // A name ending in a digit may be an IPv4 address (or a bad one); the full check sorts that out.
  if (PREPARED_ASCII_NAME.test(input) && !isDigit(input.charCodeAt(input.length - 1))) {
    if (input.length > MAX_PART_BYTES) fail(`longer than ${MAX_PART_BYTES} bytes`);
    return input;
  }
  if (input.length === 0) fail('empty');
  let hasUppercase = false;
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    if (c >= 0x80) return prepareInternationalDomain(input);
    if (c >= 0x41 && c <= 0x5a) hasUppercase = true;
  }
  let domain = hasUppercase ? input.toLowerCase() : input;
  // RFC 7622 §3.2: a final label separator is stripped before any comparison or other canonicalization.
  if (domain.charCodeAt(domain.length - 1) === DOT) domain = domain.slice(0, -1);
  return finishAsciiDomain(domain);
}

function prepareInternationalDomain(input: string): string {
  if (input.length > MAX_RAW_PART_LENGTH) fail(`longer than ${MAX_PART_BYTES} bytes`);
  let domain = mapWidth(input).replace(IDEOGRAPHIC_FULL_STOPS, '.').toLowerCase().normalize('NFC');
  if (domain.endsWith('.')) domain = domain.slice(0, -1);
  if (ALL_ASCII.test(domain)) return finishAsciiDomain(domain);
  const labels = domain.split('.');
  for (const [i, label] of labels.entries()) {
    if (ALL_ASCII.test(label)) {
      const shape = checkAsciiLabels(label);
      if (shape === 'a-labels') labels[i] = convertALabel(label);
      if (shape === 'numeric' && i === labels.length - 1) fail(NUMERIC_NAME);
      continue;
    }
    const violation = findULabelViolation(label);
    if (violation !== undefined) fail(violation);
  }
  checkBidiRule(labels);
  return checkLength(labels.join('.'));
}

/** Validates a lower-case ASCII domain without its trailing dot; converts any A-labels to U-labels. */
function finishAsciiDomain(domain: string): string {
  if (domain.length === 0) fail('empty');
  if (domain.charCodeAt(0) === 0x5b) return checkIPv6Literal(domain);
  const shape = checkAsciiLabels(domain);
  if (shape === 'numeric' && !IPV4.test(domain)) fail(NUMERIC_NAME);
  if (shape === 'a-labels') {
    const labels = domain.split('.').map(convertALabel);
    checkBidiRule(labels);
    return checkLength(labels.join('.'));
  }
  if (domain.length > MAX_PART_BYTES) fail(`longer than ${MAX_PART_BYTES} bytes`);
  return domain;
}

/** 'numeric' when the last label is all digits; 'a-labels' when some label is an A-label. */
type AsciiShape = 'name' | 'numeric' | 'a-labels';

/**
 * One pass over dot-separated lower-case ASCII labels. Labels hold letters, digits, hyphens (not at either
 * end) and underscores: underscores are outside LDH but common in deployed service names, and harmless.
 */
function checkAsciiLabels(domain: string): AsciiShape {
  let labelStart = 0;
  let labelNumeric = true;
  let hasALabel = false;
  for (let i = 0; i <= domain.length; i++) {
    const c = i < domain.length ? domain.charCodeAt(i) : DOT;
    if (c === DOT) {
      if (i === labelStart) fail('empty label');
      if (domain.charCodeAt(labelStart) === HYPHEN || domain.charCodeAt(i - 1) === HYPHEN) {
        fail('a label must not begin or end with a hyphen');
      }
      if (i - labelStart > 4 && domain.startsWith('xn--', labelStart)) hasALabel = true;
      if (i === domain.length) break;
      labelNumeric = true;
      labelStart = i + 1;
    } else if (isDigit(c)) {
      // digits keep the label numeric
    } else if ((c >= 0x61 && c <= 0x7a) || c === HYPHEN || c === 0x5f) {
      labelNumeric = false;
    } else {
      fail(describeAsciiCharacter(c));
    }
  }
  if (hasALabel) return 'a-labels';
  return labelNumeric ? 'numeric' : 'name';
}

function convertALabel(label: string): string {
  if (!label.startsWith('xn--')) return label;
  const uLabel = aLabelToULabel(label);
  if (uLabel === undefined) fail(`'${label}' is not a valid A-label`);
  const violation = findULabelViolation(uLabel);
  if (violation !== undefined) fail(violation);
  return uLabel;
}

/** RFC 5893 §1.4: once any label is right-to-left, every label of the name must satisfy the Bidi Rule. */
function checkBidiRule(labels: readonly string[]): void {
  if (labels.some(hasRightToLeft) && !labels.every(satisfiesBidiRule)) {
    fail('right-to-left labels must satisfy the Bidi Rule');
  }
}

/** RFC 7622 §3.2 allows the IP-literal of RFC 3986: a bracketed IPv6 address (zone identifiers excluded). */
function checkIPv6Literal(domain: string): string {
  const address = domain.slice(1, -1);
  const valid = domain.endsWith(']') && !address.includes('%') && isIPv6(address);
  if (!valid) fail('invalid IPv6 address literal');
  return domain;
}

function checkLength(domain: string): string {
  // UTF-8 never takes fewer octets than UTF-16 code units, so only short strings need counting.
  if (domain.length > MAX_PART_BYTES || utf8ByteLength(domain) > MAX_PART_BYTES) {
    fail(`longer than ${MAX_PART_BYTES} bytes`);
  }
  return domain;
}
