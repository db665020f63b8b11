import { sql } from 'drizzle-orm';
import { createAccountRepository } from './accounts.js';
import { createBlocklistRepository } from './blocklist.js';
import { type Connection, connect, type Database, migratePostgresDatabase } from './database.js';
import { createOfflineRepository } from './offline.js';
import { createRosterRepository } from './roster.js';
import type { Storage, StorageOptions } from './types.js';
import { createVCardRepository } from './vcards.js';

const databases = new WeakMap<Storage, Database>();

/** Connects to Postgres (when `databaseUrl` is given) or opens PGlite, and applies pending migrations. */
export async function openStorage(opts: StorageOptions): Promise<Storage> {
  return storageOn(await connect(opts), opts);
}

/** Applies pending migrations and disconnects; used by `strom migrate`. */
export async function migrate(opts: StorageOptions): Promise<void> {
  if (opts.databaseUrl) return migratePostgresDatabase(opts.databaseUrl);
  const connection = await connect(opts);
  await connection.close();
}

/** The underlying database of a storage, for this package's tests only. */
export function databaseOf(storage: Storage): Database {
  const db = databases.get(storage);
  if (!db) throw new Error('Not a storage opened by openStorage');
  return db;
}

/** Wraps an open connection in the repositories. */
export function storageOn(connection: Connection, opts: StorageOptions = {}): Storage {
  const { db } = connection;
  let closing: Promise<void> | undefined;
  const storage: Storage = {
    kind: connection.kind,
    accounts: createAccountRepository(db),
    roster: createRosterRepository(db, opts.rosterHistoryLimit),
    vcards: createVCardRepository(db),
    offline: createOfflineRepository(db),
    blocklist: createBlocklistRepository(db),
    database: db,
    async ping() {
      await db.execute(sql`select 1`);
    },
    close() {
      closing ??= connection.close();
      return closing;
    },
  };
  databases.set(storage, db);
  return storage;
}
