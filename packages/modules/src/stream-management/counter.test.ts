import { describe, expect, it } from 'vitest';
import { advance, COUNTER_MODULUS, distance, increment, parseCounter } from './counter.js';

const MAX = COUNTER_MODULUS - 1;

describe('XEP-0198 counters', () => {
  it('count up by one and wrap from 2^32 - 1 to zero', () => {
    expect(increment(0)).toBe(1);
    expect(increment(41)).toBe(42);
    expect(increment(MAX - 1)).toBe(MAX);
    expect(increment(MAX)).toBe(0);
    expect(advance(MAX, 3)).toBe(2);
    expect(advance(5, 0)).toBe(5);
  });

  it('measure the distance between two values across the wrap', () => {
    expect(distance(0, 0)).toBe(0);
    expect(distance(3, 10)).toBe(7);
    expect(distance(MAX, 0)).toBe(1);
    expect(distance(MAX - 1, 2)).toBe(4);
    // Going backwards reads as almost a full turn: never a small count.
    expect(distance(10, 9)).toBe(MAX);
  });

  it('read h as xs:unsignedInt and nothing else', () => {
    expect(parseCounter('0')).toBe(0);
    expect(parseCounter('17')).toBe(17);
    expect(parseCounter(' 5 ')).toBe(5);
    expect(parseCounter(String(MAX))).toBe(MAX);
    expect(parseCounter(String(COUNTER_MODULUS))).toBeUndefined();
    expect(parseCounter('99999999999')).toBeUndefined();
    for (const bad of [undefined, '', '-1', '+1', '1.5', '1e3', '0x10', 'ten']) {
      expect(parseCounter(bad), String(bad)).toBeUndefined();
    }
  });
});
