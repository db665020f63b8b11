import { UsageError } from '../args.js';
import { formatNumber } from '../format.js';
import type { RunContext, Scenario, ScenarioReport } from '../scenario.js';
import { usernames } from '../sessions.js';
import { prepareAccounts } from '../setup.js';
import { runMessages, trafficRows } from './messages.js';

/**
 * The messages scenario twice: every pair on --ws, then each pair split across --ws and --ws2. With
 * --server-pid for both nodes (and the bus, e.g. Redis, if wanted) the ratio is per server core.
 */
export const clusterScenario: Scenario = {
  name: 'cluster',
  summary: 'messages with both ends on one node vs split across two: cross-node cost per core',
  async run(ctx: RunContext): Promise<ScenarioReport> {
    const { options } = ctx;
    if (options.ws2 === undefined) throw new UsageError('cluster needs --ws2 (the second node)');
    const provisioning = await prepareAccounts(ctx, usernames(options.userPrefix, options.pairs * 2));
    const sameNode = await runMessages(ctx, { split: false, label: 'same node' });
    const crossNode = await runMessages(ctx, { split: true, label: 'cross node' });
    const perCore = (r: typeof sameNode) => r.server?.deliveredPerCpuSecond ?? null;
    const same = perCore(sameNode);
    const cross = perCore(crossNode);
    const ratioPerCore = same && cross ? cross / same : null;
    const ratioThroughput =
      sameNode.deliveredPerSecond > 0 ? crossNode.deliveredPerSecond / sameNode.deliveredPerSecond : null;
    const rows = [
      ...trafficRows(sameNode).map((r) => ({ label: `same node: ${r.label}`, value: r.value })),
      ...trafficRows(crossNode).map((r) => ({ label: `cross node: ${r.label}`, value: r.value })),
      {
        label: 'cross/same per server core',
        value:
          ratioPerCore === null ? 'n/a (needs --server-pid)' : `${formatNumber(ratioPerCore * 100, 1)} %`,
      },
      {
        label: 'cross/same delivered/s',
        value: ratioThroughput === null ? 'n/a' : `${formatNumber(ratioThroughput * 100, 1)} %`,
      },
    ];
    return { results: { provisioning, sameNode, crossNode, ratioPerCore, ratioThroughput }, rows };
  },
};
