#!/usr/bin/env node
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { migrate, openStorage } from '@strom/storage';
import { type AdminReply, type AdminRequest, handleAdminRequest, sendAdminRequest } from './admin.js';
import { createXmppServer, startStrom } from './app.js';
import { type Config, ConfigError, loadConfig, loadDotEnv, storageOptions } from './config.js';
import { createLogger } from './logger.js';

const USAGE = `Usage: strom <command>

  serve                          run the server (default)
  migrate                        apply database migrations and exit
  user add <username>            create an account
  user passwd <username>         change an account's password
  user delete <username>         remove the account and everything stored about it
  user list [--inactive-days N]  list accounts; with N (a whole number of days, at least 1), only
                                 those nobody logged in to for N days, counting accounts that never
                                 logged in from their creation and leaving out accounts online now

Passwords are asked for on a terminal (twice for a new account) or read from the first line of
standard input, e.g. \`printf '%s\\n' "$PASSWORD" | strom user passwd alice\`. Giving the password
after the username still works but is discouraged: other users can see it in the process list and
it stays in the shell history.

Every command exits with 0 only when it did what was asked: 1 when it failed, 2 for a usage error.
Configuration comes from the environment and ./.env; see .env.example.`;

/** Wrong command line: exit status 2, with the usage. */
class UsageError extends Error {}
/** The command did nothing: exit status 1, with the message alone. */
class CommandError extends Error {}

/** Positional arguments and options of one command; unknown options and extra arguments are errors. */
function parseCommand(
  command: string,
  args: string[],
  options: Record<string, { type: 'string' | 'boolean' }>,
  positionals: { min: number; max: number },
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(
      `strom ${command}: ${(err as Error).message.replace(/\. To specify a positional.*$/s, '')}`,
    );
  }
  const count = parsed.positionals.length;
  if (count < positionals.min) throw new UsageError(`strom ${command} needs more arguments`);
  if (count > positionals.max) {
    throw new UsageError(`strom ${command}: unexpected argument "${parsed.positionals[positionals.max]}"`);
  }
  return {
    values: parsed.values as Record<string, string | boolean | undefined>,
    positionals: parsed.positionals,
  };
}

async function main(argv: string[]): Promise<number> {
  const [command = 'serve', ...rest] = argv;
  if (command === 'help' || command === '--help' || command === '-h') {
    parseCommand(command, rest, {}, { min: 0, max: 0 });
    console.log(USAGE);
    return 0;
  }
  await loadDotEnv('.env');
  const config = loadConfig();
  switch (command) {
    case 'serve':
      parseCommand('serve', rest, {}, { min: 0, max: 0 });
      return serve(config);
    case 'migrate':
      parseCommand('migrate', rest, {}, { min: 0, max: 0 });
      await migrate(storageOptions(config));
      console.log('Migrations applied.');
      return 0;
    case 'user':
      return user(config, rest);
    default:
      throw new UsageError(`Unknown command "${command}"`);
  }
}

async function serve(config: Config): Promise<number> {
  const strom = await startStrom(config);
  return new Promise<number>((resolve) => {
    let signals = 0;
    const shutdown = (signal: string) => {
      if (++signals > 1) process.exit(1);
      strom.log.info({ signal }, 'shutting down');
      strom.stop().then(
        () => resolve(0),
        (err) => {
          strom.log.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    // Renewed certificates (e.g. by certbot) are picked up without dropping anyone.
    process.on('SIGHUP', () => {
      try {
        strom.reloadCertificates();
        strom.log.info({}, 'TLS certificates reloaded');
      } catch (err) {
        strom.log.error({ err }, 'TLS certificates could not be reloaded; the old ones stay in use');
      }
    });
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}

async function user(config: Config, args: string[]): Promise<number> {
  const [sub = '', ...rest] = args;
  let request: AdminRequest;
  switch (sub) {
    case 'add':
    case 'passwd': {
      const { positionals } = parseCommand(`user ${sub}`, rest, {}, { min: 1, max: 2 });
      const [username = '', given] = positionals;
      if (given !== undefined) {
        console.error(
          'Warning: a password on the command line can be read by other users and stays in the shell ' +
            'history; leave it out to be asked for it, or pipe it on standard input.',
        );
      }
      request = {
        command: sub === 'add' ? 'user.add' : 'user.passwd',
        username,
        password: given ?? (await readPassword(sub === 'add' ? 'new account' : 'new password')),
      };
      break;
    }
    case 'delete': {
      const { positionals } = parseCommand('user delete', rest, {}, { min: 1, max: 1 });
      request = { command: 'user.delete', username: positionals[0]! };
      break;
    }
    case 'list': {
      const { values } = parseCommand(
        'user list',
        rest,
        { 'inactive-days': { type: 'string' } },
        { min: 0, max: 0 },
      );
      const raw = values['inactive-days'] as string | undefined;
      const days = raw === undefined ? undefined : Number(raw);
      if (days !== undefined && !(Number.isInteger(days) && days >= 1 && days <= 36_500)) {
        throw new UsageError(`--inactive-days needs a whole number of days from 1 to 36500 (got "${raw}")`);
      }
      request = { command: 'user.list', inactiveDays: days };
      break;
    }
    default:
      throw new UsageError(sub === '' ? 'strom user needs a command' : `Unknown user command "${sub}"`);
  }
  const reply = (await sendAdminRequest(config.adminSocket, request)) ?? (await runDirectly(config, request));
  return print(request, reply);
}

/** No server is running: act on the storage directly, with the same modules a server would load. */
async function runDirectly(config: Config, request: AdminRequest): Promise<AdminReply> {
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const storage = await openStorage(storageOptions(config));
  // A node name of its own: the configured one may belong to a node that is only unreachable here.
  const xmpp = createXmppServer({ ...config, nodeId: undefined }, storage, log);
  try {
    await xmpp.start();
    return await handleAdminRequest(xmpp, request);
  } finally {
    await xmpp.stop();
    await storage.close();
  }
}

function print(request: AdminRequest, reply: AdminReply): number {
  if (!reply.ok) {
    console.error(`Error: ${reply.error}`);
    return 1;
  }
  switch (request.command) {
    case 'user.add':
      console.log(`Created ${String(reply.result)}`);
      break;
    case 'user.passwd':
      console.log(`Password changed for ${request.username}`);
      break;
    case 'user.delete':
      console.log(`Deleted ${request.username} and everything stored about the account`);
      break;
    case 'user.list': {
      const accounts = reply.result as Array<{ jid: string; createdAt: string; lastLoginAt: string | null }>;
      for (const account of accounts) {
        console.log(
          `${account.jid}\tcreated ${account.createdAt}\tlast login ${account.lastLoginAt ?? 'never'}`,
        );
      }
      // An empty answer is still an answer; say so where a person looks, and keep stdout clean.
      if (accounts.length === 0) {
        console.error(
          request.inactiveDays === undefined
            ? 'No accounts.'
            : `No accounts inactive for ${request.inactiveDays} days.`,
        );
      }
      break;
    }
    default:
      console.log(JSON.stringify(reply.result));
  }
  return 0;
}

/**
 * A password from the terminal (not echoed; asked twice for a new account) or, when standard input
 * is not a terminal, from its first line. Nothing at all is an error: the command must not go on
 * as if it had a password.
 */
async function readPassword(what: 'new account' | 'new password'): Promise<string> {
  if (process.stdin.isTTY) {
    const password = await askHidden('Password: ');
    if (password === '') throw new CommandError('No password given; nothing was changed.');
    if (what === 'new account' && (await askHidden('Repeat the password: ')) !== password) {
      throw new CommandError('The passwords differ; nothing was changed.');
    }
    return password;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  if (password === '') {
    throw new CommandError('No password given: standard input was empty; nothing was changed.');
  }
  return password;
}

/** Asks on the terminal without echoing what is typed. */
async function askHidden(prompt: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // readline echoes keystrokes through this method; after the prompt, nothing more is shown.
  const echo = rl as unknown as { _writeToOutput(text: string): void };
  let muted = false;
  const write = echo._writeToOutput.bind(rl);
  echo._writeToOutput = (text) => {
    if (!muted) write(text);
  };
  try {
    const answer = new Promise<string>((resolve, reject) => {
      rl.once('close', () => reject(new CommandError('No password given; nothing was changed.')));
      rl.question(prompt).then(resolve, reject);
    });
    muted = true;
    return await answer;
  } finally {
    process.stderr.write('\n');
    rl.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) console.error(`${err.message}\n\n${USAGE}`);
    else if (err instanceof ConfigError || err instanceof CommandError) console.error(err.message);
    else console.error(err);
    process.exit(err instanceof UsageError || err instanceof ConfigError ? 2 : 1);
  },
);
