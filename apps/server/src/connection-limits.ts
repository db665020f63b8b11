import net from 'node:net';

export interface ConnectionLimitOptions {
  /** Open connections on this node, WebSocket and TCP together (0: no limit). */
  maxConnections: number;
  /** Open connections from one source address (0: no limit). */
  maxPerAddress: number;
  /** New connections per second from one source address, with a burst of as many (0: no limit). */
  ratePerAddress: number;
}

/** Why a connection was refused; `message` is for the client (HTTP body or stream error text). */
export interface Refusal {
  reason: 'total' | 'address' | 'rate';
  message: string;
}

export type Admission = { ok: true; release: () => void } | { ok: false; refusal: Refusal };

interface AddressState {
  open: number;
  /** New-connection tokens left, refilled at `ratePerAddress` a second up to `ratePerAddress`. */
  tokens: number;
  refilledAt: number;
}

/**
 * Admission control for client connections, shared by the WebSocket and TCP endpoints: a cap on
 * open connections per node, and per source address a cap on open connections and a token bucket
 * for new ones. An address's entry holds three numbers and lives only while it has connections
 * open or tokens to refill, so a flood of addresses costs little more than the connections it is
 * allowed to open.
 */
export class ConnectionLimits {
  private open = 0;
  private readonly addresses = new Map<string, AddressState>();
  private sweptAt = 0;

  constructor(
    private readonly options: ConnectionLimitOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Open connections counted now (for tests and metrics). */
  get total(): number {
    return this.open;
  }

  /**
   * Counts a new connection from `address` unless a limit refuses it. The caller must call
   * `release` exactly once when an admitted connection closes.
   */
  admit(address: string | undefined): Admission {
    const { maxConnections, maxPerAddress, ratePerAddress } = this.options;
    if (maxConnections > 0 && this.open >= maxConnections) {
      return { ok: false, refusal: { reason: 'total', message: 'This server is at its connection limit' } };
    }
    const now = this.now();
    this.sweep(now);
    const key = addressKey(address);
    let state = this.addresses.get(key);
    if (state === undefined) {
      state = { open: 0, tokens: ratePerAddress, refilledAt: now };
      this.addresses.set(key, state);
    } else if (ratePerAddress > 0) {
      state.tokens = Math.min(
        ratePerAddress,
        state.tokens + ((now - state.refilledAt) / 1000) * ratePerAddress,
      );
      state.refilledAt = now;
    }
    if (maxPerAddress > 0 && state.open >= maxPerAddress) {
      return {
        ok: false,
        refusal: { reason: 'address', message: 'Too many connections from your network address' },
      };
    }
    if (ratePerAddress > 0) {
      if (state.tokens < 1) {
        return {
          ok: false,
          refusal: { reason: 'rate', message: 'Too many new connections from your network address' },
        };
      }
      state.tokens -= 1;
    }
    state.open++;
    this.open++;
    let released = false;
    const counted = state;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.open--;
        counted.open--;
      },
    };
  }

  /** Forgets addresses with nothing open and a full bucket; runs at most once a second. */
  private sweep(now: number): void {
    if (now - this.sweptAt < 1000) return;
    this.sweptAt = now;
    const rate = this.options.ratePerAddress;
    for (const [key, state] of this.addresses) {
      if (state.open > 0) continue;
      const tokens = rate > 0 ? state.tokens + ((now - state.refilledAt) / 1000) * rate : rate;
      if (tokens >= rate) this.addresses.delete(key);
    }
  }
}

/**
 * The key one source counts under: an IPv4 address as it is (also when written as IPv4-mapped
 * IPv6), an IPv6 address by its /64 — the smallest network a single host is usually given, so one
 * host cannot escape the limits by rotating through its own addresses.
 */
export function addressKey(address: string | undefined): string {
  if (address === undefined || address === '') return '?';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!net.isIPv6(address)) return address;
  const groups = expandIPv6(address.split('%')[0]!);
  return groups === undefined ? address : `${groups.slice(0, 4).join(':')}::/64`;
}

function expandIPv6(address: string): string[] | undefined {
  const [head, tail] = address.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':'));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  // An embedded IPv4 tail (::ffff:… handled above, or other forms) counts as two groups.
  const last = right.length > 0 ? right : left;
  if (last.length > 0 && last[last.length - 1]!.includes('.')) {
    const v4 = last.pop()!.split('.').map(Number);
    last.push(((v4[0]! << 8) | v4[1]!).toString(16), ((v4[2]! << 8) | v4[3]!).toString(16));
  }
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 0) return undefined;
  const groups = [...left, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...right];
  return groups.map((group) => Number.parseInt(group, 16).toString(16));
}
