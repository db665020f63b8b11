import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ClusterLog } from './types.js';

export const TEST_REDIS_URL = process.env.STROM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Short timings so failure detection fits in a test: a dead node is noticed within ~500 ms. */
export const FAST_TIMINGS = {
  heartbeatMs: 100,
  nodeTtlMs: 400,
  sweepMs: 100,
  commandTimeoutMs: 500,
} as const;

export function uniquePrefix(): string {
  return `strom-test:${randomBytes(6).toString('hex')}:`;
}

/** A plain client for inspecting and cleaning up; connecting fails (rather than skips) when Redis is down. */
export async function connectAdmin(): Promise<Redis> {
  const admin = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
  return admin;
}

export async function deleteKeys(admin: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    if (keys.length > 0) await admin.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Collects log lines so tests can check what was (and was not) logged. */
export function recordingLog(): ClusterLog & { lines: Array<{ level: string; obj: object; msg?: string }> } {
  const lines: Array<{ level: string; obj: object; msg?: string }> = [];
  return {
    lines,
    warn: (obj, msg) => lines.push({ level: 'warn', obj, ...(msg !== undefined ? { msg } : {}) }),
    info: (obj, msg) => lines.push({ level: 'info', obj, ...(msg !== undefined ? { msg } : {}) }),
  };
}
