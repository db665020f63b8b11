import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { XmppConnection } from '../client.js';
import { formatMiB } from '../format.js';
import { mapLimit } from '../pool.js';
import { ServerMonitor } from '../proc.js';
import type { RunContext, Scenario, ScenarioReport } from '../scenario.js';
import { runTraffic, type TrafficResult } from '../traffic.js';
import { trafficRows } from './messages.js';

export interface EchoRun {
  serverPid: number;
  url: string;
  traffic: TrafficResult;
  serverRssBytes: number;
}

/** Starts the echo server in a child process and resolves with its URL once it listens. */
export async function startEchoServer(): Promise<{ child: ChildProcess; url: string }> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const compiled = path.join(here, '..', 'echo-server.js');
  // From the TypeScript sources (tests), the script runs through tsx.
  const args = existsSync(compiled)
    ? [compiled]
    : [
        '--import',
        pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href,
        path.join(here, '..', 'echo-server.ts'),
      ];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      out += chunk;
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`echo server exited with code ${code}`)));
    child.once('error', reject);
  });
  return { child, url: `ws://127.0.0.1:${port}/` };
}

/** `--pairs` connections to a plain echo server, each keeping `--window` frames in flight. */
export async function runEcho(ctx: RunContext): Promise<EchoRun> {
  const { options, progress } = ctx;
  const { child, url } = await startEchoServer();
  const monitor = new ServerMonitor([child.pid!]);
  const connections: XmppConnection[] = [];
  try {
    await mapLimit(Array.from({ length: options.pairs }), options.concurrency, async () => {
      const connection = await XmppConnection.open(url, options.timeout * 1000);
      connection.activate();
      connections.push(connection);
    });
    const traffic = await runTraffic(
      connections.map((c) => ({ sender: c, receiver: c, to: '' })),
      {
        window: options.window,
        warmupSeconds: options.warmup,
        durationSeconds: options.duration,
        drainSeconds: options.drain,
        rate: options.rate,
        bodySize: options.bodySize,
        monitor,
        progress,
        label: 'echo',
      },
    );
    const sample = await monitor.sample();
    return { serverPid: child.pid!, url, traffic, serverRssBytes: sample?.rssBytes ?? 0 };
  } finally {
    for (const c of connections) c.terminate();
    child.stdin!.end();
    child.kill();
  }
}

export const echoScenario: Scenario = {
  name: 'echo',
  summary: 'a plain ws echo server in a child process, driven the same way: the Node WebSocket ceiling',
  async run(ctx): Promise<ScenarioReport> {
    const echo = await runEcho(ctx);
    const rows = trafficRows(echo.traffic, 'frames');
    rows.push(
      { label: 'echo server pid', value: String(echo.serverPid) },
      { label: 'echo server RSS', value: formatMiB(echo.serverRssBytes) },
    );
    return { results: { ...echo }, rows };
  },
};
