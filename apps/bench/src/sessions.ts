import type { BenchOptions } from './args.js';
import { keyScope, type LoginResult, login, type XmppConnection } from './client.js';
import { Histogram } from './histogram.js';
import type { KeyCache } from './key-cache.js';
import { mapLimit } from './pool.js';

/** Account names shared by the scenarios: `<prefix><n>` from 1. */
export function usernames(prefix: string, count: number, from = 1): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${from + i}`);
}

export interface Session {
  username: string;
  url: string;
  connection: XmppConnection;
  roster: string;
}

export interface ConnectAllResult {
  sessions: Session[];
  handshake: Histogram;
  seconds: number;
  mechanism: string;
}

export interface ConnectAllOptions {
  options: BenchOptions;
  keyCache: KeyCache;
  /** Endpoint for the i-th account (to split sessions across nodes). */
  urlFor: (index: number) => string;
  presence?: boolean;
  /** A handler per account for frames from its initial presence on (see LoginOptions.onStanza). */
  onStanza?: (username: string) => (frame: string, connection: XmppConnection) => void;
  onProgress?: (done: number) => void;
}

/** Logs every account in with at most `--concurrency` handshakes at a time. */
export async function connectAll(names: string[], opts: ConnectAllOptions): Promise<ConnectAllResult> {
  const { options } = opts;
  const handshake = new Histogram();
  const started = performance.now();
  let done = 0;
  let mechanism = '';
  const sessions: Session[] = new Array(names.length);
  let failure: Error | undefined;
  await mapLimit(names, options.concurrency, async (username, index) => {
    if (failure) return;
    const url = opts.urlFor(index);
    let result: LoginResult;
    try {
      result = await login({
        url,
        domain: options.domain,
        username,
        password: options.password,
        resource: 'bench',
        mechanism: options.mech,
        keyCache: opts.keyCache,
        keyScope: keyScope(options.ws, options.domain),
        timeoutMs: options.timeout * 1000,
        presence: opts.presence,
        onStanza: opts.onStanza?.(username),
      });
    } catch (err) {
      failure ??= new Error(`login of ${username} at ${url}: ${(err as Error).message}`);
      return;
    }
    handshake.recordMs(result.handshakeMs);
    mechanism = result.mechanism;
    sessions[index] = { username, url, connection: result.connection, roster: result.roster };
    opts.onProgress?.(++done);
  });
  if (failure) {
    // Leave nothing connected behind a failed run.
    await closeAll(sessions.filter(Boolean));
    throw failure;
  }
  return { sessions, handshake, seconds: (performance.now() - started) / 1000, mechanism };
}

/** Closes every session (stream close, then socket), a bounded number at a time. */
export async function closeAll(
  sessions: Array<{ connection: XmppConnection }>,
  concurrency = 500,
): Promise<void> {
  await mapLimit(sessions, concurrency, (s) => s.connection.close(2000).catch(() => {}));
}
