import { describe, expect, it } from 'vitest';
import { addressKey, ConnectionLimits } from './connection-limits.js';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return { now: () => time, advance: (ms) => (time += ms) };
}

describe('ConnectionLimits', () => {
  it('caps open connections per address, and admits again once one is released', () => {
    const limits = new ConnectionLimits({ maxConnections: 0, maxPerAddress: 2, ratePerAddress: 0 });
    const a = limits.admit('192.0.2.1');
    const b = limits.admit('192.0.2.1');
    expect(a.ok && b.ok).toBe(true);
    expect(limits.admit('192.0.2.1')).toMatchObject({ ok: false, refusal: { reason: 'address' } });
    expect(limits.admit('192.0.2.2').ok).toBe(true);
    if (a.ok) {
      a.release();
      a.release(); // twice counts once
    }
    expect(limits.admit('192.0.2.1').ok).toBe(true);
    expect(limits.admit('192.0.2.1').ok).toBe(false);
    expect(limits.total).toBe(3);
  });

  it('caps the total, whatever the address', () => {
    const limits = new ConnectionLimits({ maxConnections: 2, maxPerAddress: 0, ratePerAddress: 0 });
    expect(limits.admit('192.0.2.1').ok).toBe(true);
    expect(limits.admit('192.0.2.2').ok).toBe(true);
    expect(limits.admit('192.0.2.3')).toMatchObject({ ok: false, refusal: { reason: 'total' } });
  });

  it('lets an address open a burst of `rate` connections, then `rate` a second', () => {
    const time = clock();
    const limits = new ConnectionLimits({ maxConnections: 0, maxPerAddress: 0, ratePerAddress: 4 }, time.now);
    for (let i = 0; i < 4; i++) limits.admit('192.0.2.1');
    expect(limits.admit('192.0.2.1')).toMatchObject({ ok: false, refusal: { reason: 'rate' } });
    expect(limits.admit('192.0.2.9').ok).toBe(true);
    time.advance(500);
    expect(limits.admit('192.0.2.1').ok).toBe(true);
    expect(limits.admit('192.0.2.1').ok).toBe(true);
    expect(limits.admit('192.0.2.1').ok).toBe(false);
  });

  it('forgets addresses with nothing open once their bucket is full again', () => {
    const time = clock();
    const limits = new ConnectionLimits(
      { maxConnections: 0, maxPerAddress: 0, ratePerAddress: 10 },
      time.now,
    );
    for (let i = 0; i < 1000; i++) {
      const admission = limits.admit(`10.0.${i >> 8}.${i & 255}`);
      if (admission.ok) admission.release();
    }
    const held = limits.admit('192.0.2.1');
    time.advance(2000);
    limits.admit('192.0.2.2');
    const size = (limits as unknown as { addresses: Map<string, unknown> }).addresses.size;
    expect(size).toBe(2);
    expect(held.ok).toBe(true);
  });

  it('counts an IPv6 host by its /64 and an IPv4-mapped address as IPv4', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:DB8:0001:0002::9')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('64:ff9b::192.0.2.7')).toBe('64:ff9b:0:0::/64');
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey(undefined)).toBe('?');
  });
});
