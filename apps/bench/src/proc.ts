import { readFile } from 'node:fs/promises';

/**
 * Server CPU and memory come from /proc so the figures need nothing from the server itself and work
 * for any server process (Strom, Prosody, ejabberd, Redis) on the same host.
 */

/** USER_HZ, the unit of utime/stime in /proc/<pid>/stat; 100 on every mainstream Linux platform. */
export const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcStat {
  /** User plus system CPU time of all threads, in seconds. */
  cpuSeconds: number;
  threads: number;
}

/** Parses /proc/<pid>/stat. The command name may contain spaces and parentheses, so fields are counted from the last ')'. */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  if (close === -1) throw new Error('unrecognised /proc/<pid>/stat');
  // After ") " come the fields from the 3rd (state) on; utime and stime are the 14th and 15th.
  const fields = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const threads = Number(fields[17]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('unrecognised /proc/<pid>/stat');
  return { cpuSeconds: (utime + stime) / CLOCK_TICKS_PER_SECOND, threads };
}

export interface ProcMemory {
  rssBytes: number;
  /** Peak resident set size of the process's life (VmHWM). */
  peakRssBytes: number;
}

/** Parses VmRSS and VmHWM out of /proc/<pid>/status. */
export function parseProcStatus(text: string): ProcMemory {
  const kib = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    if (!match) throw new Error(`no ${field} in /proc/<pid>/status`);
    return Number(match[1]) * 1024;
  };
  return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
}

export interface ProcessSample {
  at: number;
  cpuSeconds: number;
  rssBytes: number;
  /** Per process, in the order the pids were given. */
  processes: Array<{ pid: number; cpuSeconds: number; rssBytes: number; peakRssBytes: number }>;
}

export async function sampleProcess(pid: number): Promise<ProcessSample['processes'][number]> {
  const [stat, status] = await Promise.all([
    readFile(`/proc/${pid}/stat`, 'utf8'),
    readFile(`/proc/${pid}/status`, 'utf8'),
  ]);
  return { pid, ...parseProcStat(stat), ...parseProcStatus(status) };
}

/** Samples several processes (e.g. all nodes of a cluster) and adds their figures up. */
export async function sampleProcesses(pids: number[]): Promise<ProcessSample> {
  const processes = await Promise.all(pids.map(sampleProcess));
  return {
    at: performance.now(),
    cpuSeconds: processes.reduce((sum, p) => sum + p.cpuSeconds, 0),
    rssBytes: processes.reduce((sum, p) => sum + p.rssBytes, 0),
    processes,
  };
}

/**
 * Watches the server processes through a run: samples on demand, and in between every
 * `intervalMs` to keep the peak RSS (summed over processes) seen while the run was going on.
 */
export class ServerMonitor {
  private peakRss = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly pids: number[]) {}

  get enabled(): boolean {
    return this.pids.length > 0;
  }

  async sample(): Promise<ProcessSample | undefined> {
    if (!this.enabled) return undefined;
    const sample = await sampleProcesses(this.pids);
    if (sample.rssBytes > this.peakRss) this.peakRss = sample.rssBytes;
    return sample;
  }

  start(intervalMs = 250): void {
    if (!this.enabled || this.timer) return;
    this.timer = setInterval(() => {
      this.sample().catch(() => {});
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  get peakRssBytes(): number {
    return this.peakRss;
  }
}

/** Checks up front that every pid can be read, so a typo fails before a long run rather than after. */
export async function checkPids(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      await sampleProcess(pid);
    } catch {
      throw new Error(`--server-pid ${pid}: no such process readable in /proc`);
    }
  }
}

/** CPU time used by this process (all threads) in seconds, from process.cpuUsage(). */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}
