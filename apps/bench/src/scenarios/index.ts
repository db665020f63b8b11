import type { Scenario } from '../scenario.js';
import { clusterScenario } from './cluster.js';
import { connectScenario } from './connect.js';
import { echoScenario } from './echo.js';
import { messagesScenario } from './messages.js';
import { presenceScenario } from './presence.js';

/** Every scenario the CLI knows; a new one is a module plus a line here. */
export const SCENARIOS: readonly Scenario[] = [
  connectScenario,
  messagesScenario,
  presenceScenario,
  clusterScenario,
  echoScenario,
];

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
