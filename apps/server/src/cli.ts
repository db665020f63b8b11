#!/usr/bin/env node
import { createInterface } from 'node:readline/promises';
import { migrate, openStorage } from '@strom/storage';
import { type AdminReply, type AdminRequest, handleAdminRequest, sendAdminRequest } from './admin.js';
import { createXmppServer, startStrom } from './app.js';
import { type Config, ConfigError, loadConfig, loadDotEnv, storageOptions } from './config.js';
import { createLogger } from './logger.js';

const USAGE = `Usage: strom <command>

  serve                          run the server (default)
  migrate                        apply database migrations and exit
  user add <username> [password] create an account (asks for the password when omitted)
  user passwd <username> [password]
  user delete <username>         remove the account and everything stored about it
  user list [--inactive-days N]  list accounts (optionally only those without a login for N days)

Configuration comes from the environment and ./.env; see .env.example.`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  await loadDotEnv('.env');
  const config = loadConfig();
  const [command = 'serve', ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(config);
    case 'migrate':
      await migrate(storageOptions(config));
      console.log('Migrations applied.');
      return 0;
    case 'user':
      return user(config, rest);
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;
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
  const [sub, username, ...more] = args;
  let request: AdminRequest;
  switch (sub) {
    case 'add':
    case 'passwd':
      if (!username) throw new UsageError(`strom user ${sub} needs a username`);
      request = {
        command: sub === 'add' ? 'user.add' : 'user.passwd',
        username,
        password: more[0] ?? (await askPassword()),
      };
      break;
    case 'delete':
      if (!username) throw new UsageError('strom user delete needs a username');
      request = { command: 'user.delete', username };
      break;
    case 'list': {
      const flag = args.indexOf('--inactive-days');
      const days = flag === -1 ? undefined : Number(args[flag + 1]);
      if (days !== undefined && !(Number.isFinite(days) && days >= 0))
        throw new UsageError('--inactive-days needs a number');
      request = { command: 'user.list', inactiveDays: days };
      break;
    }
    default:
      throw new UsageError(`Unknown user command "${sub ?? ''}"`);
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
    case 'user.list':
      for (const account of reply.result as Array<{
        jid: string;
        createdAt: string;
        lastLoginAt: string | null;
      }>) {
        console.log(
          `${account.jid}\tcreated ${account.createdAt}\tlast login ${account.lastLoginAt ?? 'never'}`,
        );
      }
      break;
    default:
      console.log(JSON.stringify(reply.result));
  }
  return 0;
}

async function askPassword(): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY });
  try {
    return await rl.question('Password: ');
  } finally {
    rl.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) console.error(`${err.message}\n\n${USAGE}`);
    else if (err instanceof ConfigError) console.error(err.message);
    else console.error(err);
    process.exit(err instanceof UsageError || err instanceof ConfigError ? 2 : 1);
  },
);
