import { randomBytes } from 'node:crypto';
import { attributeOf, escapeAttrValue, type XmppConnection } from './client.js';
import { Histogram, type LatencySummary } from './histogram.js';
import { sleep } from './pool.js';
import { ownCpuSeconds, type ProcessSample, type ServerMonitor } from './proc.js';
import type { Progress } from './progress.js';

/** One sender keeping a window of messages in flight to one receiver (the same connection for echo). */
export interface PairEndpoints {
  sender: XmppConnection;
  receiver: XmppConnection;
  /** Address the sender writes to; empty for an echo server. */
  to: string;
}

export interface TrafficOptions {
  window: number;
  warmupSeconds: number;
  durationSeconds: number;
  drainSeconds: number;
  /** Total messages per second to pace to; undefined = as fast as the windows refill. */
  rate: number | undefined;
  bodySize: number;
  monitor: ServerMonitor;
  progress: Progress;
  label: string;
}

export interface TrafficResult {
  pairs: number;
  window: number;
  rateTarget: number | null;
  measuredSeconds: number;
  /** Messages that arrived during the measured period. */
  delivered: number;
  deliveredPerSecond: number;
  latency: LatencySummary;
  /** Over the whole run, warm-up and drain included. */
  sent: number;
  received: number;
  /** Bounced with an error stanza. */
  errors: number;
  /** Sent but neither received nor bounced after the drain. */
  lost: number;
  /** Frames with our marker from an earlier run (e.g. delivered from offline storage). */
  stale: number;
  server: {
    cpuSeconds: number;
    deliveredPerCpuSecond: number;
    /** CPU seconds of each --server-pid process over the measured period. */
    processes: Array<{ pid: number; cpuSeconds: number }>;
  } | null;
  tool: { cpuSeconds: number; cpuPercentOfOneCore: number };
}

const MARKER = 'bm_';

interface PairState extends PairEndpoints {
  index: number;
  sent: number;
  received: number;
  errors: number;
  inFlight: number;
}

/**
 * Drives the pairs: every sender keeps up to `window` messages in flight and sends the next one as
 * soon as one arrives (or, with a rate, as the pacer allows). Each message id carries a run token,
 * the pair, a sequence number and the send time, which the receiving side finds with indexOf.
 */
export async function runTraffic(endpoints: PairEndpoints[], opts: TrafficOptions): Promise<TrafficResult> {
  const run = randomBytes(3).toString('hex');
  const body = 'x'.repeat(opts.bodySize);
  const histogram = new Histogram();
  const pairs: PairState[] = endpoints.map((e, index) => ({
    ...e,
    to: escapeAttrValue(e.to),
    index,
    sent: 0,
    received: 0,
    errors: 0,
    inFlight: 0,
  }));
  let phase: 'warmup' | 'measure' | 'drain' = 'warmup';
  let sending = true;
  let measuredDelivered = 0;
  let totalSent = 0;
  let stale = 0;

  const send = (pair: PairState) => {
    const now = Math.round(performance.now() * 1000);
    const id = `${MARKER}${run}_${pair.index}_${pair.sent}_${now}`;
    const to = pair.to === '' ? '' : ` to="${pair.to}"`;
    pair.sender.send(
      `<message xmlns="jabber:client"${to} type="chat" id="${id}"><body>${body}</body></message>`,
    );
    pair.sent++;
    pair.inFlight++;
    totalSent++;
  };
  const pump = (pair: PairState) => {
    while (sending && pair.inFlight < opts.window) send(pair);
  };

  const onFrame = (pair: PairState) => (frame: string) => {
    if (!frame.startsWith('<message')) return;
    const at = frame.indexOf(MARKER);
    if (at === -1) return;
    if (frame.startsWith(run, at + MARKER.length) === false) {
      stale++;
      return;
    }
    const head = frame.slice(0, frame.indexOf('>'));
    pair.inFlight--;
    if (attributeOf(head, 'type') === 'error') {
      pair.errors++;
    } else {
      pair.received++;
      if (phase === 'measure') {
        histogram.recordMicros(Math.round(performance.now() * 1000) - sentAtMicros(frame, at));
        measuredDelivered++;
      }
    }
    if (opts.rate === undefined) pump(pair);
  };
  for (const pair of pairs) {
    pair.receiver.onStanza = onFrame(pair);
    if (pair.sender !== pair.receiver) pair.sender.onStanza = onFrame(pair);
  }

  const pacer =
    opts.rate === undefined ? undefined : startPacer(pairs, opts.rate, opts.window, send, () => sending);
  const received = () => pairs.reduce((sum, p) => sum + p.received, 0);
  const errors = () => pairs.reduce((sum, p) => sum + p.errors, 0);
  let lastReceived = 0;
  let lastAt = performance.now();
  const describe = () => {
    const now = performance.now();
    const total = received();
    const rate = ((total - lastReceived) * 1000) / (now - lastAt);
    lastReceived = total;
    lastAt = now;
    return `${phase}: received ${total.toLocaleString('en-US')} (${Math.round(rate).toLocaleString('en-US')}/s), in flight ${totalSent - total - errors()}, errors ${errors()}`;
  };

  opts.progress.phase(opts.label, describe);
  if (opts.rate === undefined) for (const pair of pairs) pump(pair);
  await sleep(opts.warmupSeconds * 1000);

  const serverBefore = await opts.monitor.sample();
  const toolBefore = ownCpuSeconds();
  const measureStarted = performance.now();
  phase = 'measure';
  await sleep(opts.durationSeconds * 1000);
  phase = 'drain';
  const measuredSeconds = (performance.now() - measureStarted) / 1000;
  const toolCpu = ownCpuSeconds() - toolBefore;
  const serverAfter = await opts.monitor.sample();
  const delivered = measuredDelivered;

  sending = false;
  pacer?.stop();
  const drainDeadline = performance.now() + opts.drainSeconds * 1000;
  while (performance.now() < drainDeadline && received() + errors() < totalSent) await sleep(20);
  opts.progress.end();

  const totalReceived = received();
  const totalErrors = errors();
  return {
    pairs: pairs.length,
    window: opts.window,
    rateTarget: opts.rate ?? null,
    measuredSeconds,
    delivered,
    deliveredPerSecond: delivered / measuredSeconds,
    latency: histogram.summary(),
    sent: totalSent,
    received: totalReceived,
    errors: totalErrors,
    lost: Math.max(0, totalSent - totalReceived - totalErrors),
    stale,
    server: serverCpu(serverBefore, serverAfter, delivered),
    tool: { cpuSeconds: toolCpu, cpuPercentOfOneCore: (toolCpu / measuredSeconds) * 100 },
  };
}

/** The send time (µs) at the end of the marked id starting at `at`; the quote before it ends it too. */
export function sentAtMicros(frame: string, at: number): number {
  const end = frame.indexOf(frame[at - 1]!, at);
  return Number(frame.slice(frame.lastIndexOf('_', end) + 1, end));
}

function serverCpu(before: ProcessSample | undefined, after: ProcessSample | undefined, delivered: number) {
  if (!before || !after) return null;
  const cpuSeconds = after.cpuSeconds - before.cpuSeconds;
  const processes = after.processes.map((p, i) => ({
    pid: p.pid,
    cpuSeconds: p.cpuSeconds - (before.processes[i]?.cpuSeconds ?? 0),
  }));
  return { cpuSeconds, deliveredPerCpuSecond: cpuSeconds > 0 ? delivered / cpuSeconds : 0, processes };
}

/**
 * Paces sending to `rate` messages/s in total, handing the allowance to pairs round-robin; a pair
 * whose window is full is skipped. Allowance that cannot be used is not banked beyond 50 ms worth, so
 * a stall is not followed by a burst.
 */
function startPacer(
  pairs: PairState[],
  rate: number,
  window: number,
  send: (pair: PairState) => void,
  sending: () => boolean,
): { stop(): void } {
  const started = performance.now();
  let issued = 0;
  let cursor = 0;
  const timer = setInterval(() => {
    if (!sending()) return;
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    if (due - issued > rate * 0.05) issued = due - Math.ceil(rate * 0.05);
    let budget = due - issued;
    let idle = 0;
    while (budget > 0 && idle < pairs.length) {
      const pair = pairs[cursor]!;
      cursor = (cursor + 1) % pairs.length;
      if (pair.inFlight >= window) {
        idle++;
        continue;
      }
      idle = 0;
      send(pair);
      issued++;
      budget--;
    }
  }, 2);
  return { stop: () => clearInterval(timer) };
}
