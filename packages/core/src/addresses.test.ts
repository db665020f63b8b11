import { describe, expect, it } from 'vitest';
import { AddressList, networkKey } from './addresses.js';
import { resolveSettings, setting } from './settings.js';

describe('networkKey', () => {
  it('keys IPv4 by address, IPv6 by /64 and IPv4-mapped IPv6 as IPv4', () => {
    expect(networkKey('192.0.2.7')).toBe('192.0.2.7');
    expect(networkKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(networkKey('2001:db8:1:2:aaaa::1')).toBe(networkKey('2001:0db8:0001:0002:bbbb:cccc:dddd:eeee'));
    expect(networkKey('2001:db8:1:2::1')).not.toBe(networkKey('2001:db8:1:3::1'));
    expect(networkKey('::1')).toBe('0:0:0:0::/64');
    expect(networkKey(undefined)).toBe('unknown');
  });
});

describe('AddressList', () => {
  const parse = (text: string) => {
    const parsed = AddressList.parse(text);
    if ('error' in parsed) throw new Error(parsed.error);
    return parsed.list;
  };

  it('matches single addresses and CIDR ranges of both families', () => {
    const list = parse('127.0.0.1, 10.0.0.0/8,fd00::/8 ,2001:db8::5');
    expect(list.size).toBe(4);
    for (const address of ['127.0.0.1', '10.200.3.4', 'fd12:3456::1', '2001:db8::5']) {
      expect(list.has(address), address).toBe(true);
    }
    for (const address of ['127.0.0.2', '11.0.0.1', 'fe80::1', '2001:db8::6', undefined, 'nonsense']) {
      expect(list.has(address), String(address)).toBe(false);
    }
  });

  it('matches IPv4-mapped IPv6 addresses against IPv4 entries', () => {
    const list = parse('10.0.0.0/8');
    expect(list.has('::ffff:10.1.2.3')).toBe(true);
    expect(list.has('::ffff:192.0.2.1')).toBe(false);
  });

  it('is empty for an empty setting', () => {
    expect(parse('').size).toBe(0);
    expect(AddressList.EMPTY.has('127.0.0.1')).toBe(false);
  });

  it('names the entry it cannot read', () => {
    for (const [text, bad] of [
      ['127.0.0.1,example.org', 'example.org'],
      ['10.0.0.0/33', '10.0.0.0/33'],
      ['10.0.0.0/', '10.0.0.0/'],
      ['::1/129', '::1/129'],
      ['1.2.3.4/8/9', '1.2.3.4/8/9'],
    ] as const) {
      const parsed = AddressList.parse(text);
      expect('error' in parsed && parsed.error, text).toContain(bad);
    }
  });

  it('is a setting type that reports bad values by name', () => {
    const spec = { exempt: setting.addresses('TEST_EXEMPT') };
    const errors: string[] = [];
    const ok = resolveSettings(spec, { TEST_EXEMPT: '192.0.2.0/24' }, errors);
    expect(ok.exempt.has('192.0.2.9')).toBe(true);
    resolveSettings(spec, { TEST_EXEMPT: 'localhost' }, errors);
    expect(errors).toEqual([expect.stringContaining('TEST_EXEMPT must list IP addresses')]);
  });
});
