/**
 * The Bidi Rule (RFC 5893 §2), which IDNA2008 labels and the UsernameCaseMapped profile apply to strings
 * holding right-to-left characters. JavaScript exposes no Bidi_Class, so it is approximated: the
 * European and Arabic digit sets are EN and AN, non-spacing and enclosing marks are NSM, the rest of the
 * right-to-left scripts is R/AL, other letters, digits and spacing marks are L, and everything else
 * (symbols, punctuation, separators) counts as one of the neutral classes ES, CS, ET, ON or BN, which
 * the rule treats alike.
 */

type BidiClass = 'L' | 'R' | 'EN' | 'AN' | 'NSM' | 'neutral';

const RIGHT_TO_LEFT_SCRIPTS = [
  'Hebrew Arabic Syriac Thaana Nko Samaritan Mandaic Adlam Hanifi_Rohingya Yezidi Mende_Kikakui',
  'Old_Hungarian Imperial_Aramaic Phoenician Kharoshthi Old_South_Arabian Old_North_Arabian Avestan',
  'Inscriptional_Parthian Inscriptional_Pahlavi Psalter_Pahlavi Old_Turkic Meroitic_Cursive',
  'Meroitic_Hieroglyphs Manichaean Nabataean Palmyrene Hatran Lydian Cypriot Sogdian Old_Sogdian Elymaic',
  'Chorasmian Old_Uyghur',
]
  .join(' ')
  .split(' ');
const RIGHT_TO_LEFT_SCRIPT = new RegExp(
  `^[${RIGHT_TO_LEFT_SCRIPTS.map((script) => `\\p{Script=${script}}`).join('')}]$`,
  'u',
);
const EUROPEAN_NUMBER =
  /^[0-9\u00b2\u00b3\u00b9\u06f0-\u06f9\u2070\u2074-\u2079\u2080-\u2089\u2488-\u249b\uff10-\uff19\u{1d7ce}-\u{1d7ff}\u{1f100}-\u{1f10a}\u{1fbf0}-\u{1fbf9}]$/u;
const ARABIC_NUMBER =
  /^[\u0600-\u0605\u0660-\u0669\u066b\u066c\u06dd\u0890\u0891\u08e2\u{10d30}-\u{10d39}\u{10e60}-\u{10e7e}]$/u;
const NON_SPACING_MARK = /^[\p{Mn}\p{Me}]$/u;
const LEFT_TO_RIGHT = /^[\p{L}\p{Mc}\p{Nd}\p{Nl}]$/u;
const RIGHT_TO_LEFT_CANDIDATE = /[^\0-\u058f]/;

function bidiClass(ch: string): BidiClass {
  if (EUROPEAN_NUMBER.test(ch)) return 'EN';
  if (ARABIC_NUMBER.test(ch)) return 'AN';
  if (NON_SPACING_MARK.test(ch)) return 'NSM';
  if (RIGHT_TO_LEFT_SCRIPT.test(ch)) return 'R';
  if (LEFT_TO_RIGHT.test(ch)) return 'L';
  return 'neutral';
}

/** Whether a string holds R, AL or AN characters: an "RTL label" in the terms of RFC 5893. */
export function hasRightToLeft(s: string): boolean {
  // Every right-to-left character lies above U+058F, so most strings are settled by one scan.
  if (!RIGHT_TO_LEFT_CANDIDATE.test(s)) return false;
  for (const ch of s) {
    const bidi = bidiClass(ch);
    if (bidi === 'R' || bidi === 'AN') return true;
  }
  return false;
}

/** Conditions 1–6 of the Bidi Rule for one label (or one PRECIS string). */
export function satisfiesBidiRule(s: string): boolean {
  const classes = Array.from(s, bidiClass);
  let end = classes.length - 1;
  while (end >= 0 && classes[end] === 'NSM') end--;
  const last = classes[end];
  if (classes[0] === 'R') {
    if (classes.includes('L')) return false;
    if (last !== 'R' && last !== 'EN' && last !== 'AN') return false;
    return !(classes.includes('EN') && classes.includes('AN'));
  }
  if (classes[0] === 'L') {
    if (classes.includes('R') || classes.includes('AN')) return false;
    return last === 'L' || last === 'EN';
  }
  return false;
}
