import { eq } from 'drizzle-orm';
import type { Database } from './database.js';
import { vcards } from './schema.js';
import type { VCardRepository } from './types.js';

export function createVCardRepository(db: Database): VCardRepository {
  return {
    async get(owner) {
      const [row] = await db
        .select({ xml: vcards.xml, avatarHash: vcards.avatarHash })
        .from(vcards)
        .where(eq(vcards.owner, owner));
      return row;
    },

    async set(owner, xml, avatarHash) {
      await db
        .insert(vcards)
        .values({ owner, xml, avatarHash })
        .onConflictDoUpdate({ target: vcards.owner, set: { xml, avatarHash } });
    },

    async delete(owner) {
      const deleted = await db
        .delete(vcards)
        .where(eq(vcards.owner, owner))
        .returning({ owner: vcards.owner });
      return deleted.length > 0;
    },
  };
}
