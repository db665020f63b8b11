import { describe, expect, it } from 'vitest';
import { contextualRuleAllows, isVirama } from './code-points.js';
import {
  applyUntilStable,
  derivedProperty,
  findClassViolation,
  mapNonAsciiSpaces,
  mapWidth,
} from './precis.js';

describe('derivedProperty (RFC 8264 §8)', () => {
  it.each([
    ['a', 'pvalid', 'ASCII7'],
    ['~', 'pvalid', 'ASCII7'],
    ['Ж', 'pvalid', 'LetterDigits (Lu)'],
    ['\u0663', 'contexto', 'Arabic-Indic digit (exception)'],
    ['\u0915', 'pvalid', 'LetterDigits (Lo)'],
    ['\u0301', 'pvalid', 'LetterDigits (Mn)'],
    ['ß', 'pvalid', 'exception'],
    ['ς', 'pvalid', 'exception'],
    [' ', 'freeformOnly', 'Spaces'],
    ['\u00a0', 'freeformOnly', 'HasCompat'],
    ['ﬁ', 'freeformOnly', 'HasCompat'],
    ['\u2163', 'freeformOnly', 'HasCompat'],
    ['♚', 'freeformOnly', 'Symbols'],
    ['€', 'freeformOnly', 'Symbols'],
    ['¿', 'freeformOnly', 'Punctuation'],
    ['\u20dd', 'freeformOnly', 'OtherLetterDigits (Me)'],
    ['\u200c', 'contextj', 'JoinControl'],
    ['\u200d', 'contextj', 'JoinControl'],
    ['\u00b7', 'contexto', 'exception'],
    ['\u0640', 'disallowed', 'exception'],
    ['\u0000', 'disallowed', 'Controls'],
    ['\u0085', 'disallowed', 'Controls'],
    ['\u00ad', 'disallowed', 'Default_Ignorable_Code_Point'],
    ['\ufe0f', 'disallowed', 'Default_Ignorable_Code_Point'],
    ['\uffff', 'disallowed', 'noncharacter, not unassigned'],
    ['\u{10fffe}', 'disallowed', 'noncharacter, not unassigned'],
    ['\u1100', 'disallowed', 'OldHangulJamo'],
    ['\ue000', 'disallowed', 'private use'],
    ['\u2028', 'disallowed', 'line separator'],
    ['\u0600', 'disallowed', 'format character that is not ignorable'],
    ['\ud800', 'disallowed', 'lone surrogate'],
    ['\u0378', 'unassigned', 'unassigned'],
    ['\u{e0080}', 'unassigned', 'unassigned in a plane with ignorables'],
  ])('%s is %s (%s)', (ch, expected) => {
    expect(derivedProperty(ch)).toBe(expected);
  });
});

describe('findClassViolation', () => {
  it('separates the IdentifierClass from the FreeformClass', () => {
    expect(findClassViolation('king♚', 'identifier')).toMatch(/U\+265A/);
    expect(findClassViolation('king♚', 'freeform')).toBeUndefined();
    expect(findClassViolation('a b', 'identifier')).toMatch(/U\+0020/);
    expect(findClassViolation('a b', 'freeform')).toBeUndefined();
  });

  it('rejects what neither class allows', () => {
    expect(findClassViolation('a\u0000', 'freeform')).toMatch(/U\+0000/);
    expect(findClassViolation('a\u0378', 'freeform')).toMatch(/unassigned code point U\+0378/);
  });
});

describe('isVirama (Canonical_Combining_Class 9)', () => {
  it('recognises viramas of several scripts', () => {
    for (const ch of ['\u094d', '\u09cd', '\u0bcd', '\u0d4d', '\u0e3a', '\u1039', '\u{11046}']) {
      expect(isVirama(ch), ch.codePointAt(0)!.toString(16)).toBe(true);
    }
  });

  it('rejects marks of neighbouring classes and starters', () => {
    // U+3099 has class 8, U+05B0 class 10, U+0301 class 230, U+0334 class 1; letters are starters.
    for (const ch of ['\u3099', '\u05b0', '\u0301', '\u0334', 'a', '\u0915', '\u00e9']) {
      expect(isVirama(ch), ch.codePointAt(0)!.toString(16)).toBe(false);
    }
  });
});

describe('contextual rules (RFC 5892 Appendix A)', () => {
  const allows = (s: string, index: number) => contextualRuleAllows(Array.from(s), index);

  it('ZERO WIDTH JOINER only after a virama', () => {
    expect(allows('\u0915\u094d\u200d\u0937', 2)).toBe(true);
    expect(allows('a\u200db', 1)).toBe(false);
    expect(allows('\u200db', 0)).toBe(false);
  });

  it('ZERO WIDTH NON-JOINER after a virama or between joining letters', () => {
    expect(allows('\u0915\u094d\u200c\u0937', 2)).toBe(true);
    // Persian "mi-khaham": yeh, ZWNJ, khah.
    expect(allows('\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645', 2)).toBe(true);
    // A transparent mark between the letter and the ZWNJ does not break the join.
    expect(allows('\u0628\u064e\u200c\u0628', 2)).toBe(true);
    expect(allows('a\u200cb', 1)).toBe(false);
    expect(allows('\u0628\u200c', 1)).toBe(false);
  });

  it('MIDDLE DOT only between two l', () => {
    expect(allows('l\u00b7l', 1)).toBe(true);
    expect(allows('a\u00b7l', 1)).toBe(false);
    expect(allows('l\u00b7', 1)).toBe(false);
  });

  it('GREEK KERAIA only before Greek', () => {
    expect(allows('\u0375\u03b1', 0)).toBe(true);
    expect(allows('\u0375a', 0)).toBe(false);
  });

  it('HEBREW GERESH and GERSHAYIM only after Hebrew', () => {
    expect(allows('\u05d0\u05f3', 1)).toBe(true);
    expect(allows('\u05d0\u05f4', 1)).toBe(true);
    expect(allows('a\u05f3', 1)).toBe(false);
  });

  it('KATAKANA MIDDLE DOT only with Hiragana, Katakana or Han around', () => {
    expect(allows('\u30ab\u30fb\u30ab', 1)).toBe(true);
    expect(allows('a\u30fb\u5b57', 1)).toBe(true);
    expect(allows('a\u30fbb', 1)).toBe(false);
  });

  it('Arabic-Indic and extended Arabic-Indic digits do not mix', () => {
    expect(allows('\u0661\u0662', 0)).toBe(true);
    expect(allows('\u06f1\u06f2', 0)).toBe(true);
    expect(allows('\u0661\u06f2', 0)).toBe(false);
    expect(allows('\u0661\u06f2', 1)).toBe(false);
  });

  it('allows nothing without a rule', () => {
    expect(allows('a', 0)).toBe(false);
  });
});

describe('mapping rules', () => {
  it('mapWidth maps fullwidth and halfwidth forms only', () => {
    expect(mapWidth('ＡＢｃ１！')).toBe('ABc1!');
    expect(mapWidth('\u3000')).toBe(' ');
    expect(mapWidth('\uff71\uffa1')).toBe('\u30a2\u3131');
    // One step only: halfwidth Hangul becomes compatibility jamo (not conjoining jamo that NFC would
    // compose), and FULLWIDTH MACRON becomes MACRON (not a space and a combining mark).
    expect(mapWidth('\uffa1\uffc2').normalize('NFC')).toBe('\u3131\u314f');
    expect(mapWidth('\uffe3')).toBe('\u00af');
    expect(mapWidth('ﬁ\u2163é')).toBe('ﬁ\u2163é');
  });

  it('mapNonAsciiSpaces maps every space separator to U+0020', () => {
    expect(mapNonAsciiSpaces('a\u00a0b\u2000c\u202fd\u3000e f')).toBe('a b c d e f');
    expect(mapNonAsciiSpaces('a\tb\u200bc')).toBe('a\tb\u200bc');
  });

  it('applyUntilStable reapplies rules until the output stops changing', () => {
    expect(applyUntilStable('abc', (s) => s.toLowerCase())).toBe('abc');
    expect(applyUntilStable('aaaa', (s) => s.replace('aa', 'a'))).toBe('a');
    expect(applyUntilStable('a', (s) => s + 'a')).toBeUndefined();
  });
});
