import { keyScope } from '../client.js';
import { formatInt, formatKiB, formatMiB, formatNumber, latencyRow } from '../format.js';
import { Histogram } from '../histogram.js';
import { sleep } from '../pool.js';
import { ownCpuSeconds, type ProcessSample } from '../proc.js';
import type { Row, Scenario, ScenarioReport } from '../scenario.js';
import { closeAll, connectAll, type Session, usernames } from '../sessions.js';
import { alternatingUrl, prepareAccounts } from '../setup.js';

/**
 * N sessions log in (SCRAM, bind, roster, presence) with a bounded number of handshakes at a time,
 * then stay connected while a sample of them pings the server.
 */
export const connectScenario: Scenario = {
  name: 'connect',
  summary: 'N sessions log in and stay: logins/s, handshake latency, server CPU per login, RSS per session',
  async run(ctx): Promise<ScenarioReport> {
    const { options, progress, monitor, keyCache } = ctx;
    const names = usernames(options.userPrefix, options.users);
    const urlFor = alternatingUrl(ctx);
    const provisioning = await prepareAccounts(ctx, names);

    // Deriving SCRAM keys costs the tool more than the login costs the server: do it unmeasured.
    const unprimed =
      options.mech === 'PLAIN'
        ? []
        : names.filter((n) => !keyCache.has(keyScope(options.ws, options.domain), n));
    if (unprimed.length > 0) {
      let primedDone = 0;
      progress.phase('priming SCRAM keys', () => `${primedDone}/${unprimed.length}`);
      const primed = await connectAll(unprimed, {
        options,
        keyCache,
        urlFor,
        onProgress: (n) => {
          primedDone = n;
        },
      }).finally(() => progress.end());
      await closeAll(primed.sessions);
      await keyCache.save();
      progress.log(
        `derived SCRAM keys for ${unprimed.length} accounts first; for a fresh-process RSS figure restart the server and run again`,
      );
      await sleep(1000);
    }

    const derivationsBefore = keyCache.derivations;
    const before = await monitor.sample();
    const toolBefore = ownCpuSeconds();
    monitor.start();
    let done = 0;
    progress.phase('login', () => `${done}/${names.length} sessions`);
    const login = await connectAll(names, {
      options,
      keyCache,
      urlFor,
      onProgress: (n) => {
        done = n;
      },
    }).finally(() => progress.end());
    const toolLoginCpu = ownCpuSeconds() - toolBefore;
    const derivedWhileMeasuring = keyCache.derivations - derivationsBefore;
    if (derivedWhileMeasuring > 0) {
      progress.log(
        `${derivedWhileMeasuring} logins had to derive SCRAM keys while measured (the server was reset?); run again for clean figures`,
      );
    }
    const afterLogin = await monitor.sample();

    let closedByServer = 0;
    for (const s of login.sessions) s.connection.onClose = () => closedByServer++;
    const ping = new Histogram();
    progress.phase('hold', () => `${names.length - closedByServer} sessions, ${ping.count} pings`);
    await holdWithPings(
      login.sessions,
      ping,
      options.hold,
      options.pingSample,
      options.pingInterval,
      options.domain,
    );
    progress.end();
    const afterHold = await monitor.sample();
    monitor.stop();
    const closedWhileHolding = closedByServer;
    await closeAll(login.sessions);

    const n = names.length;
    const server = serverFigures(before, afterLogin, afterHold, monitor.peakRssBytes, n);
    const results = {
      provisioning,
      primed: unprimed.length,
      sessions: n,
      mechanism: login.mechanism,
      concurrency: options.concurrency,
      loginSeconds: login.seconds,
      loginsPerSecond: n / login.seconds,
      handshake: login.handshake.summary(),
      holdSeconds: options.hold,
      ping: ping.summary(),
      closedByServerWhileHolding: closedWhileHolding,
      server,
      tool: { loginCpuSeconds: toolLoginCpu, scramDerivationsWhileMeasured: derivedWhileMeasuring },
    };
    const rows: Row[] = [
      {
        label: 'sessions',
        value: `${formatInt(n)} (${login.mechanism}, ${options.concurrency} handshakes at a time)`,
      },
      {
        label: 'logins/s',
        value: `${formatInt(results.loginsPerSecond)} (${formatNumber(login.seconds, 1)} s)`,
      },
      latencyRow('handshake', results.handshake),
      latencyRow(`ping while holding ${options.hold} s`, results.ping),
    ];
    if (server) {
      rows.push(
        { label: 'server CPU per 1,000 logins', value: `${formatNumber(server.cpuSecondsPer1000Logins)} s` },
        {
          label: 'server RSS before / after',
          value: `${formatMiB(server.rssBeforeBytes)} / ${formatMiB(server.rssAfterHoldBytes)}`,
        },
        { label: 'server RSS per session', value: formatKiB(server.rssPerSessionBytes) },
        { label: 'server peak RSS', value: formatMiB(server.peakRssBytes) },
      );
    }
    rows.push(
      { label: 'closed by server while holding', value: formatInt(closedWhileHolding) },
      { label: 'tool CPU during logins', value: `${formatNumber(toolLoginCpu)} s` },
    );
    return { results, rows };
  },
};

function serverFigures(
  before: ProcessSample | undefined,
  afterLogin: ProcessSample | undefined,
  afterHold: ProcessSample | undefined,
  peakRssBytes: number,
  sessions: number,
) {
  if (!before || !afterLogin || !afterHold) return null;
  const loginCpu = afterLogin.cpuSeconds - before.cpuSeconds;
  return {
    loginCpuSeconds: loginCpu,
    cpuSecondsPer1000Logins: (loginCpu / sessions) * 1000,
    holdCpuSeconds: afterHold.cpuSeconds - afterLogin.cpuSeconds,
    rssBeforeBytes: before.rssBytes,
    rssAfterLoginBytes: afterLogin.rssBytes,
    rssAfterHoldBytes: afterHold.rssBytes,
    rssPerSessionBytes: (afterHold.rssBytes - before.rssBytes) / sessions,
    rssPerSessionAfterLoginBytes: (afterLogin.rssBytes - before.rssBytes) / sessions,
    peakRssBytes,
    processes: afterHold.processes,
  };
}

/** Sample sessions ping the server one at a time each, staggered, until `holdSeconds` have passed. */
async function holdWithPings(
  sessions: Session[],
  histogram: Histogram,
  holdSeconds: number,
  sampleSize: number,
  intervalSeconds: number,
  domain: string,
): Promise<void> {
  const deadline = performance.now() + holdSeconds * 1000;
  const count = Math.min(sampleSize, sessions.length);
  const step = sessions.length / Math.max(1, count);
  const intervalMs = intervalSeconds * 1000;
  const pinger = async (session: Session) => {
    await sleep(Math.random() * intervalMs);
    while (performance.now() < deadline && !session.connection.closed) {
      const started = performance.now();
      try {
        await session.connection.ping(domain, 10_000);
        histogram.recordMs(performance.now() - started);
      } catch {
        return;
      }
      const wait = Math.min(intervalMs - (performance.now() - started), deadline - performance.now());
      if (wait > 0) await sleep(wait);
    }
  };
  const sample = Array.from({ length: count }, (_, i) => sessions[Math.floor(i * step)]!);
  await Promise.all([...sample.map(pinger), sleep(holdSeconds * 1000)]);
}
