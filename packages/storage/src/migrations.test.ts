import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, openStorage } from './storage.js';
import { countRows, credentials, rosterItem } from './test-fixtures.js';
import { createTestDatabase, createTestStorage, STORAGE_KINDS } from './testing.js';
import type { StorageOptions } from './types.js';

// Three disk-backed PGlite starts (initdb, then two recoveries) are slow on a busy machine.
const DISK_TEST_TIMEOUT = 120_000;

const EMPTY_TABLES = {
  accounts: 0,
  roster_items: 0,
  roster_tombstones: 0,
  pending_subscriptions: 0,
  vcards: 0,
  offline_messages: 0,
  blocked_jids: 0,
};

async function expectUsable(opts: StorageOptions): Promise<void> {
  const storage = await openStorage(opts);
  try {
    await storage.ping();
    expect(await countRows(storage)).toEqual(EMPTY_TABLES);
  } finally {
    await storage.close();
  }
}

describe('migrations on postgres', () => {
  it('apply to an empty database, again without error, and from several nodes at once', async () => {
    const database = await createTestDatabase();
    try {
      await migrate({ databaseUrl: database.url });
      await migrate({ databaseUrl: database.url });
      const nodes = await Promise.all(
        [1, 2, 3].map(() => openStorage({ databaseUrl: database.url, poolSize: 2 })),
      );
      await Promise.all(nodes.map((node) => node.close()));
      await expectUsable({ databaseUrl: database.url });
    } finally {
      await database.drop();
    }
  });

  it('fails to open with a clear error when the server is unreachable', async () => {
    await expect(openStorage({ databaseUrl: 'postgres://postgres@127.0.0.1:1/strom' })).rejects.toThrow();
  });

  it('explains how to fix an unreachable test server instead of skipping', async () => {
    await expect(createTestDatabase('postgres://postgres:secret@127.0.0.1:1/test')).rejects.toThrow(
      /127\.0\.0\.1:1.*STROM_TEST_DATABASE_URL/s,
    );
    await expect(createTestDatabase('postgres://postgres:secret@127.0.0.1:1/test')).rejects.not.toThrow(
      /secret/,
    );
  });

  it('rejects a pool size that is not a positive integer', async () => {
    await expect(
      openStorage({ databaseUrl: 'postgres://postgres@127.0.0.1:1/strom', poolSize: 0 }),
    ).rejects.toThrow(/poolSize/);
  });
});

describe('migrations on pglite', () => {
  const folders: string[] = [];
  afterAll(async () => {
    await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
  });

  it(
    'create a nested data folder, apply twice and keep data across reopen',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'strom-storage-'));
      folders.push(root);
      const dataDir = join(root, 'nested', 'data', 'db');

      await migrate({ dataDir });
      expect((await readdir(dataDir)).length).toBeGreaterThan(0);

      // Opening applies the migrations a second time, which must be a no-op.
      const first = await openStorage({ dataDir });
      expect(first.kind).toBe('pglite');
      await first.accounts.create('alice', credentials('persisted'));
      await first.roster.put('alice', rosterItem('bob@example.com', { name: 'Bob', subscription: 'both' }));
      await first.offline.store('alice', '<message><body>hi</body></message>', 10);
      await first.close();

      const reopened = await openStorage({ dataDir });
      try {
        expect((await reopened.accounts.get('alice'))?.credentials).toEqual(credentials('persisted'));
        expect(await reopened.roster.get('alice')).toEqual({
          version: 1,
          items: [rosterItem('bob@example.com', { name: 'Bob', subscription: 'both' })],
        });
        expect((await reopened.offline.list('alice')).map((message) => message.stanza)).toEqual([
          '<message><body>hi</body></message>',
        ]);
      } finally {
        await reopened.close();
      }
    },
    DISK_TEST_TIMEOUT,
  );
});

describe.each(STORAGE_KINDS)('test storages on %s', (kind) => {
  it('are isolated from each other and start empty', async () => {
    const first = await createTestStorage(kind);
    try {
      await first.accounts.create('alice', credentials());
      const second = await createTestStorage(kind);
      try {
        expect(await countRows(second)).toEqual(EMPTY_TABLES);
        expect(await first.accounts.exists('alice')).toBe(true);
      } finally {
        await second.close();
      }
    } finally {
      await first.close();
    }
  });
});
