import { accounts } from '@strom/storage';
import { bigint, index, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/*
 * The optional message archive (XEP-0313). Empty unless the operator turns it on with a retention
 * period; rows older than that are deleted by a scheduled job. Everything goes with the account.
 */

const owner = () =>
  text('owner')
    .notNull()
    .references(() => accounts.username, { onDelete: 'cascade' });

export const archiveMessages = pgTable(
  'archive_messages',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    owner: owner(),
    /** The archive's id for the message (XEP-0359 stanza-id, XEP-0313 result id). */
    uid: text('uid').notNull(),
    /** The bare JID of the other party. */
    with: text('with_jid').notNull(),
    stanza: text('stanza').notNull(),
    storedAt: timestamp('stored_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex('archive_messages_owner_uid_idx').on(table.owner, table.uid),
    index('archive_messages_owner_seq_idx').on(table.owner, table.seq),
    index('archive_messages_owner_with_seq_idx').on(table.owner, table.with, table.seq),
    index('archive_messages_stored_at_idx').on(table.storedAt),
  ],
);

/** XEP-0313 §6 preferences: what to archive by default, and JIDs always or never archived. */
export const archivePrefs = pgTable('archive_prefs', {
  owner: owner().primaryKey(),
  defaultMode: text('default_mode', { enum: ['always', 'never', 'roster'] }).notNull(),
  always: text('always').array().notNull(),
  never: text('never').array().notNull(),
});
