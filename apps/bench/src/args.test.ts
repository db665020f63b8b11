import { describe, expect, it } from 'vitest';
import { helpText, parseArgs, UsageError, validateOptions } from './args.js';

describe('parseArgs', () => {
  it('fills in the documented defaults', () => {
    const o = parseArgs(['messages']);
    expect(o).toMatchObject({
      scenario: 'messages',
      ws: 'ws://127.0.0.1:5280/xmpp-websocket',
      ws2: undefined,
      domain: 'localhost',
      users: 1000,
      pairs: 500,
      window: 10,
      duration: 20,
      rate: undefined,
      contacts: 500,
      concurrency: 50,
      hold: 10,
      serverPids: [],
      provision: 'auto',
      mech: 'auto',
      to: 'bare',
      json: false,
    });
  });

  it('takes values after a space or an equals sign, flags without a value', () => {
    const o = parseArgs(['connect', '--users', '10000', '--ws=ws://h:1/x', '--json', '--rate', '2500.5']);
    expect(o.users).toBe(10_000);
    expect(o.ws).toBe('ws://h:1/x');
    expect(o.json).toBe(true);
    expect(o.rate).toBe(2500.5);
  });

  it('collects --server-pid from repeats and comma lists', () => {
    expect(parseArgs(['x', '--server-pid', '12,13', '--server-pid=14']).serverPids).toEqual([12, 13, 14]);
  });

  it('rejects what it cannot use, naming the option', () => {
    const bad: Array<[string[], RegExp]> = [
      [['x', '--nope'], /unknown option --nope/],
      [['x', '--users'], /--users needs a value/],
      [['x', '--users', '1.5'], /--users must be an integer/],
      [['x', '--users', 'many'], /--users must be an integer/],
      [['x', '--users', '0'], /at least 1/],
      [['x', '--provision', 'magic'], /one of auto, register, cli, none/],
      [['x', '--server-pid', 'abc'], /process id/],
      [['x', '--json=yes'], /takes no value/],
      [['x', '--users', '1', '--users', '2'], /more than once/],
      [['a', 'b'], /one scenario at a time/],
    ];
    for (const [argv, message] of bad) expect(() => parseArgs(argv)).toThrow(message);
    expect(() => parseArgs(['x', '--nope'])).toThrow(UsageError);
  });

  it('validates endpoints and account names before a run', () => {
    expect(() => validateOptions(parseArgs(['x', '--ws', 'http://h/x']))).toThrow(/ws:\/\/ or wss:\/\//);
    expect(() => validateOptions(parseArgs(['x', '--ws2', 'nope']))).toThrow(/--ws2/);
    expect(() => validateOptions(parseArgs(['x', '--user-prefix', 'a b']))).toThrow(/--user-prefix/);
    expect(() => validateOptions(parseArgs(['x', '--ws', 'wss://h/x']))).not.toThrow();
  });

  it('documents every option and scenario in the help text', () => {
    const text = helpText([{ name: 'messages', summary: 'pairs' }]);
    expect(text).toContain('messages');
    for (const option of ['--ws ', '--server-pid PID', '--json', '--provision', '--rate'])
      expect(text).toContain(option);
  });
});
