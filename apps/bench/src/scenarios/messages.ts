import { formatInt, formatMs, formatNumber, latencyRow } from '../format.js';
import type { Row, RunContext, Scenario, ScenarioReport } from '../scenario.js';
import { closeAll, connectAll, usernames } from '../sessions.js';
import { prepareAccounts } from '../setup.js';
import { runTraffic, type TrafficResult } from '../traffic.js';
import { runEcho } from './echo.js';

export interface MessagesRunOptions {
  /** Receivers on --ws2 (senders stay on --ws). */
  split: boolean;
  label: string;
}

/** Logs in 2P accounts, runs the pairs, logs out. Shared with the cluster scenario. */
export async function runMessages(ctx: RunContext, run: MessagesRunOptions): Promise<TrafficResult> {
  const { options, progress } = ctx;
  const names = usernames(options.userPrefix, options.pairs * 2);
  let done = 0;
  progress.phase(`${run.label} login`, () => `${done}/${names.length} sessions`);
  const { sessions } = await connectAll(names, {
    options,
    keyCache: ctx.keyCache,
    urlFor: (index) => (run.split && index % 2 === 1 ? options.ws2! : options.ws),
    onProgress: (n) => {
      done = n;
    },
  }).finally(() => progress.end());
  try {
    const endpoints = [];
    for (let i = 0; i < options.pairs; i++) {
      const sender = sessions[2 * i]!;
      const receiver = sessions[2 * i + 1]!;
      endpoints.push({
        sender: sender.connection,
        receiver: receiver.connection,
        to: options.to === 'full' ? receiver.connection.jid : `${receiver.username}@${options.domain}`,
      });
    }
    return await runTraffic(endpoints, {
      window: options.window,
      warmupSeconds: options.warmup,
      durationSeconds: options.duration,
      drainSeconds: options.drain,
      rate: options.rate,
      bodySize: options.bodySize,
      monitor: ctx.monitor,
      progress,
      label: run.label,
    });
  } finally {
    await closeAll(sessions);
  }
}

export function trafficRows(result: TrafficResult, unit = 'messages'): Row[] {
  const rows: Row[] = [
    {
      label: 'shape',
      value: `${result.pairs} pairs, window ${result.window}${result.rateTarget ? `, paced to ${formatInt(result.rateTarget)}/s` : ', unpaced'}`,
    },
    {
      label: `delivered ${unit}/s`,
      value: `${formatInt(result.deliveredPerSecond)}  (${formatInt(result.delivered)} in ${formatNumber(result.measuredSeconds, 1)} s)`,
    },
    latencyRow('latency', result.latency),
  ];
  if (result.server) {
    rows.push(
      {
        label: 'server CPU',
        value: `${formatNumber(result.server.cpuSeconds)} s${result.server.processes.length > 1 ? ` (${result.server.processes.map((p) => `${p.pid}: ${formatNumber(p.cpuSeconds)}`).join(', ')})` : ''}`,
      },
      { label: `${unit} per server core-second`, value: formatInt(result.server.deliveredPerCpuSecond) },
    );
  }
  rows.push(
    {
      label: 'sent / received / bounced',
      value: `${formatInt(result.sent)} / ${formatInt(result.received)} / ${formatInt(result.errors)}`,
    },
    { label: 'lost after drain', value: formatInt(result.lost) },
    {
      label: 'tool CPU',
      value: `${formatNumber(result.tool.cpuSeconds)} s (${Math.round(result.tool.cpuPercentOfOneCore)} % of one core)`,
    },
  );
  return rows;
}

export const messagesScenario: Scenario = {
  name: 'messages',
  summary: 'pairs keep a window of chat messages in flight: delivered/s, latency, lost, per server core',
  async run(ctx): Promise<ScenarioReport> {
    const { options } = ctx;
    const provisioning = await prepareAccounts(ctx, usernames(options.userPrefix, options.pairs * 2));
    const result = await runMessages(ctx, { split: options.ws2 !== undefined, label: 'messages' });
    const rows = trafficRows(result);
    const results: Record<string, unknown> = { provisioning, ...result };
    if (options.compareEcho) {
      const echo = await runEcho(ctx);
      const messagesPerCore = result.server?.deliveredPerCpuSecond ?? 0;
      const echoPerCore = echo.traffic.server?.deliveredPerCpuSecond ?? 0;
      const fraction = echoPerCore > 0 ? messagesPerCore / echoPerCore : null;
      results.echo = echo;
      results.fractionOfEchoPerCore = fraction;
      rows.push(
        { label: 'echo frames per server core-second', value: formatInt(echoPerCore) },
        {
          label: 'messages per core vs echo ceiling',
          value: fraction === null ? 'n/a (needs --server-pid)' : `${formatNumber(fraction * 100, 1)} %`,
        },
        { label: 'echo latency p99', value: formatMs(echo.traffic.latency.p99Ms) },
      );
    }
    return { results, rows };
  },
};
