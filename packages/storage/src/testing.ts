import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { openPgliteFromTemplate } from './pglite-template.js';
import { openStorage, storageOn } from './storage.js';
import type { Storage, StorageKind, StorageOptions } from './types.js';

export const STORAGE_KINDS: StorageKind[] = ['pglite', 'postgres'];

const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

type TestOptions = Omit<StorageOptions, 'databaseUrl' | 'dataDir'>;

/**
 * A fresh, isolated storage for test suites. 'postgres' creates a uniquely named database on the server at
 * STROM_TEST_DATABASE_URL and drops it on close; it throws when that server is unreachable (tests must fail,
 * not skip). 'pglite' is an in-memory PGlite.
 */
export async function createTestStorage(kind: StorageKind, opts: TestOptions = {}): Promise<Storage> {
  if (kind === 'pglite') return storageOn(await openPgliteFromTemplate(), opts);
  return createPostgresTestStorage(process.env.STROM_TEST_DATABASE_URL ?? DEFAULT_TEST_DATABASE_URL, opts);
}

async function createPostgresTestStorage(serverUrl: string, opts: TestOptions): Promise<Storage> {
  const database = await createTestDatabase(serverUrl);
  let storage: Storage;
  try {
    storage = await openStorage({ poolSize: 4, ...opts, databaseUrl: database.url });
  } catch (error) {
    await database.drop();
    throw error;
  }
  const closeStorage = storage.close.bind(storage);
  let closing: Promise<void> | undefined;
  storage.close = () => {
    closing ??= closeStorage().then(database.drop);
    return closing;
  };
  return storage;
}

export interface TestDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

/** An empty, uniquely named database on the test server (no migrations applied). */
export async function createTestDatabase(
  serverUrl = process.env.STROM_TEST_DATABASE_URL ?? DEFAULT_TEST_DATABASE_URL,
): Promise<TestDatabase> {
  const name = `strom_test_${process.pid}_${randomBytes(6).toString('hex')}`;
  await onServer(serverUrl, `create database "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => onServer(serverUrl, `drop database if exists "${name}" with (force)`),
  };
}

async function onServer(serverUrl: string, statement: string): Promise<void> {
  const admin = postgres(serverUrl, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    await admin.unsafe(statement);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `Test PostgreSQL at ${redact(serverUrl)} failed "${statement}": ${reason}. ` +
        'Start PostgreSQL or point STROM_TEST_DATABASE_URL at a running server.',
      { cause: error },
    );
  } finally {
    await admin.end({ timeout: 5 });
  }
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
