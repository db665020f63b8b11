import { describe, expect, it } from 'vitest';
import { AuthThrottle, MemoryThrottleStore, type ThrottleStore } from './throttle.js';

function clock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

/** Keys the way the server builds them: the account with its network, and the network alone. */
const from = (account: string, address: string) => ({ pair: `${account}@${address}`, address });

describe('AuthThrottle, per account and address', () => {
  it('allows the free attempts, then doubles the delay up to the maximum', async () => {
    const time = clock();
    const throttle = new AuthThrottle({
      freeAttempts: 3,
      baseDelayMs: 1000,
      maxDelayMs: 8000,
      now: time.now,
    });
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      await throttle.failed(from('alice', 'a'));
      delays.push(await throttle.check(from('alice', 'a')));
    }
    expect(delays).toEqual([0, 0, 0, 1000, 2000, 4000, 8000, 8000]);
  });

  it('counts down the remaining wait', async () => {
    const time = clock();
    const throttle = new AuthThrottle({ freeAttempts: 0, baseDelayMs: 1000, now: time.now });
    await throttle.failed(from('alice', 'a'));
    expect(await throttle.check(from('alice', 'a'))).toBe(1000);
    time.advance(400);
    expect(await throttle.check(from('alice', 'a'))).toBe(600);
    time.advance(600);
    expect(await throttle.check(from('alice', 'a'))).toBe(0);
  });

  it('never locks an account out of other addresses, nor other accounts out of the failing address', async () => {
    const time = clock();
    const throttle = new AuthThrottle({ freeAttempts: 0, baseDelayMs: 1000, now: time.now });
    // An attacker guesses alice's password from two addresses.
    for (let i = 0; i < 5; i++) await throttle.failed(from('alice', 'attacker-1'));
    for (let i = 0; i < 5; i++) await throttle.failed(from('alice', 'attacker-2'));
    expect(await throttle.check(from('alice', 'attacker-1'))).toBeGreaterThan(0);
    // Alice herself, from her own address, is not held up.
    expect(await throttle.check(from('alice', 'home'))).toBe(0);
    // Nor is bob behind the attacker's address (below the address threshold).
    expect(await throttle.check(from('bob', 'attacker-1'))).toBe(0);
  });

  it('clears the pair on success, but not the address', async () => {
    const time = clock();
    const throttle = new AuthThrottle({
      freeAttempts: 1,
      baseDelayMs: 1000,
      addressFailures: 6,
      now: time.now,
    });
    for (let i = 0; i < 4; i++) await throttle.failed(from('alice', 'a'));
    expect(await throttle.check(from('alice', 'a'))).toBe(4000);
    await throttle.succeeded(from('alice', 'a'));
    expect(await throttle.check(from('alice', 'a'))).toBe(0);
    await throttle.failed(from('alice', 'a'));
    expect(await throttle.check(from('alice', 'a'))).toBe(0);
    expect(await throttle.check(from('carol', 'a'))).toBe(0);
    // The sixth failure from the address blocks it, the success before notwithstanding.
    await throttle.failed(from('dave', 'a'));
    expect(await throttle.check(from('carol', 'a'))).toBeGreaterThan(0);
  });

  it("forgets a pair's failures a window after the last one, but not while they keep coming", async () => {
    const time = clock();
    const throttle = new AuthThrottle({
      freeAttempts: 1,
      baseDelayMs: 1000,
      windowMs: 10_000,
      now: time.now,
    });
    const keys = { pair: 'k' };
    await throttle.failed(keys);
    await throttle.failed(keys);
    time.advance(9_000);
    await throttle.failed(keys);
    expect(await throttle.check(keys)).toBe(2000);
    time.advance(9_999);
    expect(await throttle.check(keys)).toBe(0);
    await throttle.failed(keys);
    expect(await throttle.check(keys)).toBe(4000);
    time.advance(10_000);
    expect(await throttle.check(keys)).toBe(0);
    await throttle.failed(keys);
    await throttle.failed(keys);
    expect(await throttle.check(keys)).toBe(1000);
  });
});

describe('AuthThrottle, per address', () => {
  it('blocks an address for every account once it reaches the failure rate, for the block time', async () => {
    const time = clock();
    const throttle = new AuthThrottle({
      addressFailures: 20,
      addressWindowMs: 60_000,
      addressBlockMs: 300_000,
      now: time.now,
    });
    // Twenty users behind one NAT each mistype once: the twentieth failure reaches the limit.
    for (let i = 0; i < 19; i++) await throttle.failed(from(`user${i}`, 'nat'));
    expect(await throttle.check(from('someone', 'nat'))).toBe(0);
    await throttle.failed(from('user19', 'nat'));
    expect(await throttle.check(from('someone', 'nat'))).toBe(300_000);
    expect(await throttle.check(from('someone', 'elsewhere'))).toBe(0);
    time.advance(299_999);
    expect(await throttle.check(from('someone', 'nat'))).toBe(1);
    time.advance(1);
    expect(await throttle.check(from('someone', 'nat'))).toBe(0);
  });

  it('counts failures in a fixed window, so a steady trickle of typos never adds up', async () => {
    const time = clock();
    const throttle = new AuthThrottle({ addressFailures: 3, addressWindowMs: 60_000, now: time.now });
    for (let minute = 0; minute < 30; minute++) {
      await throttle.failed(from(`user${minute}`, 'nat'));
      await throttle.failed(from(`other${minute}`, 'nat'));
      expect(await throttle.check(from('someone', 'nat'))).toBe(0);
      time.advance(60_000);
    }
  });

  it('leaves out an exempt or unknown address (no address key): only the pair counts', async () => {
    const time = clock();
    const throttle = new AuthThrottle({ addressFailures: 2, freeAttempts: 3, now: time.now });
    for (let i = 0; i < 10; i++) await throttle.failed({ pair: `user${i}@trusted` });
    expect(await throttle.check({ pair: 'someone@trusted' })).toBe(0);
  });
});

describe('AuthThrottle stores', () => {
  it('keeps at most maxEntries keys in memory, dropping the least recently counted', async () => {
    const time = clock();
    const store = new MemoryThrottleStore(3);
    const rule = { ttlMs: 60_000, sliding: true };
    for (const key of ['a', 'b', 'c', 'a', 'd']) await store.add(key, rule, time.now());
    expect(store.size).toBe(3);
    expect(await store.get('b', time.now())).toBeUndefined();
    expect((await store.get('a', time.now()))?.count).toBe(2);
    for (let i = 0; i < 1000; i++) await store.add(`addr:${i}`, rule, time.now());
    expect(store.size).toBe(3);
  });

  it('falls back to counting in this process when the shared store fails', async () => {
    const errors: unknown[] = [];
    const broken: ThrottleStore = {
      get: () => Promise.reject(new Error('down')),
      add: () => Promise.reject(new Error('down')),
      delete: () => Promise.reject(new Error('down')),
      clear: () => Promise.reject(new Error('down')),
    };
    const throttle = new AuthThrottle({
      store: broken,
      freeAttempts: 0,
      onStoreError: (err) => errors.push(err),
    });
    await throttle.failed(from('alice', 'a'));
    expect(await throttle.check(from('alice', 'a'))).toBeGreaterThan(0);
    expect(errors.length).toBeGreaterThan(0);
  });

  it('uses the documented defaults', async () => {
    const time = clock();
    const throttle = new AuthThrottle({ now: time.now });
    for (let i = 0; i < 3; i++) await throttle.failed({ pair: 'k' });
    expect(await throttle.check({ pair: 'k' })).toBe(0);
    await throttle.failed({ pair: 'k' });
    expect(await throttle.check({ pair: 'k' })).toBe(1000);
    for (let i = 0; i < 100; i++) await throttle.failed({ pair: 'k' });
    expect(await throttle.check({ pair: 'k' })).toBe(60_000);
    time.advance(15 * 60_000);
    expect(await throttle.check({ pair: 'k' })).toBe(0);
    expect(throttle.policy).toMatchObject({ addressFailures: 20, addressWindowMs: 60_000 });
  });

  it('exposes no way to read the keys back', async () => {
    const throttle = new AuthThrottle();
    await throttle.failed({ pair: 'secret-name', address: 'secret-address' });
    expect(JSON.stringify(throttle)).not.toContain('secret-name');
    expect(String(throttle)).not.toContain('secret-address');
  });
});
