import { and, asc, count, eq, inArray } from 'drizzle-orm';
import type { Database } from './database.js';
import { accounts, offlineMessages } from './schema.js';
import type { OfflineRepository } from './types.js';

export function createOfflineRepository(db: Database): OfflineRepository {
  return {
    async store(owner, stanza, quota) {
      return db.transaction(async (tx) => {
        // Locking the owner's account row makes count-then-insert atomic per owner, so concurrent stores
        // cannot overshoot the quota. NO KEY UPDATE does not block foreign-key checks from other tables.
        const [account] = await tx
          .select({ username: accounts.username })
          .from(accounts)
          .where(eq(accounts.username, owner))
          .for('no key update');
        if (!account) throw new Error(`Cannot store offline messages for unknown account "${owner}"`);
        const [row] = await tx
          .select({ total: count() })
          .from(offlineMessages)
          .where(eq(offlineMessages.owner, owner));
        if ((row?.total ?? 0) >= quota) return 'quota-exceeded';
        await tx.insert(offlineMessages).values({ owner, stanza });
        return 'stored';
      });
    },

    async list(owner, limit) {
      const query = db
        .select({
          id: offlineMessages.id,
          stanza: offlineMessages.stanza,
          storedAt: offlineMessages.storedAt,
        })
        .from(offlineMessages)
        .where(eq(offlineMessages.owner, owner))
        .orderBy(asc(offlineMessages.id));
      return limit === undefined ? query : query.limit(limit);
    },

    async delete(owner, ids) {
      if (ids.length === 0) return 0;
      const deleted = await db
        .delete(offlineMessages)
        .where(and(eq(offlineMessages.owner, owner), inArray(offlineMessages.id, ids)))
        .returning({ id: offlineMessages.id });
      return deleted.length;
    },

    async claim(owner, limit) {
      const oldest = db
        .select({ id: offlineMessages.id })
        .from(offlineMessages)
        .where(eq(offlineMessages.owner, owner))
        .orderBy(asc(offlineMessages.id))
        .limit(limit)
        .for('update', { skipLocked: true });
      const rows = await db
        .delete(offlineMessages)
        .where(and(eq(offlineMessages.owner, owner), inArray(offlineMessages.id, oldest)))
        .returning({
          id: offlineMessages.id,
          stanza: offlineMessages.stanza,
          storedAt: offlineMessages.storedAt,
        });
      return rows.sort((a, b) => a.id - b.id);
    },

    async restore(owner, messages) {
      if (messages.length === 0) return;
      await db
        .insert(offlineMessages)
        .values(messages.map((message) => ({ owner, stanza: message.stanza, storedAt: message.storedAt })));
    },

    async count(owner) {
      const [row] = await db
        .select({ total: count() })
        .from(offlineMessages)
        .where(eq(offlineMessages.owner, owner));
      return row?.total ?? 0;
    },

    async clear(owner) {
      const deleted = await db
        .delete(offlineMessages)
        .where(eq(offlineMessages.owner, owner))
        .returning({ id: offlineMessages.id });
      return deleted.length;
    },
  };
}
