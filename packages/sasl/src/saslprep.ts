import { SaslError } from './errors.js';

// Table references are to RFC 3454 (stringprep); RFC 4013 picks which tables SASLprep uses.

/** C.1.2, mapped to SPACE by RFC 4013 §2.1. */
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/gu;

/** B.1, mapped to nothing. */
// biome-ignore lint/suspicious/noMisleadingCharacterClass: stringprep maps single code points, including lone combining characters.
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/gu;

const NONCHARACTERS_OUTSIDE_BMP = Array.from({ length: 16 }, (_, i) => {
  const plane = (i + 1).toString(16).toUpperCase();
  return `\\u{${plane}FFFE}-\\u{${plane}FFFF}`;
}).join('');

const PROHIBITED = new RegExp(
  '[' +
    '\\u00A0\\u1680\\u2000-\\u200B\\u202F\\u205F\\u3000' + // C.1.2 non-ASCII space
    '\\u0000-\\u001F\\u007F' + // C.2.1 ASCII control
    '\\u0080-\\u009F\\u06DD\\u070F\\u180E\\u200C\\u200D\\u2028\\u2029\\u2060-\\u2063\\u206A-\\u206F' +
    '\\uFEFF\\uFFF9-\\uFFFC\\u{1D173}-\\u{1D17A}' + // C.2.2 non-ASCII control
    '\\uE000-\\uF8FF\\u{F0000}-\\u{FFFFD}\\u{100000}-\\u{10FFFD}' + // C.3 private use
    '\\uFDD0-\\uFDEF\\uFFFE\\uFFFF' +
    NONCHARACTERS_OUTSIDE_BMP + // C.4 non-character code points
    '\\uD800-\\uDFFF' + // C.5 surrogates (only unpaired ones can occur in a JS string)
    '\\uFFF9-\\uFFFD' + // C.6 inappropriate for plain text
    '\\u2FF0-\\u2FFB' + // C.7 inappropriate for canonical representation
    '\\u0340\\u0341\\u200E\\u200F\\u202A-\\u202E' + // C.8 change display properties
    '\\u{E0001}\\u{E0020}-\\u{E007F}' + // C.9 tagging characters
    ']',
  'u',
);

/**
 * Stringprep prohibits code points unassigned in Unicode 3.2 for stored strings. Carrying that
 * table would reject characters every current client can type, so "unassigned" here means
 * unassigned in the Unicode version the runtime ships.
 */
const UNASSIGNED = /\p{Cn}/u;

/**
 * D.1 (RandALCat), extended with letters of right-to-left scripts added to Unicode after 3.2 so
 * that they are not mistaken for left-to-right letters below.
 */
const RAND_AL_CAT = new RegExp(
  '[' +
    '\\u05BE\\u05C0\\u05C3\\u05D0-\\u05EA\\u05F0-\\u05F4\\u061B\\u061F\\u0621-\\u063A\\u0640-\\u064A' +
    '\\u066D-\\u066F\\u0671-\\u06D5\\u06DD\\u06E5\\u06E6\\u06FA-\\u06FE\\u0700-\\u070D\\u0710' +
    '\\u0712-\\u072C\\u0780-\\u07A5\\u07B1\\u200F\\uFB1D\\uFB1F-\\uFB28\\uFB2A-\\uFB36\\uFB38-\\uFB3C' +
    '\\uFB3E\\uFB40\\uFB41\\uFB43\\uFB44\\uFB46-\\uFBB1\\uFBD3-\\uFD3D\\uFD50-\\uFD8F\\uFD92-\\uFDC7' +
    '\\uFDF0-\\uFDFC\\uFE70-\\uFE74\\uFE76-\\uFEFC' +
    ']|' +
    '(?=\\p{L})[\\p{Script=Hebrew}\\p{Script=Arabic}\\p{Script=Syriac}\\p{Script=Thaana}\\p{Script=Nko}' +
    '\\p{Script=Samaritan}\\p{Script=Mandaic}\\p{Script=Adlam}\\p{Script=Hanifi_Rohingya}]',
  'u',
);

/**
 * D.2 (LCat) approximated by letters and spacing marks: JavaScript exposes no Bidi_Class property,
 * and the difference only matters for strings that mix scripts in ways no password input produces.
 */
const L_CAT_CANDIDATE = /[\p{L}\p{Mc}]/u;

function checkBidi(codePoints: string[]): void {
  const isRandAL = (c: string) => RAND_AL_CAT.test(c);
  if (!codePoints.some(isRandAL)) return;
  // RFC 3454 §6: a string with right-to-left characters must contain no left-to-right ones and
  // must start and end with a right-to-left character.
  if (codePoints.some((c) => !isRandAL(c) && L_CAT_CANDIDATE.test(c))) {
    throw new SaslError('malformed-request', 'string mixes left-to-right and right-to-left characters');
  }
  if (!isRandAL(codePoints[0]!) || !isRandAL(codePoints[codePoints.length - 1]!)) {
    throw new SaslError(
      'malformed-request',
      'right-to-left string must start and end with a right-to-left character',
    );
  }
}

/**
 * SASLprep (RFC 4013) for passwords, treated as stored strings. SCRAM (RFC 5802 §2.2) defines the
 * password normalization with it; PLAIN uses the same so both mechanisms accept the same password.
 */
export function saslprep(password: string): string {
  const mapped = password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '');
  const normalized = mapped.normalize('NFKC');
  const codePoints = Array.from(normalized);
  for (const c of codePoints) {
    if (PROHIBITED.test(c)) throw new SaslError('malformed-request', 'prohibited character in string');
    if (UNASSIGNED.test(c)) throw new SaslError('malformed-request', 'unassigned code point in string');
  }
  checkBidi(codePoints);
  return normalized;
}
