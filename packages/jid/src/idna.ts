/**
 * IDNA2008 label rules (RFC 5891 §4.2.3, RFC 5892) for the non-ASCII labels of a domainpart, plus the
 * A-label to U-label conversion RFC 7622 §3.2.1 requires, using the Punycode codec of Node's URL module.
 */
import { domainToASCII, domainToUnicode } from 'node:url';
import {
  contextualRuleAllows,
  exceptionFor,
  formatCodePoint,
  isJoinControl,
  isOldHangulJamo,
  isUnassigned,
  LETTER_DIGITS,
} from './code-points.js';

type LabelProperty = 'pvalid' | 'contextj' | 'contexto' | 'disallowed' | 'unassigned';

const IDNA_IGNORABLE = /^[\p{White_Space}\p{Default_Ignorable_Code_Point}\p{Noncharacter_Code_Point}]$/u;
const COMBINING_MARK = /^\p{M}$/u;

/** Blocks RFC 5892 §2.8 excludes: combining marks for symbols and the musical notation blocks. */
function inIgnorableBlock(cp: number): boolean {
  return (cp >= 0x20d0 && cp <= 0x20ff) || (cp >= 0x1d100 && cp <= 0x1d24f);
}

/** RFC 5892 §3, applied to one code point of an already lower-cased, NFC label. */
function labelProperty(ch: string): LabelProperty {
  const cp = ch.codePointAt(0)!;
  const exception = exceptionFor(cp);
  if (exception !== undefined) return exception;
  if (isUnassigned(ch)) return 'unassigned';
  if ((cp >= 0x61 && cp <= 0x7a) || (cp >= 0x30 && cp <= 0x39) || cp === 0x2d) return 'pvalid';
  if (isJoinControl(cp)) return 'contextj';
  // "Unstable" is NFKC_Casefold(cp) != cp; lower-casing stands in for case folding, which JS lacks.
  if (ch.normalize('NFKC').toLowerCase() !== ch) return 'disallowed';
  if (IDNA_IGNORABLE.test(ch)) return 'disallowed';
  if (inIgnorableBlock(cp)) return 'disallowed';
  if (isOldHangulJamo(cp)) return 'disallowed';
  if (LETTER_DIGITS.test(ch)) return 'pvalid';
  return 'disallowed';
}

/** Returns why a label holding non-ASCII code points is not a valid U-label, or undefined if it is. */
export function findULabelViolation(label: string): string | undefined {
  const cps = Array.from(label);
  if (COMBINING_MARK.test(cps[0]!)) return 'a label must not begin with a combining mark';
  if (label.startsWith('-') || label.endsWith('-')) return 'a label must not begin or end with a hyphen';
  if (label.startsWith('--', 2)) return 'a label must not have hyphens in the third and fourth positions';
  for (let i = 0; i < cps.length; i++) {
    const ch = cps[i]!;
    const property = labelProperty(ch);
    if (property === 'pvalid') continue;
    if ((property === 'contextj' || property === 'contexto') && contextualRuleAllows(cps, i)) continue;
    const where = formatCodePoint(ch.codePointAt(0)!);
    if (property === 'unassigned') return `unassigned code point ${where}`;
    if (property === 'contextj' || property === 'contexto') return `${where} is not allowed in this context`;
    return `code point ${where} is not allowed in a domain label`;
  }
  return undefined;
}

/**
 * Decodes an A-label ("xn--…") to its U-label, or returns undefined when it is not a genuine A-label:
 * undecodable, decoding to plain ASCII, or not the canonical encoding of what it decodes to.
 */
export function aLabelToULabel(aLabel: string): string | undefined {
  const uLabel = domainToUnicode(aLabel);
  if (uLabel === '' || uLabel.includes('.') || /^\p{ASCII}*$/u.test(uLabel)) return undefined;
  return domainToASCII(uLabel) === aLabel ? uLabel : undefined;
}
