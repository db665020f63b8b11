import { describe, expect, it } from 'vitest';
import { AuthThrottle } from './throttle.js';

function clock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('AuthThrottle', () => {
  it('allows the free attempts, then doubles the delay up to the maximum', () => {
    const time = clock();
    const throttle = new AuthThrottle({
      freeAttempts: 3,
      baseDelayMs: 1000,
      maxDelayMs: 8000,
      now: time.now,
    });
    const keys = ['user:alice'];
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      throttle.fail(keys);
      delays.push(throttle.check(keys));
    }
    expect(delays).toEqual([0, 0, 0, 1000, 2000, 4000, 8000, 8000]);
  });

  it('counts down the remaining wait', () => {
    const time = clock();
    const throttle = new AuthThrottle({ freeAttempts: 0, baseDelayMs: 1000, now: time.now });
    throttle.fail(['addr:203.0.113.7']);
    expect(throttle.check(['addr:203.0.113.7'])).toBe(1000);
    time.advance(400);
    expect(throttle.check(['addr:203.0.113.7'])).toBe(600);
    time.advance(600);
    expect(throttle.check(['addr:203.0.113.7'])).toBe(0);
  });

  it('reports the longest wait among the keys and keeps keys independent', () => {
    const time = clock();
    const throttle = new AuthThrottle({ freeAttempts: 0, baseDelayMs: 1000, now: time.now });
    throttle.fail(['user:alice', 'addr:a']);
    throttle.fail(['user:alice', 'addr:b']);
    expect(throttle.check(['user:alice'])).toBe(2000);
    expect(throttle.check(['addr:a'])).toBe(1000);
    expect(throttle.check(['user:bob', 'addr:a'])).toBe(1000);
    expect(throttle.check(['user:bob', 'addr:c'])).toBe(0);
    expect(throttle.check([])).toBe(0);
  });

  it('forgets a key on success', () => {
    const time = clock();
    const throttle = new AuthThrottle({ freeAttempts: 1, baseDelayMs: 1000, now: time.now });
    for (let i = 0; i < 4; i++) throttle.fail(['user:alice']);
    expect(throttle.check(['user:alice'])).toBe(4000);
    throttle.succeed(['user:alice']);
    expect(throttle.check(['user:alice'])).toBe(0);
    throttle.fail(['user:alice']);
    expect(throttle.check(['user:alice'])).toBe(0);
  });

  it('forgets failures a window after the last one, but not while they keep coming', () => {
    const time = clock();
    const throttle = new AuthThrottle({
      freeAttempts: 1,
      baseDelayMs: 1000,
      windowMs: 10_000,
      now: time.now,
    });
    throttle.fail(['k']);
    throttle.fail(['k']);
    time.advance(9_000);
    throttle.fail(['k']);
    expect(throttle.check(['k'])).toBe(2000);
    time.advance(9_999);
    expect(throttle.check(['k'])).toBe(0);
    throttle.fail(['k']);
    expect(throttle.check(['k'])).toBe(4000);
    time.advance(10_000);
    expect(throttle.check(['k'])).toBe(0);
    expect(throttle.size).toBe(0);
    throttle.fail(['k']);
    throttle.fail(['k']);
    expect(throttle.check(['k'])).toBe(1000);
  });

  it('keeps at most maxEntries keys, dropping the least recently failed', () => {
    const time = clock();
    const throttle = new AuthThrottle({ freeAttempts: 0, baseDelayMs: 1000, maxEntries: 3, now: time.now });
    throttle.fail(['a']);
    throttle.fail(['b']);
    throttle.fail(['c']);
    throttle.fail(['a']);
    throttle.fail(['d']);
    expect(throttle.size).toBe(3);
    expect(throttle.check(['b'])).toBe(0);
    expect(throttle.check(['a'])).toBe(2000);
    expect(throttle.check(['c'])).toBe(1000);
    expect(throttle.check(['d'])).toBe(1000);
    for (let i = 0; i < 1000; i++) throttle.fail([`addr:${i}`]);
    expect(throttle.size).toBe(3);
  });

  it('uses the documented defaults', () => {
    const time = clock();
    const throttle = new AuthThrottle({ now: time.now });
    for (let i = 0; i < 3; i++) throttle.fail(['k']);
    expect(throttle.check(['k'])).toBe(0);
    throttle.fail(['k']);
    expect(throttle.check(['k'])).toBe(1000);
    for (let i = 0; i < 100; i++) throttle.fail(['k']);
    expect(throttle.check(['k'])).toBe(60_000);
    time.advance(15 * 60_000);
    expect(throttle.check(['k'])).toBe(0);
  });

  it('exposes no way to read the keys back', () => {
    const throttle = new AuthThrottle();
    throttle.fail(['user:secret-name']);
    expect(JSON.stringify(throttle)).not.toContain('secret-name');
    expect(String(throttle)).not.toContain('secret-name');
  });
});
