import { describe, expect, it } from 'vitest';
import { decodeBase64Strict } from './encoding.js';
import { SaslError } from './errors.js';

describe('decodeBase64Strict', () => {
  it('decodes canonical base64', () => {
    expect(decodeBase64Strict('biws').toString()).toBe('n,,');
    expect(decodeBase64Strict('YQ==').toString()).toBe('a');
    expect(decodeBase64Strict('YWI=').toString()).toBe('ab');
    expect(decodeBase64Strict('+/+/').equals(Buffer.from([0xfb, 0xff, 0xbf]))).toBe(true);
  });

  it('treats "=" and the empty string as empty data', () => {
    expect(decodeBase64Strict('=')).toHaveLength(0);
    expect(decodeBase64Strict('')).toHaveLength(0);
  });

  it.each([
    ['a character outside the alphabet', 'bi*s'],
    ['URL-safe characters', 'b-_s'],
    ['missing padding', 'YQ'],
    ['too much padding', 'YQ==='],
    ['padding in the middle', 'YQ==YQ=='],
    ['whitespace', 'bi ws'],
    ['a line break', 'biws\n'],
    ['non-zero padding bits', 'YR=='],
    ['a lone character', 'b'],
  ])('rejects %s as incorrect-encoding', (_, input) => {
    let caught: unknown;
    try {
      decodeBase64Strict(input);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SaslError);
    expect((caught as SaslError).condition).toBe('incorrect-encoding');
  });
});
