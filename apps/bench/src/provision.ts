import net from 'node:net';
import path from 'node:path';
import type { Provisioning } from './args.js';
import { escapeAttrValue, isIqError, NS, openStream, XmppConnection, XmppError } from './client.js';
import { mapLimit } from './pool.js';

export interface ProvisionOptions {
  method: Provisioning;
  url: string;
  domain: string;
  password: string;
  concurrency: number;
  timeoutMs: number;
  adminSocket?: string;
  onProgress?: (done: number) => void;
}

export interface ProvisionResult {
  /** How the accounts were made: the method, or "register, then cli" when auto switched. */
  method: string;
  created: number;
  existing: number;
  seconds: number;
}

/**
 * Makes sure every account exists; accounts left from an earlier run are fine. `auto` registers
 * in-band and, when the server refuses or throttles that, creates the rest through Strom's admin
 * socket if there is one.
 */
export async function provisionAccounts(
  usernames: string[],
  opts: ProvisionOptions,
): Promise<ProvisionResult> {
  const started = performance.now();
  let created = 0;
  let existing = 0;
  let done = 0;
  const count = (outcome: Outcome) => {
    if (outcome === 'created') created++;
    else existing++;
    opts.onProgress?.(++done);
  };
  let method: string = opts.method;
  if (opts.method === 'register') {
    await mapLimit(usernames, opts.concurrency, async (username) =>
      count(await registerInBand(username, opts)),
    );
  } else if (opts.method === 'cli') {
    await addThroughAdminSocket(usernames, opts, count);
  } else if (opts.method === 'auto') {
    const { refusal, left } = await registerUntilRefused(usernames, opts, count);
    if (refusal) {
      if (!(await adminSocketAnswers(adminSocketPath(opts.adminSocket)))) throw refusal;
      method = left.length === usernames.length ? 'cli' : 'register, then cli';
      await addThroughAdminSocket(left, opts, count);
    } else {
      method = 'register';
    }
  }
  return { method, created, existing, seconds: (performance.now() - started) / 1000 };
}

async function registerUntilRefused(
  usernames: string[],
  opts: ProvisionOptions,
  count: (outcome: Outcome) => void,
): Promise<{ refusal: RegistrationRefused | undefined; left: string[] }> {
  let refusal: RegistrationRefused | undefined;
  const left: string[] = [];
  await mapLimit(usernames, opts.concurrency, async (username) => {
    if (refusal) {
      left.push(username);
      return;
    }
    try {
      count(await registerInBand(username, opts));
    } catch (err) {
      if (!(err instanceof RegistrationRefused)) throw err;
      refusal ??= err;
      left.push(username);
    }
  });
  return { refusal, left };
}

async function addThroughAdminSocket(
  usernames: string[],
  opts: ProvisionOptions,
  count: (outcome: Outcome) => void,
): Promise<void> {
  const socketPath = adminSocketPath(opts.adminSocket);
  // Each connection carries one request at a time: the admin socket's replies carry no id.
  const queue = [...usernames];
  const worker = async () => {
    const admin = await AdminConnection.open(socketPath);
    try {
      for (let username = queue.shift(); username !== undefined; username = queue.shift()) {
        count(await admin.addUser(username, opts.password));
      }
    } finally {
      admin.close();
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, Math.max(1, usernames.length)) }, worker));
}

function adminSocketAnswers(socketPath: string): Promise<boolean> {
  return AdminConnection.open(socketPath).then(
    (admin) => {
      admin.close();
      return true;
    },
    () => false,
  );
}

/** The server declined in-band registration (closed, or throttled for this network). */
export class RegistrationRefused extends XmppError {}

const REFUSALS = new Set([
  'resource-constraint',
  'not-allowed',
  'service-unavailable',
  'forbidden',
  'policy-violation',
]);

type Outcome = 'created' | 'exists';

/** XEP-0077 §3.1 registration on a fresh stream; `conflict` means the account is already there. */
export async function registerInBand(username: string, opts: ProvisionOptions): Promise<Outcome> {
  const connection = await XmppConnection.open(opts.url, opts.timeoutMs);
  try {
    await openStream(connection, opts.domain);
    const answer = await connection.request(
      'set',
      `<query xmlns="${NS.register}"><username>${escapeAttrValue(username)}</username>` +
        `<password>${escapeAttrValue(opts.password)}</password></query>`,
    );
    if (!isIqError(answer)) return 'created';
    if (answer.includes('<conflict')) return 'exists';
    const message = describeRegistrationError(username, answer);
    throw REFUSALS.has(stanzaErrorCondition(answer))
      ? new RegistrationRefused(message)
      : new XmppError(message);
  } finally {
    await connection.close(500).catch(() => {});
  }
}

function stanzaErrorCondition(answer: string): string {
  return /<([a-z-]+) xmlns=["']urn:ietf:params:xml:ns:xmpp-stanzas["']/.exec(answer)?.[1] ?? 'unknown';
}

export function describeRegistrationError(username: string, answer: string): string {
  const condition = stanzaErrorCondition(answer);
  const text = /<text[^>]*>([^<]*)<\/text>/.exec(answer)?.[1];
  const hint = REFUSALS.has(condition)
    ? ' — the server limits or disables in-band registration; create the accounts another way ' +
      "(for Strom: --provision cli, or run where Strom's admin socket is) or relax the limit"
    : '';
  return `registering ${username} failed: ${condition}${text ? ` (${text})` : ''}${hint}`;
}

/** Where Strom's admin socket is, the way the `strom` CLI finds it. */
export function adminSocketPath(given: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (given) return path.resolve(given);
  if (env.ADMIN_SOCKET) return path.resolve(env.ADMIN_SOCKET);
  return path.resolve(env.DATA_DIR ?? './data', 'admin.sock');
}

/**
 * Strom's admin socket speaks one JSON request per line and answers with one JSON line: the same
 * `user.add` request that `strom user add` sends, without starting a process per account.
 */
class AdminConnection {
  private buffer = '';
  private waiting: ((line: string) => void) | undefined;
  private failure: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      const newline = this.buffer.indexOf('\n');
      if (newline !== -1 && this.waiting) {
        const line = this.buffer.slice(0, newline);
        this.buffer = this.buffer.slice(newline + 1);
        const waiting = this.waiting;
        this.waiting = undefined;
        waiting(line);
      }
    });
    socket.on('error', (err) => {
      this.failure = err;
    });
    socket.on('close', () => {
      this.failure ??= new Error('admin socket closed');
      this.waiting?.('');
    });
  }

  static open(socketPath: string): Promise<AdminConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketPath);
      socket.once('connect', () => resolve(new AdminConnection(socket)));
      socket.once('error', (err) =>
        reject(
          new Error(
            `cannot reach Strom's admin socket at ${socketPath} (${err.message}); is Strom running with the same DATA_DIR, or pass --admin-socket?`,
          ),
        ),
      );
    });
  }

  async addUser(username: string, password: string): Promise<Outcome> {
    const line = await new Promise<string>((resolve) => {
      this.waiting = resolve;
      this.socket.write(`${JSON.stringify({ command: 'user.add', username, password })}\n`);
    });
    if (this.failure) throw this.failure;
    const reply = JSON.parse(line) as { ok: boolean; error?: string; problem?: string };
    if (reply.ok) return 'created';
    if (reply.problem === 'exists') return 'exists';
    throw new Error(`strom user add ${username} failed: ${reply.error ?? 'unknown error'}`);
  }

  close(): void {
    this.socket.end();
  }
}
