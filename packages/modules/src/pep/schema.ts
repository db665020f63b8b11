import { accounts } from '@strom/storage';
import { bigint, foreignKey, index, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';

/*
 * Personal eventing (XEP-0163): each account's nodes and their items. These hold what the privacy
 * promise lists as the user's own published data — OMEMO device lists and public key bundles, the
 * avatar, bookmarks of contacts and group chats. Both tables go with the account (ON DELETE CASCADE).
 */

/** One node of one account, with its configuration (XEP-0060 node configuration fields). */
export const pepNodes = pgTable(
  'pep_nodes',
  {
    owner: text('owner')
      .notNull()
      .references(() => accounts.username, { onDelete: 'cascade' }),
    node: text('node').notNull(),
    config: jsonb('config').notNull(),
  },
  (table) => [primaryKey({ columns: [table.owner, table.node] })],
);

/** Published items; `seq` orders them (newest last), so no timestamp is kept. */
export const pepItems = pgTable(
  'pep_items',
  {
    seq: bigint('seq', { mode: 'number' }).generatedAlwaysAsIdentity(),
    owner: text('owner').notNull(),
    node: text('node').notNull(),
    itemId: text('item_id').notNull(),
    payload: text('payload').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.owner, table.node, table.itemId] }),
    foreignKey({
      columns: [table.owner, table.node],
      foreignColumns: [pepNodes.owner, pepNodes.node],
    }).onDelete('cascade'),
    index('pep_items_owner_node_seq_idx').on(table.owner, table.node, table.seq),
  ],
);
