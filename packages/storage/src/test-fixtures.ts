import { randomBytes } from 'node:crypto';
import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll } from 'vitest';
import { ALL_TABLES } from './schema.js';
import { databaseOf } from './storage.js';
import { createTestStorage } from './testing.js';
import type { RosterItem, Storage, StorageKind, StorageOptions, StoredCredentials } from './types.js';

export type TableName = keyof typeof ALL_TABLES;

/** Opens one isolated storage per suite; tests share it and keep apart through unique usernames. */
export function useTestStorage(
  kind: StorageKind,
  opts: Omit<StorageOptions, 'databaseUrl' | 'dataDir'> = {},
): () => Storage {
  let storage: Storage | undefined;
  beforeAll(async () => {
    storage = await createTestStorage(kind, opts);
  });
  afterAll(async () => {
    await storage?.close();
  });
  return () => {
    if (!storage) throw new Error('storage is not open yet');
    return storage;
  };
}

export function uniqueName(prefix = 'user'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export function credentials(seed = randomBytes(4).toString('hex')): StoredCredentials {
  return {
    salt: `salt-${seed}`,
    iterations: 4096,
    'SHA-1': { storedKey: `sha1-stored-${seed}`, serverKey: `sha1-server-${seed}` },
    'SHA-256': { storedKey: `sha256-stored-${seed}`, serverKey: `sha256-server-${seed}` },
  };
}

export async function createAccount(storage: Storage, prefix = 'user'): Promise<string> {
  const username = uniqueName(prefix);
  if (!(await storage.accounts.create(username, credentials())))
    throw new Error(`${username} already exists`);
  return username;
}

export function rosterItem(jid: string, overrides: Partial<RosterItem> = {}): RosterItem {
  return { jid, groups: [], subscription: 'none', askOut: false, approved: false, ...overrides };
}

/** Row counts of every table, read straight from the database. */
export async function countRows(storage: Storage): Promise<Record<TableName, number>> {
  const db = databaseOf(storage);
  const counts = {} as Record<TableName, number>;
  for (const [name, table] of Object.entries(ALL_TABLES) as Array<
    [TableName, (typeof ALL_TABLES)[TableName]]
  >) {
    const [row] = await db.select({ total: count() }).from(table);
    counts[name] = row?.total ?? 0;
  }
  return counts;
}

/** Rows that mention `username` as their owner (or, for accounts, as the account itself), per table. */
export async function countRowsAbout(storage: Storage, username: string): Promise<Record<TableName, number>> {
  const db = databaseOf(storage);
  const { accounts, ...perUser } = ALL_TABLES;
  const [account] = await db.select({ total: count() }).from(accounts).where(eq(accounts.username, username));
  const counts = { accounts: account?.total ?? 0 } as Record<TableName, number>;
  for (const [name, table] of Object.entries(perUser) as Array<
    [TableName, (typeof perUser)[keyof typeof perUser]]
  >) {
    const [row] = await db.select({ total: count() }).from(table).where(eq(table.owner, username));
    counts[name] = row?.total ?? 0;
  }
  return counts;
}
