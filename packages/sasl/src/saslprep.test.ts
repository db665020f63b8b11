import { describe, expect, it } from 'vitest';
import { SaslError } from './errors.js';
import { saslprep } from './saslprep.js';

function conditionOf(run: () => unknown): string {
  try {
    run();
    return 'ok';
  } catch (error) {
    if (error instanceof SaslError) return error.condition;
    throw error;
  }
}

describe('saslprep', () => {
  // RFC 4013 §3
  it.each([
    ['I\u00ADX', 'IX'],
    ['user', 'user'],
    ['USER', 'USER'],
    ['\u00AA', 'a'],
    ['\u2168', 'IX'],
  ])('maps %j to %j (RFC 4013 examples)', (input, output) => {
    expect(saslprep(input)).toBe(output);
  });

  it.each([
    ['\u0007', 'ASCII control'],
    ['\u0627\u0031', 'right-to-left string ending in a digit'],
  ])('rejects %j (RFC 4013 examples: %s)', (input) => {
    expect(conditionOf(() => saslprep(input))).toBe('malformed-request');
  });

  it('maps non-ASCII spaces to SPACE and drops characters mapped to nothing', () => {
    expect(saslprep('a\u00A0b\u3000c\u2003d')).toBe('a b c d');
    expect(saslprep('pa\u200Dss\uFEFFwo\uFE0Frd\u180B')).toBe('password');
  });

  it('applies NFKC', () => {
    expect(saslprep('\uFB01')).toBe('fi');
    expect(saslprep('e\u0301')).toBe('\u00E9');
    expect(saslprep('\uFF21\uFF22')).toBe('AB');
  });

  it('keeps ordinary non-ASCII passwords', () => {
    expect(saslprep('pässwörd')).toBe('pässwörd');
    expect(saslprep('пароль密码🔑')).toBe('пароль密码🔑');
    expect(saslprep('')).toBe('');
  });

  it.each([
    ['DEL', 'a\u007F'],
    ['C1 control', 'a\u0085'],
    ['line separator', 'a\u2028'],
    ['private use', 'a\uE000'],
    ['supplementary private use', 'a\u{F0000}'],
    ['non-character', 'a\uFDD0'],
    ['supplementary non-character', 'a\u{1FFFE}'],
    ['lone surrogate', 'a\uD800b'],
    ['replacement-class character', 'a\uFFFC'],
    ['ideographic description', 'a\u2FF0'],
    ['left-to-right mark', 'a\u200E'],
    ['tag character', 'a\u{E0041}'],
    ['unassigned code point', 'a\u0378'],
    ['Hebrew mixed with Latin', '\u05D0a\u05D1'],
  ])('rejects a %s', (_, input) => {
    expect(conditionOf(() => saslprep(input))).toBe('malformed-request');
  });

  it('accepts right-to-left strings that start and end right-to-left', () => {
    expect(saslprep('\u05D0\u05D1')).toBe('\u05D0\u05D1');
    expect(saslprep('\u0627\u0031\u0628')).toBe('\u0627\u0031\u0628');
  });
});
