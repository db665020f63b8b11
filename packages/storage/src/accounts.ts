import { and, asc, count, eq, isNull, lt, or } from 'drizzle-orm';
import type { Database } from './database.js';
import { accounts } from './schema.js';
import type { Account, AccountRepository, AccountSummary, StoredCredentials } from './types.js';

type AccountRow = typeof accounts.$inferSelect;

function credentialColumns(credentials: StoredCredentials) {
  return {
    scramSalt: credentials.salt,
    scramIterations: credentials.iterations,
    scramSha1StoredKey: credentials['SHA-1'].storedKey,
    scramSha1ServerKey: credentials['SHA-1'].serverKey,
    scramSha256StoredKey: credentials['SHA-256'].storedKey,
    scramSha256ServerKey: credentials['SHA-256'].serverKey,
  };
}

function toAccount(row: AccountRow): Account {
  return {
    username: row.username,
    createdAt: row.createdAt,
    lastLoginAt: row.lastLoginAt,
    credentials: {
      salt: row.scramSalt,
      iterations: row.scramIterations,
      'SHA-1': { storedKey: row.scramSha1StoredKey, serverKey: row.scramSha1ServerKey },
      'SHA-256': { storedKey: row.scramSha256StoredKey, serverKey: row.scramSha256ServerKey },
    },
  };
}

const summaryColumns = {
  username: accounts.username,
  createdAt: accounts.createdAt,
  lastLoginAt: accounts.lastLoginAt,
};

export function createAccountRepository(db: Database): AccountRepository {
  return {
    async create(username, credentials) {
      const inserted = await db
        .insert(accounts)
        .values({ username, ...credentialColumns(credentials) })
        .onConflictDoNothing({ target: accounts.username })
        .returning({ username: accounts.username });
      return inserted.length > 0;
    },

    async get(username) {
      const [row] = await db.select().from(accounts).where(eq(accounts.username, username));
      return row ? toAccount(row) : undefined;
    },

    async exists(username) {
      const rows = await db
        .select({ username: accounts.username })
        .from(accounts)
        .where(eq(accounts.username, username));
      return rows.length > 0;
    },

    async setCredentials(username, credentials) {
      const updated = await db
        .update(accounts)
        .set(credentialColumns(credentials))
        .where(eq(accounts.username, username))
        .returning({ username: accounts.username });
      return updated.length > 0;
    },

    async touchLogin(username, at = new Date()) {
      await db.update(accounts).set({ lastLoginAt: at }).where(eq(accounts.username, username));
    },

    async list(opts = {}): Promise<AccountSummary[]> {
      const { inactiveSince } = opts;
      const inactive = inactiveSince
        ? or(
            lt(accounts.lastLoginAt, inactiveSince),
            and(isNull(accounts.lastLoginAt), lt(accounts.createdAt, inactiveSince)),
          )
        : undefined;
      return db.select(summaryColumns).from(accounts).where(inactive).orderBy(asc(accounts.username));
    },

    async count() {
      const [row] = await db.select({ total: count() }).from(accounts);
      return row?.total ?? 0;
    },

    async delete(username) {
      // Every per-user table cascades from accounts, so this single statement (one implicit transaction)
      // removes the roster, pending requests, removal history, vCard, offline messages and blocklist too.
      const deleted = await db
        .delete(accounts)
        .where(eq(accounts.username, username))
        .returning({ username: accounts.username });
      return deleted.length > 0;
    },
  };
}
