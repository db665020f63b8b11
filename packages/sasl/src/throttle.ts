export interface AuthThrottleOptions {
  /** Failures per key that cost nothing. */
  freeAttempts?: number;
  /** Delay after the first failure beyond the free ones; doubles with each further failure. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A key's failures are forgotten this long after its last failure. */
  windowMs?: number;
  /** Keys tracked at most; the least recently failed are dropped first. */
  maxEntries?: number;
  now?: () => number;
}

interface Failures {
  count: number;
  lastFailureAt: number;
}

/**
 * Exponential backoff for failed logins, per key (e.g. `user:alice`, `addr:203.0.113.7`). Pure
 * bookkeeping: the caller decides what to key on and how to make a client wait. Keys stay private
 * to the instance; nothing here logs or returns them.
 */
export class AuthThrottle {
  private readonly freeAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly windowMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  // Map iteration order is insertion order, which fail() keeps equal to recency of failure.
  private readonly entries = new Map<string, Failures>();

  constructor(opts: AuthThrottleOptions = {}) {
    this.freeAttempts = opts.freeAttempts ?? 3;
    this.baseDelayMs = opts.baseDelayMs ?? 1000;
    this.maxDelayMs = opts.maxDelayMs ?? 60_000;
    this.windowMs = opts.windowMs ?? 15 * 60_000;
    this.maxEntries = Math.max(1, opts.maxEntries ?? 100_000);
    this.now = opts.now ?? Date.now;
  }

  /** Milliseconds the caller must still wait before another attempt for these keys; 0 = allowed. */
  check(keys: string[]): number {
    const now = this.now();
    let wait = 0;
    for (const key of keys) {
      const entry = this.current(key, now);
      if (entry) wait = Math.max(wait, entry.lastFailureAt + this.delayAfter(entry.count) - now);
    }
    return wait;
  }

  fail(keys: string[]): void {
    const now = this.now();
    for (const key of keys) {
      const count = (this.current(key, now)?.count ?? 0) + 1;
      this.entries.delete(key);
      this.entries.set(key, { count, lastFailureAt: now });
    }
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  succeed(keys: string[]): void {
    for (const key of keys) this.entries.delete(key);
  }

  /** Number of keys currently tracked (never the keys themselves). */
  get size(): number {
    return this.entries.size;
  }

  private current(key: string, now: number): Failures | undefined {
    const entry = this.entries.get(key);
    if (entry && now - entry.lastFailureAt >= this.windowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private delayAfter(failures: number): number {
    const penalized = failures - this.freeAttempts;
    if (penalized <= 0) return 0;
    // Capping the exponent keeps 2 ** n finite however many failures pile up.
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(penalized - 1, 52));
  }
}
