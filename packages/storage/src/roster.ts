import { and, asc, count, eq, gt, lte, sql } from 'drizzle-orm';
import type { Database } from './database.js';
import { accounts, pendingSubscriptions, rosterItems, rosterTombstones } from './schema.js';
import type { RosterItem, RosterRepository } from './types.js';

type RosterRow = typeof rosterItems.$inferSelect;
type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];

// Reads of the version and the items must see one snapshot, or a concurrent change could slip between them.
const SNAPSHOT = { isolationLevel: 'repeatable read', accessMode: 'read only' } as const;

export const DEFAULT_ROSTER_HISTORY_LIMIT = 500;

function toItem(row: RosterRow): RosterItem {
  const item: RosterItem = {
    jid: row.contact,
    groups: row.groups,
    subscription: row.subscription,
    askOut: row.askOut,
    approved: row.approved,
  };
  if (row.name !== null) item.name = row.name;
  return item;
}

/** Increments the owner's roster version; the row lock it takes serializes concurrent roster changes. */
async function bumpVersion(tx: Transaction, owner: string): Promise<number> {
  const [row] = await tx
    .update(accounts)
    .set({ rosterVersion: sql`${accounts.rosterVersion} + 1` })
    .where(eq(accounts.username, owner))
    .returning({ version: accounts.rosterVersion });
  if (!row) throw new Error(`Cannot change the roster of unknown account "${owner}"`);
  return row.version;
}

/** Forgets the oldest removals beyond the limit and raises the floor below which deltas cannot be computed. */
async function pruneTombstones(tx: Transaction, owner: string, limit: number): Promise<void> {
  const kept = await tx
    .select({ version: rosterTombstones.version })
    .from(rosterTombstones)
    .where(eq(rosterTombstones.owner, owner))
    .orderBy(sql`${rosterTombstones.version} desc`)
    .limit(1)
    .offset(limit);
  const newestForgotten = kept[0]?.version;
  if (newestForgotten === undefined) return;
  await tx
    .delete(rosterTombstones)
    .where(and(eq(rosterTombstones.owner, owner), lte(rosterTombstones.version, newestForgotten)));
  await tx
    .update(accounts)
    .set({ rosterHistoryFloor: sql`greatest(${accounts.rosterHistoryFloor}, ${newestForgotten})` })
    .where(eq(accounts.username, owner));
}

export function createRosterRepository(
  db: Database,
  historyLimit = DEFAULT_ROSTER_HISTORY_LIMIT,
): RosterRepository {
  return {
    async get(owner) {
      return db.transaction(async (tx) => {
        const [account] = await tx
          .select({ version: accounts.rosterVersion })
          .from(accounts)
          .where(eq(accounts.username, owner));
        const rows = await tx
          .select()
          .from(rosterItems)
          .where(eq(rosterItems.owner, owner))
          .orderBy(asc(rosterItems.contact));
        return { version: account?.version ?? 0, items: rows.map(toItem) };
      }, SNAPSHOT);
    },

    async getItem(owner, contact) {
      const [row] = await db
        .select()
        .from(rosterItems)
        .where(and(eq(rosterItems.owner, owner), eq(rosterItems.contact, contact)));
      return row ? toItem(row) : undefined;
    },

    async put(owner, item) {
      return db.transaction(async (tx) => {
        const version = await bumpVersion(tx, owner);
        const values = {
          name: item.name ?? null,
          groups: item.groups,
          subscription: item.subscription,
          askOut: item.askOut,
          approved: item.approved,
          version,
        };
        await tx
          .insert(rosterItems)
          .values({ owner, contact: item.jid, ...values })
          .onConflictDoUpdate({ target: [rosterItems.owner, rosterItems.contact], set: values });
        await tx
          .delete(rosterTombstones)
          .where(and(eq(rosterTombstones.owner, owner), eq(rosterTombstones.contact, item.jid)));
        return version;
      });
    },

    async remove(owner, contact) {
      return db.transaction(async (tx) => {
        const deleted = await tx
          .delete(rosterItems)
          .where(and(eq(rosterItems.owner, owner), eq(rosterItems.contact, contact)))
          .returning({ contact: rosterItems.contact });
        if (deleted.length === 0) return undefined;
        const version = await bumpVersion(tx, owner);
        await tx
          .insert(rosterTombstones)
          .values({ owner, contact, version })
          .onConflictDoUpdate({
            target: [rosterTombstones.owner, rosterTombstones.contact],
            set: { version },
          });
        await pruneTombstones(tx, owner, historyLimit);
        return version;
      });
    },

    async changesSince(owner, version) {
      if (!Number.isSafeInteger(version) || version < 0) return undefined;
      return db.transaction(async (tx) => {
        const [account] = await tx
          .select({ current: accounts.rosterVersion, floor: accounts.rosterHistoryFloor })
          .from(accounts)
          .where(eq(accounts.username, owner));
        if (!account || version > account.current || version < account.floor) return undefined;
        const changed = await tx
          .select()
          .from(rosterItems)
          .where(and(eq(rosterItems.owner, owner), gt(rosterItems.version, version)))
          .orderBy(asc(rosterItems.version));
        const removed = await tx
          .select({ contact: rosterTombstones.contact })
          .from(rosterTombstones)
          .where(and(eq(rosterTombstones.owner, owner), gt(rosterTombstones.version, version)))
          .orderBy(asc(rosterTombstones.version));
        return {
          version: account.current,
          items: changed.map(toItem),
          removed: removed.map((row) => row.contact),
        };
      }, SNAPSHOT);
    },

    async count(owner) {
      const [row] = await db.select({ total: count() }).from(rosterItems).where(eq(rosterItems.owner, owner));
      return row?.total ?? 0;
    },

    async addPendingIn(owner, contact) {
      await db.insert(pendingSubscriptions).values({ owner, contact }).onConflictDoNothing();
    },

    async removePendingIn(owner, contact) {
      const deleted = await db
        .delete(pendingSubscriptions)
        .where(and(eq(pendingSubscriptions.owner, owner), eq(pendingSubscriptions.contact, contact)))
        .returning({ contact: pendingSubscriptions.contact });
      return deleted.length > 0;
    },

    async hasPendingIn(owner, contact) {
      const rows = await db
        .select({ contact: pendingSubscriptions.contact })
        .from(pendingSubscriptions)
        .where(and(eq(pendingSubscriptions.owner, owner), eq(pendingSubscriptions.contact, contact)));
      return rows.length > 0;
    },

    async listPendingIn(owner) {
      const rows = await db
        .select({ contact: pendingSubscriptions.contact })
        .from(pendingSubscriptions)
        .where(eq(pendingSubscriptions.owner, owner))
        .orderBy(asc(pendingSubscriptions.contact));
      return rows.map((row) => row.contact);
    },

    async ownersWithContact(contact) {
      const rows = await db
        .select({ owner: rosterItems.owner })
        .from(rosterItems)
        .where(eq(rosterItems.contact, contact))
        .orderBy(asc(rosterItems.owner));
      return rows.map((row) => row.owner);
    },
  };
}
