import { and, asc, eq, inArray } from 'drizzle-orm';
import type { Database } from './database.js';
import { blockedJids } from './schema.js';
import type { BlocklistRepository } from './types.js';

export function createBlocklistRepository(db: Database): BlocklistRepository {
  return {
    async list(owner) {
      const rows = await db
        .select({ jid: blockedJids.jid })
        .from(blockedJids)
        .where(eq(blockedJids.owner, owner))
        .orderBy(asc(blockedJids.jid));
      return rows.map((row) => row.jid);
    },

    async add(owner, jids) {
      const unique = [...new Set(jids)];
      if (unique.length === 0) return;
      await db
        .insert(blockedJids)
        .values(unique.map((jid) => ({ owner, jid })))
        .onConflictDoNothing();
    },

    async remove(owner, jids) {
      if (jids.length === 0) return;
      await db.delete(blockedJids).where(and(eq(blockedJids.owner, owner), inArray(blockedJids.jid, jids)));
    },

    async clear(owner) {
      await db.delete(blockedJids).where(eq(blockedJids.owner, owner));
    },
  };
}
