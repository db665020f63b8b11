/** One key's count as a throttle store keeps it. */
export interface ThrottleRecord {
  count: number;
  /** When the latest event was counted (ms since the epoch, the counting node's clock). */
  lastAt: number;
  /** When the store forgets the key. */
  expiresAt: number;
}

/** How a store keeps one key's count. */
export interface CountRule {
  /** How long the count lives: from its latest event (`sliding`) or from its first. */
  ttlMs: number;
  sliding: boolean;
  /** Once the count reaches `limit`, the key lives at least `holdMs` from that event on. */
  limit?: number;
  holdMs?: number;
}

/**
 * Where failure counts live: in this process, or in Redis so that every node of a cluster sees the
 * same counts. Keys arrive already opaque (the caller hashes them); stores never log them.
 */
export interface ThrottleStore {
  get(key: string, now: number): Promise<ThrottleRecord | undefined>;
  /** Counts one more event under `key` and returns the new record. */
  add(key: string, rule: CountRule, now: number): Promise<ThrottleRecord>;
  delete(key: string): Promise<void>;
  /** Forgets every key (tests, operators). */
  clear(): Promise<void>;
  close?(): Promise<void>;
}

/** Counts in this process: a map bounded to `maxEntries`, dropping the least recently counted key. */
export class MemoryThrottleStore implements ThrottleStore {
  // Map iteration order is insertion order, which add() keeps equal to recency.
  private readonly entries = new Map<string, ThrottleRecord>();
  private readonly maxEntries: number;

  constructor(maxEntries = 100_000) {
    this.maxEntries = Math.max(1, maxEntries);
  }

  async get(key: string, now: number): Promise<ThrottleRecord | undefined> {
    const record = this.current(key, now);
    return record ? { ...record } : undefined;
  }

  async add(key: string, rule: CountRule, now: number): Promise<ThrottleRecord> {
    const previous = this.current(key, now);
    const count = (previous?.count ?? 0) + 1;
    let expiresAt = previous && !rule.sliding ? previous.expiresAt : now + rule.ttlMs;
    if (rule.limit !== undefined && count >= rule.limit)
      expiresAt = Math.max(expiresAt, now + (rule.holdMs ?? 0));
    const record = { count, lastAt: now, expiresAt };
    this.entries.delete(key);
    this.entries.set(key, record);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return { ...record };
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async clear(): Promise<void> {
    this.entries.clear();
  }

  /** Number of keys currently kept (never the keys themselves). */
  get size(): number {
    return this.entries.size;
  }

  private current(key: string, now: number): ThrottleRecord | undefined {
    const record = this.entries.get(key);
    if (record && now >= record.expiresAt) {
      this.entries.delete(key);
      return undefined;
    }
    return record;
  }
}

export interface AuthThrottlePolicy {
  /** Failures of one account from one address that cost nothing. */
  freeAttempts: number;
  /** Wait after the first failure beyond the free ones; doubles with each further failure. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** An (account, address) pair's failures are forgotten this long after its latest failure. */
  windowMs: number;
  /** Failures from one address (for any accounts) within `addressWindowMs` that block the address. */
  addressFailures: number;
  addressWindowMs: number;
  /** How long a blocked address stays blocked, from the failure that reached the limit. */
  addressBlockMs: number;
}

export const DEFAULT_AUTH_THROTTLE: Readonly<AuthThrottlePolicy> = {
  freeAttempts: 3,
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  windowMs: 15 * 60_000,
  // ejabberd's mod_fail2ban bans after 20 failures; one NAT of honest users typing a password
  // wrong now and then stays far below 20 a minute.
  addressFailures: 20,
  addressWindowMs: 60_000,
  addressBlockMs: 5 * 60_000,
};

export interface AuthThrottleOptions extends Partial<AuthThrottlePolicy> {
  /** Where counts live (default: this process, at most `maxEntries` keys). */
  store?: ThrottleStore;
  maxEntries?: number;
  /** Called when the store fails; the throttle then counts in this process until it works again. */
  onStoreError?: (err: unknown) => void;
  now?: () => number;
}

/**
 * Who a login attempt is throttled as. `pair` names the account and the network it comes from;
 * `address` names the network alone and is left out for trusted (exempt) or unknown addresses.
 * Both are opaque to the throttle: the caller decides what they contain and hashes them.
 */
export interface ThrottleKeys {
  pair: string;
  address?: string | undefined;
}

/**
 * Failed-login throttling that an attacker cannot turn against other users:
 *
 * - per (account, address): exponential backoff after a few free failures, cleared by a success, so
 *   guessing one account from one address gets slow while the same account logs in from anywhere
 *   else, and other accounts from the same address, as usual;
 * - per address: a failure rate (default 20 a minute) no NAT of honest users reaches, beyond which
 *   the address is refused for a while, for every account.
 *
 * There is deliberately no per-account lock on its own: it would let anyone keep a user out by
 * guessing their password from elsewhere. Pure bookkeeping over a store; the caller decides how to
 * make a client wait.
 */
export class AuthThrottle {
  readonly policy: Readonly<AuthThrottlePolicy>;
  private readonly store: ThrottleStore;
  private readonly local: MemoryThrottleStore;
  private readonly now: () => number;
  private readonly onStoreError: (err: unknown) => void;

  constructor(opts: AuthThrottleOptions = {}) {
    const { store, maxEntries, onStoreError, now, ...policy } = opts;
    this.policy = { ...DEFAULT_AUTH_THROTTLE, ...definedOnly(policy) };
    this.local = new MemoryThrottleStore(maxEntries);
    this.store = store ?? this.local;
    this.now = now ?? Date.now;
    this.onStoreError = onStoreError ?? (() => {});
  }

  /** Milliseconds the client must still wait before another attempt; 0 = allowed now. */
  async check(keys: ThrottleKeys): Promise<number> {
    const now = this.now();
    const [pair, address] = await Promise.all([
      this.use((store) => store.get(pairKey(keys.pair), now)),
      keys.address === undefined ? undefined : this.use((store) => store.get(addressKey(keys.address!), now)),
    ]);
    let wait = 0;
    if (pair) wait = Math.max(wait, pair.lastAt + this.delayAfter(pair.count) - now);
    if (address && address.count >= this.policy.addressFailures)
      wait = Math.max(wait, address.expiresAt - now);
    return Math.max(0, wait);
  }

  /** Counts a failed attempt (wrong password, unknown user) for the pair and the address. */
  async failed(keys: ThrottleKeys): Promise<void> {
    const now = this.now();
    const { windowMs, addressWindowMs, addressFailures, addressBlockMs } = this.policy;
    await Promise.all([
      this.use((store) => store.add(pairKey(keys.pair), { ttlMs: windowMs, sliding: true }, now)),
      keys.address === undefined
        ? undefined
        : this.use((store) =>
            store.add(
              addressKey(keys.address!),
              { ttlMs: addressWindowMs, sliding: false, limit: addressFailures, holdMs: addressBlockMs },
              now,
            ),
          ),
    ]);
  }

  /** A success clears the pair's failures; the address's count stays (one valid login proves nothing about the others). */
  async succeeded(keys: ThrottleKeys): Promise<void> {
    await this.use((store) => store.delete(pairKey(keys.pair)));
  }

  /** Forgets every count. */
  async reset(): Promise<void> {
    await Promise.all([this.local.clear(), this.store === this.local ? undefined : this.store.clear()]);
  }

  async close(): Promise<void> {
    await this.store.close?.();
  }

  private async use<T>(operation: (store: ThrottleStore) => Promise<T>): Promise<T> {
    if (this.store === this.local) return operation(this.local);
    try {
      return await operation(this.store);
    } catch (err) {
      // Shared counts are unreachable: keep throttling with this node's own rather than not at all.
      this.onStoreError(err);
      return operation(this.local);
    }
  }

  private delayAfter(failures: number): number {
    const penalized = failures - this.policy.freeAttempts;
    if (penalized <= 0) return 0;
    // Capping the exponent keeps 2 ** n finite however many failures pile up.
    return Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** Math.min(penalized - 1, 52));
  }
}

const pairKey = (key: string) => `pair:${key}`;
const addressKey = (key: string) => `addr:${key}`;

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
