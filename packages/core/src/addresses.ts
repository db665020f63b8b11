import { BlockList, isIP } from 'node:net';

/**
 * The network a client address stands for when counting what comes from it: IPv4 as is, IPv6 by its
 * /64 (one subscriber usually holds a whole /64), IPv4-mapped IPv6 as IPv4. `unknown` without one.
 */
export function networkKey(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  const lower = address.toLowerCase().replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped) return mapped[1]!;
  if (!lower.includes(':')) return lower;
  const groups = expandIPv6(lower);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : lower;
}

function expandIPv6(address: string): string[] | undefined {
  const halves = address.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string | undefined): string[] => {
    if (!part) return [];
    const groups = part.split(':');
    const last = groups[groups.length - 1]!;
    // A trailing dotted IPv4 part fills two groups.
    if (last.includes('.')) groups.splice(groups.length - 1, 1, '0', '0');
    return groups.map((g) => (Number.parseInt(g, 16) || 0).toString(16));
  };
  const head = parse(halves[0]);
  const tail = parse(halves[1]);
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  return [...head, ...Array<string>(missing).fill('0'), ...tail];
}

/**
 * A set of addresses and CIDR ranges, as operators write them in settings such as
 * `AUTH_THROTTLE_EXEMPT=127.0.0.1,10.0.0.0/8,fd00::/8`. IPv4-mapped IPv6 addresses match their IPv4
 * entries.
 */
export class AddressList {
  private constructor(
    private readonly list: BlockList,
    /** How many entries the list has. */
    readonly size: number,
  ) {}

  static readonly EMPTY = new AddressList(new BlockList(), 0);

  /** Parses a comma-separated list; an error names the first entry that is not an address or range. */
  static parse(text: string): { list: AddressList } | { error: string } {
    const entries = text
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    const list = new BlockList();
    for (const entry of entries) {
      const [address = '', prefix, ...rest] = entry.split('/');
      const version = isIP(address);
      if (version === 0 || rest.length > 0) return { error: `"${entry}" is not an IP address or CIDR range` };
      const type = version === 4 ? 'ipv4' : 'ipv6';
      if (prefix === undefined) {
        list.addAddress(address, type);
        continue;
      }
      const bits = Number(prefix);
      if (!/^\d{1,3}$/.test(prefix) || bits > (version === 4 ? 32 : 128)) {
        return { error: `"${entry}" has an invalid prefix length` };
      }
      list.addSubnet(address, bits, type);
    }
    return { list: new AddressList(list, entries.length) };
  }

  /** Whether the address is in the list (never for an unknown or malformed address). */
  has(address: string | undefined): boolean {
    if (address === undefined || this.size === 0) return false;
    const plain = address.replace(/%.*$/, '');
    const version = isIP(plain);
    if (version === 0) return false;
    return this.list.check(plain, version === 4 ? 'ipv4' : 'ipv6');
  }
}
