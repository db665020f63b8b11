export {
  type BenchOptions,
  helpText,
  type Mechanism,
  OPTION_SPECS,
  type Provisioning,
  parseArgs,
  UsageError,
  validateOptions,
} from './args.js';
export { type BenchResult, runBench } from './bench.js';
export {
  chooseMechanism,
  type LoginOptions,
  type LoginResult,
  login,
  XmppConnection,
  XmppError,
} from './client.js';
export { Histogram, type LatencySummary } from './histogram.js';
export { KeyCache } from './key-cache.js';
export { parseProcStat, parseProcStatus, ServerMonitor, sampleProcesses } from './proc.js';
export { type ProvisionResult, provisionAccounts } from './provision.js';
export type { Row, RunContext, Scenario, ScenarioReport } from './scenario.js';
export { findScenario, SCENARIOS } from './scenarios/index.js';
