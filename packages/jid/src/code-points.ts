/**
 * Code point facts shared by the PRECIS string classes (RFC 8264) and IDNA2008 labels (RFC 5892): the
 * exception table, old Hangul jamo and the contextual rules of RFC 5892 Appendix A. Strings are handled
 * as arrays of code points (one string per code point) because the contextual rules look at neighbours.
 */

export type ExceptionValue = 'pvalid' | 'contexto' | 'disallowed';

/** RFC 5892 §2.6, category F: code points whose general category gives the wrong answer. */
const EXCEPTIONS: ReadonlyMap<number, ExceptionValue> = new Map<number, ExceptionValue>([
  [0x00df, 'pvalid'],
  [0x03c2, 'pvalid'],
  [0x06fd, 'pvalid'],
  [0x06fe, 'pvalid'],
  [0x0f0b, 'pvalid'],
  [0x3007, 'pvalid'],
  [0x00b7, 'contexto'],
  [0x0375, 'contexto'],
  [0x05f3, 'contexto'],
  [0x05f4, 'contexto'],
  [0x30fb, 'contexto'],
  ...range(0x0660, 0x0669).map((cp): [number, ExceptionValue] => [cp, 'contexto']),
  ...range(0x06f0, 0x06f9).map((cp): [number, ExceptionValue] => [cp, 'contexto']),
  [0x0640, 'disallowed'],
  [0x07fa, 'disallowed'],
  [0x302e, 'disallowed'],
  [0x302f, 'disallowed'],
  ...range(0x3031, 0x3035).map((cp): [number, ExceptionValue] => [cp, 'disallowed']),
  [0x303b, 'disallowed'],
]);

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

export function exceptionFor(cp: number): ExceptionValue | undefined {
  return EXCEPTIONS.get(cp);
}

export const ZWNJ = 0x200c;
export const ZWJ = 0x200d;

export function isJoinControl(cp: number): boolean {
  return cp === ZWNJ || cp === ZWJ;
}

/** Conjoining jamo (Hangul_Syllable_Type L, V or T); NFC has already folded modern sequences into syllables. */
export function isOldHangulJamo(cp: number): boolean {
  return (cp >= 0x1100 && cp <= 0x11ff) || (cp >= 0xa960 && cp <= 0xa97f) || (cp >= 0xd7b0 && cp <= 0xd7ff);
}

const UNASSIGNED_OR_NONCHARACTER = /^\p{Cn}$/u;
const NONCHARACTER = /^\p{Noncharacter_Code_Point}$/u;

/** Unassigned in the sense of RFC 5892 §2.5: noncharacters are Cn too, but are classed as ignorable. */
export function isUnassigned(ch: string): boolean {
  return UNASSIGNED_OR_NONCHARACTER.test(ch) && !NONCHARACTER.test(ch);
}
export const LETTER_DIGITS = /^[\p{Ll}\p{Lu}\p{Lo}\p{Nd}\p{Lm}\p{Mn}\p{Mc}]$/u;
const GREEK = /^\p{Script=Greek}$/u;
const HEBREW = /^\p{Script=Hebrew}$/u;
const HIRAGANA_KATAKANA_HAN = /^[\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Han}]$/u;
const TRANSPARENT_JOINING = /^[\p{Mn}\p{Me}\p{Cf}]$/u;
const JOINING_SCRIPT_LETTER =
  /^(?=\p{L})[\p{Script=Arabic}\p{Script=Syriac}\p{Script=Nko}\p{Script=Mongolian}\p{Script=Mandaic}\p{Script=Manichaean}\p{Script=Psalter_Pahlavi}\p{Script=Adlam}\p{Script=Hanifi_Rohingya}\p{Script=Sogdian}\p{Script=Phags_Pa}]$/u;

const VIRAMA_PROBE = '\u094d';
const ACUTE_PROBE = '\u0301';

/**
 * Whether a code point has Canonical_Combining_Class 9 (Virama). JavaScript exposes no combining
 * classes, but canonical reordering in NFD reveals them: a class-9 mark stays put next to a known
 * class-9 mark in either order, and moves ahead of a class-230 mark, which starters never do.
 */
export function isVirama(ch: string): boolean {
  if (ch.normalize('NFD') !== ch) return false;
  const keepsOrder = (s: string) => s.normalize('NFD') === s;
  return (
    keepsOrder('a' + ch + VIRAMA_PROBE) &&
    keepsOrder('a' + VIRAMA_PROBE + ch) &&
    ('a' + ACUTE_PROBE + ch).normalize('NFD') === 'a' + ch + ACUTE_PROBE
  );
}

/**
 * RFC 5892 Appendix A.1's second clause wants Joining_Type L or D before and R or D after the ZWNJ,
 * skipping transparent marks. JavaScript has no Joining_Type, so letters of the cursive-joining scripts
 * stand in for L/D/R; this admits a few right-joining-only letters the exact rule would refuse.
 */
function zwnjBetweenJoiningLetters(cps: readonly string[], index: number): boolean {
  let before = index - 1;
  while (before >= 0 && TRANSPARENT_JOINING.test(cps[before]!)) before--;
  let after = index + 1;
  while (after < cps.length && TRANSPARENT_JOINING.test(cps[after]!)) after++;
  return (
    before >= 0 &&
    after < cps.length &&
    JOINING_SCRIPT_LETTER.test(cps[before]!) &&
    JOINING_SCRIPT_LETTER.test(cps[after]!)
  );
}

/** Evaluates the CONTEXTJ/CONTEXTO rule (RFC 5892 Appendix A) for the code point at `index`. */
export function contextualRuleAllows(cps: readonly string[], index: number): boolean {
  const cp = cps[index]!.codePointAt(0)!;
  const before = index > 0 ? cps[index - 1] : undefined;
  const after = index + 1 < cps.length ? cps[index + 1] : undefined;
  switch (cp) {
    case ZWNJ:
      return (before !== undefined && isVirama(before)) || zwnjBetweenJoiningLetters(cps, index);
    case ZWJ:
      return before !== undefined && isVirama(before);
    case 0x00b7:
      return before === 'l' && after === 'l';
    case 0x0375:
      return after !== undefined && GREEK.test(after);
    case 0x05f3:
    case 0x05f4:
      return before !== undefined && HEBREW.test(before);
    case 0x30fb:
      return cps.some((other) => HIRAGANA_KATAKANA_HAN.test(other));
  }
  if (cp >= 0x0660 && cp <= 0x0669) return !cps.some((other) => inRange(other, 0x06f0, 0x06f9));
  if (cp >= 0x06f0 && cp <= 0x06f9) return !cps.some((other) => inRange(other, 0x0660, 0x0669));
  return false;
}

function inRange(ch: string, first: number, last: number): boolean {
  const cp = ch.codePointAt(0)!;
  return cp >= first && cp <= last;
}

export function formatCodePoint(cp: number): string {
  return 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');
}
