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

  /** The CLI with `input` on its standard input (then closed), as in `printf … | strom …`. */
  const stromWithInput = (input: string, ...args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], { env, cwd: dataDir });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(input);
    });

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

  it('reads a password from standard input, and fails without changing anything when it is empty', async () => {
    const empty = await stromWithInput('', 'user', 'passwd', 'alice');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('No password given');
    expect(empty.stdout).toBe('');
    const emptyAdd = await stromWithInput('\n', 'user', 'add', 'dora');
    expect(emptyAdd.code).toBe(1);
    expect(emptyAdd.stderr).toContain('No password given');

    const piped = await stromWithInput('dorapass\nignored second line\n', 'user', 'add', 'dora');
    expect(piped.code).toBe(0);
    expect(piped.stdout).toContain('Created dora@localhost');
    expect(piped.stderr).not.toContain('Warning');
    // The discouraged form still works, with a warning.
    const onCommandLine = await strom('user', 'add', 'erik', 'erikpass');
    expect(onCommandLine.code).toBe(0);
    expect(onCommandLine.stderr).toContain('Warning: a password on the command line');
  });

  it('rejects unknown options, extra or missing arguments and nonsense day counts with status 2', async () => {
    for (const args of [
      ['user', 'list', '--bogus'],
      ['user', 'list', '--inactive-days'],
      ['user', 'list', '--inactive-days', '0'],
      ['user', 'list', '--inactive-days', '1.5'],
      ['user', 'list', '--inactive-days', 'abc'],
      ['user', 'list', 'extra'],
      ['user', 'add', 'x', 'y', 'z'],
      ['user', 'add', '--force', 'x', 'y'],
      ['user', 'passwd'],
      ['user', 'delete'],
      ['user', 'delete', 'a', 'b'],
      ['user'],
      ['user', 'frobnicate'],
      ['serve', '--port', '80'],
      ['migrate', 'now'],
      ['help', 'me'],
    ]) {
      const result = await strom(...args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(/strom|Unknown|--inactive-days/);
      expect(result.stderr, args.join(' ')).toContain('Usage: strom');
    }
    expect((await strom('user', 'list', '--bogus')).stderr).toContain("Unknown option '--bogus'");
    expect((await strom('user', 'list', '--inactive-days', '0')).stderr).toContain('from 1 to 36500');
  });

  it('fails with status 1 and a message when a command changes nothing', async () => {
    const missing = await strom('user', 'delete', 'nobody');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('There is no account nobody@localhost');
    const passwd = await stromWithInput('whatever\n', 'user', 'passwd', 'nobody');
    expect(passwd.code).toBe(1);
    expect(passwd.stderr).toContain('There is no account');
  });

  it('counts accounts that never logged in from their creation', async () => {
    // Everyone here was created just now and never logged in: not inactive for a day yet.
    const list = await strom('user', 'list', '--inactive-days', '1');
    expect(list.code).toBe(0);
    expect(list.stdout).toBe('');
    expect(list.stderr).toContain('No accounts inactive for 1 days');
    expect((await strom('user', 'list')).stdout).toContain('dora@localhost');
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
    // Through the running server, with the password on standard input.
    const piped = await stromWithInput('from-stdin\n', 'user', 'passwd', 'bob');
    expect(piped.code).toBe(0);
    const viaStdin = await connectClient(service, { username: 'bob', password: 'from-stdin' });
    await viaStdin.stop();
    const dora = await connectClient(service, { username: 'dora', password: 'dorapass' });
    await dora.stop();

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
