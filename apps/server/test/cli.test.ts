import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient } from './harness.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

/** The CLI as an operator runs it: the built entry point in a separate process. */
describe('strom CLI on embedded storage', () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let server: ChildProcess | undefined;
  const port = 20_000 + Math.floor(Math.random() * 20_000);

  const strom = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env, cwd: dataDir });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'strom-cli-'));
    env = { ...process.env, DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
    delete env.DATABASE_URL;
    delete env.REDIS_URL;
  });
  afterAll(async () => {
    server?.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates an account with no server running', async () => {
    const result = await strom('user', 'add', 'alice', 'secret');
    expect(result.stdout).toContain('Created alice@localhost');
    expect(result.code).toBe(0);
  });

  it('applies migrations on demand', async () => {
    const result = await strom('migrate');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Migrations applied');
  });

  it('serves, and manages accounts through the running server', async () => {
    server = spawn(process.execPath, [CLI, 'serve'], {
      env,
      cwd: dataDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await expect
      .poll(
        async () => (await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => undefined))?.status,
        {
          timeout: 30_000,
          interval: 200,
        },
      )
      .toBe(200);

    const add = await strom('user', 'add', 'bob', 'hunter2');
    expect(add.stdout).toContain('Created bob@localhost');
    const duplicate = await strom('user', 'add', 'bob', 'again');
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('already exists');
    const invalid = await strom('user', 'add', 'not valid', 'x');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('not a valid username');

    const service = { wsUrl: `ws://127.0.0.1:${port}/xmpp-websocket`, domain: 'localhost' };
    const alice = await connectClient(service, { username: 'alice', password: 'secret' });
    const bob = await connectClient(service, {
      username: 'bob',
      password: 'hunter2',
      mechanism: 'SCRAM-SHA-1',
    });
    await bob.stop();

    const passwd = await strom('user', 'passwd', 'bob', 'changed');
    expect(passwd.code).toBe(0);
    await expect(connectClient(service, { username: 'bob', password: 'hunter2' })).rejects.toThrow();
    const again = await connectClient(service, { username: 'bob', password: 'changed' });
    await again.stop();

    const list = await strom('user', 'list');
    expect(list.stdout).toMatch(/alice@localhost\tcreated .*\tlast login 20/);
    expect(list.stdout).toContain('bob@localhost');

    const removed = new Promise<string>((resolve) =>
      alice.xmpp.on('error', (err: { condition?: string }) => resolve(String(err.condition))),
    );
    const del = await strom('user', 'delete', 'alice');
    expect(del.code).toBe(0);
    expect(await removed).toBe('not-authorized');
    expect((await strom('user', 'list')).stdout).not.toContain('alice@localhost');
    await alice.stop();

    const exited = new Promise<number | null>((resolve) => server!.once('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    server = undefined;
  });

  it('rejects unknown commands and bad configuration with a clear message', async () => {
    const unknown = await strom('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Unknown command "frobnicate"');
    env.PORT = 'eighty';
    const bad = await strom('user', 'list');
    env.PORT = String(port);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('PORT must be an integer');
  });
});
