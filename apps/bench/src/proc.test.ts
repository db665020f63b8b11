import { describe, expect, it } from 'vitest';
import {
  checkPids,
  ownCpuSeconds,
  parseProcStat,
  parseProcStatus,
  ServerMonitor,
  sampleProcesses,
} from './proc.js';

const STAT =
  '4242 (node (worker) x) S 1 4242 4242 0 -1 4194304 9000 0 12 0 1234 567 0 0 20 0 11 0 5000 1000000 20000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0';

describe('parseProcStat', () => {
  it('counts fields from the last parenthesis, so odd command names do not shift them', () => {
    expect(parseProcStat(STAT)).toEqual({ cpuSeconds: (1234 + 567) / 100, threads: 11 });
  });

  it('rejects text that is not a stat line', () => {
    expect(() => parseProcStat('nonsense')).toThrow(/unrecognised/);
    expect(() => parseProcStat('1 (x) S')).toThrow(/unrecognised/);
  });
});

describe('parseProcStatus', () => {
  it('reads VmRSS and VmHWM in bytes', () => {
    const text = 'Name:\tnode\nVmPeak:\t 999 kB\nVmHWM:\t   2048 kB\nVmRSS:\t   1024 kB\nThreads:\t11\n';
    expect(parseProcStatus(text)).toEqual({ rssBytes: 1024 * 1024, peakRssBytes: 2048 * 1024 });
  });

  it('fails clearly when a field is missing (e.g. a zombie process)', () => {
    expect(() => parseProcStatus('Name:\tnode\n')).toThrow(/VmRSS/);
  });
});

describe('sampling /proc', () => {
  it('samples this very process and adds several processes up', async () => {
    let spin = 0;
    for (let i = 0; i < 2_000_000; i++) spin += i % 7;
    expect(spin).toBeGreaterThan(0);
    const one = await sampleProcesses([process.pid]);
    expect(one.processes).toHaveLength(1);
    expect(one.cpuSeconds).toBeGreaterThan(0);
    expect(one.rssBytes).toBeGreaterThan(1024 * 1024);
    const twice = await sampleProcesses([process.pid, process.pid]);
    expect(twice.rssBytes).toBeGreaterThan(one.rssBytes);
  });

  it('tracks the peak RSS between samples and reports being disabled without pids', async () => {
    const monitor = new ServerMonitor([process.pid]);
    const sample = await monitor.sample();
    expect(monitor.peakRssBytes).toBe(sample!.rssBytes);
    expect(await new ServerMonitor([]).sample()).toBeUndefined();
    expect(new ServerMonitor([]).enabled).toBe(false);
  });

  it('refuses a pid that does not exist', async () => {
    await expect(checkPids([2 ** 22 + 12345])).rejects.toThrow(/no such process/);
  });

  it('reads its own CPU time', () => {
    expect(ownCpuSeconds()).toBeGreaterThan(0);
  });
});
