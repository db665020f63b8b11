import { accounts } from '@strom/storage';
import { pgTable, primaryKey, text } from 'drizzle-orm/pg-core';

/**
 * XEP-0049 private XML storage: one element per namespace and name, readable only by the account
 * itself (legacy bookmarks, client settings). It goes with the account (ON DELETE CASCADE).
 */
export const privateXml = pgTable(
  'private_xml',
  {
    owner: text('owner')
      .notNull()
      .references(() => accounts.username, { onDelete: 'cascade' }),
    namespace: text('namespace').notNull(),
    name: text('name').notNull(),
    xml: text('xml').notNull(),
  },
  (table) => [primaryKey({ columns: [table.owner, table.namespace, table.name] })],
);
