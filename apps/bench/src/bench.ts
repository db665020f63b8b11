import os from 'node:os';
import { type BenchOptions, UsageError, validateOptions } from './args.js';
import { KeyCache } from './key-cache.js';
import { checkPids, ServerMonitor } from './proc.js';
import { Progress } from './progress.js';
import type { Row } from './scenario.js';
import { findScenario } from './scenarios/index.js';

export interface BenchResult {
  scenario: string;
  command: string[];
  startedAt: string;
  seconds: number;
  machine: { cpus: number; cpuModel: string; memoryBytes: number; node: string; platform: string };
  target: { ws: string; ws2: string | null; domain: string; serverPids: number[] };
  options: BenchOptions;
  results: Record<string, unknown>;
  tool: { cpuSeconds: number; peakRssBytes: number };
  rows: Row[];
}

/** Runs one scenario as the CLI would, returning every figure (the CLI prints them). */
export async function runBench(
  options: BenchOptions,
  command: string[] = process.argv,
): Promise<BenchResult> {
  validateOptions(options);
  const scenario = findScenario(options.scenario);
  if (!scenario) throw new UsageError(`unknown scenario "${options.scenario}"`);
  await checkPids(options.serverPids);
  const keyCache = new KeyCache(
    options.keyCache === 'none' ? undefined : (options.keyCache ?? KeyCache.defaultFile()),
  );
  await keyCache.load();
  const progress = new Progress(scenario.name, options.quiet);
  const monitor = new ServerMonitor(options.serverPids);
  const startedAt = new Date();
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  try {
    const report = await scenario.run({ options, progress, monitor, keyCache });
    const cpu = process.cpuUsage(cpuBefore);
    const cpus = os.cpus();
    return {
      scenario: scenario.name,
      command,
      startedAt: startedAt.toISOString(),
      seconds: (performance.now() - started) / 1000,
      machine: {
        cpus: cpus.length,
        cpuModel: cpus[0]?.model ?? 'unknown',
        memoryBytes: os.totalmem(),
        node: process.version,
        platform: `${os.type()} ${os.release()}`,
      },
      target: {
        ws: options.ws,
        ws2: options.ws2 ?? null,
        domain: options.domain,
        serverPids: options.serverPids,
      },
      options,
      results: report.results,
      tool: {
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        peakRssBytes: process.resourceUsage().maxRSS * 1024,
      },
      rows: report.rows,
    };
  } finally {
    monitor.stop();
    progress.end();
    await keyCache.save().catch(() => {});
  }
}
