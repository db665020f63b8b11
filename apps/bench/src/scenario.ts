import type { BenchOptions } from './args.js';
import type { KeyCache } from './key-cache.js';
import type { ServerMonitor } from './proc.js';
import type { Progress } from './progress.js';

export interface RunContext {
  options: BenchOptions;
  progress: Progress;
  /** Samples the processes given with --server-pid (disabled when none were given). */
  monitor: ServerMonitor;
  keyCache: KeyCache;
}

/** One line of the printed table. */
export interface Row {
  label: string;
  value: string;
}

export interface ScenarioReport {
  /** Every figure, for --json. */
  results: Record<string, unknown>;
  rows: Row[];
}

/** A load scenario; each lives in its own module under scenarios/ and is listed in scenarios/index.ts. */
export interface Scenario {
  name: string;
  summary: string;
  run(ctx: RunContext): Promise<ScenarioReport>;
}
