#!/usr/bin/env node
// What the test suite needs outside node_modules, checked before `npm test` builds anything.
//
// Programs the tests start are installed from Debian when this runs as root on a machine with
// apt-get (CI, containers); anywhere else it stops with the one command that installs them.
// PostgreSQL and Redis must be reachable at the URLs the suite uses (test/global-setup.ts asks this
// module too). Plain Node on purpose: it runs before the build.
//
//   node scripts/test-prerequisites.mjs             check, and install what is missing when root
//   node scripts/test-prerequisites.mjs --no-install   check only
//
// STROM_TEST_PRETEND_MISSING=nginx,chromium makes those programs count as missing (and never
// installs them), to see the message on a machine that has them.

import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Programs the suite runs, one entry each. `command` is looked up on PATH as the tests' own spawn
 * does, unless it is an absolute path; `debian` is the package that provides it; `env`, when given,
 * is the variable that points the tests at another copy (then nothing is installed for it).
 */
export const PROGRAMS = [
  {
    name: 'chromium',
    command: process.env.STROM_TEST_CHROMIUM ?? '/usr/bin/chromium',
    env: 'STROM_TEST_CHROMIUM',
    debian: 'chromium',
    usedBy: 'browser tests',
  },
  { name: 'nginx', command: 'nginx', debian: 'nginx', usedBy: 'nginx and deployment tests' },
  { name: 'docker-compose', command: 'docker-compose', debian: 'docker-compose', usedBy: 'deployment tests' },
  { name: 'openssl', command: 'openssl', debian: 'openssl', usedBy: 'test certificates' },
];

/** Services the suite connects to; the defaults are the ones the test helpers use. */
export const SERVICES = [
  {
    name: 'PostgreSQL',
    env: 'STROM_TEST_DATABASE_URL',
    url: process.env.STROM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    check: checkPostgres,
  },
  {
    name: 'Redis',
    env: 'STROM_TEST_REDIS_URL',
    url: process.env.STROM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    check: checkRedis,
  },
];

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Where `command` is found, or why not: { path } or { problem }. */
export function locate(command) {
  const pretend = (process.env.STROM_TEST_PRETEND_MISSING ?? '').split(',').map((s) => s.trim());
  if (pretend.includes(path.basename(command))) {
    return { problem: 'missing (STROM_TEST_PRETEND_MISSING)' };
  }
  if (path.isAbsolute(command)) return executable(command) ? { path: command } : { problem: 'missing' };
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const dir of dirs) {
    const candidate = path.join(dir, command);
    if (executable(candidate)) return { path: candidate };
  }
  // Debian installs nginx into /usr/sbin, which is not on an ordinary user's PATH.
  for (const dir of SYSTEM_DIRS) {
    const candidate = path.join(dir, command);
    if (executable(candidate)) return { problem: `installed as ${candidate}, but ${dir} is not on PATH` };
  }
  return { problem: 'missing' };
}

function executable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Programs that are not usable, each with its problem. */
export function missingPrograms() {
  return PROGRAMS.map((program) => ({ ...program, ...locate(program.command) })).filter((p) => p.problem);
}

/** Services that do not answer as the suite needs them, each with the reason. */
export async function unreachableServices() {
  const results = await Promise.all(
    SERVICES.map(async (service) => {
      try {
        await service.check(service.url);
        return undefined;
      } catch (error) {
        return { ...service, problem: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
  return results.filter(Boolean);
}

/** The suite creates a database per test file on this server, so the role needs CREATEDB. */
async function checkPostgres(url) {
  const { default: postgres } = await importDependency('postgres');
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    const [role] =
      await sql`select rolsuper or rolcreatedb as creates from pg_roles where rolname = current_user`;
    if (!role?.creates) throw new Error('the role may not create databases (CREATEDB), which the tests do');
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function checkRedis(url) {
  const { Redis } = await importDependency('ioredis');
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  let failure;
  redis.on('error', (error) => {
    failure ??= error;
  });
  try {
    await redis.connect().catch((error) => {
      throw failure ?? error;
    });
    const pong = await redis.ping();
    if (pong !== 'PONG') throw new Error(`PING answered ${pong}`);
  } finally {
    redis.disconnect();
  }
}

async function importDependency(name) {
  try {
    return await import(name);
  } catch {
    throw new Error(`cannot load the "${name}" package: run "npm install" first`);
  }
}

function redact(url) {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/** The service part of the message, also used by test/global-setup.ts. */
export function describeUnreachable(services) {
  return services
    .map((s) => `${s.name} at ${redact(s.url)} (${s.env} to change): ${s.problem.replace(/\.$/, '')}`)
    .join('; ');
}

function describeProgram(p) {
  const where = path.isAbsolute(p.command) ? `${p.command}, ` : '';
  const override = p.env ? `; ${p.env} to change` : '';
  return `${p.name} (${where}for ${p.usedBy}${override})`;
}

function canInstall(noInstall) {
  if (noInstall || process.getuid?.() !== 0) return false;
  return locate('apt-get').path !== undefined;
}

function install(packages) {
  console.log(`test prerequisites: installing ${packages.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
}

/** Checks everything, installs what it may, and exits non-zero with one message when anything is left. */
async function main() {
  const noInstall = process.argv.includes('--no-install');
  let programs = missingPrograms();
  const services = await unreachableServices();

  // Only programs that are really absent can be installed; a PATH problem or a chromium
  // pointed elsewhere is for the user to fix.
  const installable = programs.filter((p) => p.problem === 'missing' && !(p.env && process.env[p.env]));
  if (installable.length > 0 && canInstall(noInstall)) {
    try {
      install([...new Set(installable.map((p) => p.debian))]);
    } catch (error) {
      console.error(`test prerequisites: apt-get failed: ${error instanceof Error ? error.message : error}`);
    }
    programs = missingPrograms();
  }

  const problems = [];
  if (programs.length > 0) {
    const names = programs.map((p) => `${describeProgram(p)}: ${p.problem}`).join('; ');
    const packages = [
      ...new Set(
        programs
          .filter((p) => p.problem.startsWith('missing') && !(p.env && process.env[p.env]))
          .map((p) => p.debian),
      ),
    ];
    const fix = packages.length > 0 ? ` Install with: sudo apt-get install ${packages.join(' ')}` : '';
    problems.push(`programs the tests run are not usable: ${names}.${fix}`);
  }
  if (services.length > 0) {
    problems.push(
      `services not reachable: ${describeUnreachable(services)}. ` +
        'Start them (README, "Running the tests") or point the variables at running ones.',
    );
  }
  if (problems.length > 0) {
    console.error(`npm test cannot run: ${problems.join(' Also, ')}`);
    process.exit(1);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
