import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type Connection, connect, connectPgliteFromDump, IN_MEMORY, MIGRATIONS_FOLDER } from './database.js';

/*
 * A fresh PGlite runs initdb, which takes seconds, and test suites open many in-memory databases. So the first
 * migrated database is dumped to the temp folder and later ones, in any process, start from that dump. The file
 * name carries a hash of the migrations and the PGlite version, so a schema change never reuses a stale dump.
 */

let template: Blob | undefined;

/** A migrated in-memory PGlite, started from the shared template when one exists. */
export async function openPgliteFromTemplate(): Promise<Connection> {
  const path = await templatePath();
  template ??= await readTemplate(path);
  if (template) {
    try {
      return await connectPgliteFromDump(template);
    } catch {
      // A damaged or incompatible dump: forget it and build a new one below.
      template = undefined;
      await rm(path, { force: true });
    }
  }
  const connection = await connect({ dataDir: IN_MEMORY });
  if (connection.dump) {
    template = await connection.dump();
    await saveTemplate(path, template);
  }
  return connection;
}

async function templatePath(): Promise<string> {
  const hash = createHash('sha256').update(pgliteVersion());
  const files = (await readdir(MIGRATIONS_FOLDER)).filter((name) => name.endsWith('.sql')).sort();
  for (const name of [...files, 'meta/_journal.json']) {
    hash.update(name).update(await readFile(join(MIGRATIONS_FOLDER, name)));
  }
  return join(tmpdir(), `strom-pglite-template-${hash.digest('hex').slice(0, 16)}.tar.gz`);
}

function pgliteVersion(): string {
  try {
    const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
    const manifest = createRequire(import.meta.url)(join(dirname(entry), '..', 'package.json')) as {
      version?: string;
    };
    return manifest.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function readTemplate(path: string): Promise<Blob | undefined> {
  try {
    return new Blob([await readFile(path)]);
  } catch {
    return undefined;
  }
}

/** Writes through a temporary file and a rename, so concurrent test processes never read a partial dump. */
async function saveTemplate(path: string, dump: Blob): Promise<void> {
  const partial = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
  try {
    await writeFile(partial, new Uint8Array(await dump.arrayBuffer()));
    await rename(partial, path);
  } catch {
    // The template only saves time; failing to write it must not fail the caller.
    await rm(partial, { force: true });
  }
}
