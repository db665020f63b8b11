import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { StorageKind, StorageOptions } from './types.js';

/** The query surface shared by both drivers; repositories only use this. */
export type Database = PgDatabase<PgQueryResultHKT>;

export interface Connection {
  readonly kind: StorageKind;
  readonly db: Database;
  close(): Promise<void>;
  /** PGlite only: a gzipped tarball of the data folder. */
  dump?(): Promise<Blob>;
}

export const DEFAULT_POOL_SIZE = 10;
export const DEFAULT_DATA_DIR = './data/db';
export const IN_MEMORY = 'memory://';

// The same path works from src/ (tests) and dist/ (built): both sit next to the drizzle/ folder.
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../drizzle', import.meta.url));

// Serializes migrations when several Strom nodes start against one Postgres at the same time.
const MIGRATION_LOCK_ID = 0x5374726f6d; // "Strom"

const silent = () => {};

export function storageKind(opts: StorageOptions): StorageKind {
  return opts.databaseUrl ? 'postgres' : 'pglite';
}

/** Connects and brings the schema up to date. */
export async function connect(opts: StorageOptions): Promise<Connection> {
  return opts.databaseUrl
    ? connectPostgres(opts.databaseUrl, opts.poolSize ?? DEFAULT_POOL_SIZE)
    : connectPglite(opts.dataDir ?? DEFAULT_DATA_DIR);
}

async function connectPostgres(url: string, poolSize: number): Promise<Connection> {
  if (!Number.isInteger(poolSize) || poolSize < 1) throw new Error(`poolSize must be a positive integer`);
  await migratePostgresDatabase(url);
  const client = postgres(url, { max: poolSize, onnotice: silent });
  return {
    kind: 'postgres',
    db: drizzlePostgres({ client }),
    close: () => client.end({ timeout: 5 }),
  };
}

/** Applies pending migrations over one dedicated connection holding an advisory lock. */
export async function migratePostgresDatabase(url: string): Promise<void> {
  const client = postgres(url, { max: 1, onnotice: silent });
  try {
    const db = drizzlePostgres({ client });
    await db.execute(sql`select pg_advisory_lock(${MIGRATION_LOCK_ID})`);
    try {
      await migratePostgres(db, { migrationsFolder: MIGRATIONS_FOLDER });
    } finally {
      await db.execute(sql`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`);
    }
  } finally {
    await client.end({ timeout: 5 });
  }
}

async function connectPglite(dataDir: string): Promise<Connection> {
  const inMemory = dataDir.startsWith(IN_MEMORY);
  if (!inMemory) await mkdir(dataDir, { recursive: true });
  return migratedPglite(await PGlite.create(inMemory ? undefined : dataDir));
}

/** An in-memory PGlite started from a dump made by `dumpDataDir`; migrations still run (as a no-op when current). */
export async function connectPgliteFromDump(dump: Blob): Promise<Connection> {
  return migratedPglite(await PGlite.create({ loadDataDir: dump }));
}

async function migratedPglite(client: PGlite): Promise<Connection> {
  try {
    const db = drizzlePglite({ client });
    await migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER });
    return {
      kind: 'pglite',
      db,
      close: () => client.close(),
      dump: () => client.dumpDataDir('gzip'),
    };
  } catch (error) {
    await client.close();
    throw error;
  }
}
