/**
 * The PRECIS framework (RFC 8264): derived properties, the IdentifierClass and FreeformClass, and the
 * mapping rules used by the UsernameCaseMapped and OpaqueString profiles (RFC 8265).
 */
import {
  contextualRuleAllows,
  exceptionFor,
  formatCodePoint,
  isJoinControl,
  isOldHangulJamo,
  isUnassigned,
  LETTER_DIGITS,
} from './code-points.js';

export type StringClass = 'identifier' | 'freeform';

/**
 * RFC 8264 §8. `freeformOnly` stands for the "ID_DIS or FREE_PVAL" outcome: disallowed in the
 * IdentifierClass, valid in the FreeformClass.
 */
export type DerivedProperty =
  | 'pvalid'
  | 'contextj'
  | 'contexto'
  | 'freeformOnly'
  | 'disallowed'
  | 'unassigned';

const PRECIS_IGNORABLE = /^[\p{Default_Ignorable_Code_Point}\p{Noncharacter_Code_Point}]$/u;
const CONTROL = /^\p{Cc}$/u;
const FREEFORM_ONLY_CATEGORIES =
  /^[\p{Lt}\p{Nl}\p{No}\p{Me}\p{Zs}\p{Sm}\p{Sc}\p{Sk}\p{So}\p{Pc}\p{Pd}\p{Ps}\p{Pe}\p{Pi}\p{Pf}\p{Po}]$/u;

/** Classifies one code point, given as a string holding exactly that code point. */
export function derivedProperty(ch: string): DerivedProperty {
  const cp = ch.codePointAt(0)!;
  const exception = exceptionFor(cp);
  if (exception !== undefined) return exception;
  if (isUnassigned(ch)) return 'unassigned';
  if (cp >= 0x21 && cp <= 0x7e) return 'pvalid';
  if (isJoinControl(cp)) return 'contextj';
  if (isOldHangulJamo(cp)) return 'disallowed';
  if (PRECIS_IGNORABLE.test(ch)) return 'disallowed';
  if (CONTROL.test(ch)) return 'disallowed';
  if (ch.normalize('NFKC') !== ch) return 'freeformOnly';
  if (LETTER_DIGITS.test(ch)) return 'pvalid';
  if (FREEFORM_ONLY_CATEGORIES.test(ch)) return 'freeformOnly';
  return 'disallowed';
}

/** Returns why `s` is not in the given string class, or undefined when every code point is allowed. */
export function findClassViolation(s: string, stringClass: StringClass): string | undefined {
  const cps = Array.from(s);
  for (let i = 0; i < cps.length; i++) {
    const ch = cps[i]!;
    const property = derivedProperty(ch);
    if (property === 'pvalid') continue;
    if (property === 'freeformOnly' && stringClass === 'freeform') continue;
    if ((property === 'contextj' || property === 'contexto') && contextualRuleAllows(cps, i)) continue;
    const where = formatCodePoint(ch.codePointAt(0)!);
    if (property === 'unassigned') return `unassigned code point ${where}`;
    if (property === 'contextj' || property === 'contexto') return `${where} is not allowed in this context`;
    return `code point ${where} is not allowed`;
  }
  return undefined;
}

/** U+3000 and the Halfwidth and Fullwidth Forms block: the assigned ones decompose as <wide> or <narrow>. */
const WIDE_OR_NARROW = /[\u3000\uff01-\uffee]/g;

/**
 * The <wide> or <narrow> decomposition of one code point of WIDE_OR_NARROW. NFKC yields it, except
 * where it goes on to decompose the result further: FULLWIDTH MACRON would end up as a space and a
 * combining macron, and the halfwidth Hangul letters as conjoining jamo that NFC could then compose
 * into syllables. Those take their single-step mapping here.
 */
function narrowOrWideDecomposition(ch: string): string {
  const cp = ch.charCodeAt(0);
  if (cp === 0xffe3) return '\u00af';
  if (cp === 0xffa0) return '\u3164';
  for (const [first, last, target] of HALFWIDTH_HANGUL_RUNS) {
    if (cp >= first && cp <= last) return String.fromCharCode(target + cp - first);
  }
  return ch.normalize('NFKC');
}

/** Runs of halfwidth Hangul letters and the Hangul Compatibility Jamo they map onto, in order. */
const HALFWIDTH_HANGUL_RUNS: readonly (readonly [number, number, number])[] = [
  [0xffa1, 0xffbe, 0x3131],
  [0xffc2, 0xffc7, 0x314f],
  [0xffca, 0xffcf, 0x3155],
  [0xffd2, 0xffd7, 0x315b],
  [0xffda, 0xffdc, 0x3161],
];

/** Width Mapping Rule (RFC 8265 §3.3.1): fullwidth and halfwidth forms become their decompositions. */
export function mapWidth(s: string): string {
  return s.replace(WIDE_OR_NARROW, narrowOrWideDecomposition);
}

const NON_ASCII_SPACE = /(?!\u0020)\p{Zs}/gu;

/** Additional Mapping Rule of OpaqueString (RFC 8265 §4.2.1): non-ASCII spaces become U+0020. */
export function mapNonAsciiSpaces(s: string): string {
  return s.replace(NON_ASCII_SPACE, ' ');
}

/**
 * RFC 8264 §7: the rules of a profile are applied until the string stops changing, and a string that is
 * still changing after three further applications is rejected (returned as undefined here).
 */
export function applyUntilStable(input: string, applyRules: (s: string) => string): string | undefined {
  let current = applyRules(input);
  for (let reapplications = 0; reapplications < 3; reapplications++) {
    const next = applyRules(current);
    if (next === current) return current;
    current = next;
  }
  return undefined;
}
