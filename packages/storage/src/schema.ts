import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';

/*
 * Strom keeps only what the privacy promise allows: each user's credentials and last login time, their roster
 * with subscription state, their vCard, messages waiting for them while offline, and the JIDs they blocked.
 * There is deliberately no column for IP addresses, login history, resources or delivered messages.
 *
 * Every per-user table references `accounts` with ON DELETE CASCADE, so deleting an account removes every row
 * about that user by construction.
 */

const owner = () =>
  text('owner')
    .notNull()
    .references(() => accounts.username, { onDelete: 'cascade' });

export const accounts = pgTable('accounts', {
  username: text('username').primaryKey(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  lastLoginAt: timestamp('last_login_at', { withTimezone: true, mode: 'date' }),
  // SCRAM verifiers only: the password itself is never stored.
  scramSalt: text('scram_salt').notNull(),
  scramIterations: integer('scram_iterations').notNull(),
  scramSha1StoredKey: text('scram_sha1_stored_key').notNull(),
  scramSha1ServerKey: text('scram_sha1_server_key').notNull(),
  scramSha256StoredKey: text('scram_sha256_stored_key').notNull(),
  scramSha256ServerKey: text('scram_sha256_server_key').notNull(),
  // Per-owner roster version counter (RFC 6121 §2.6); bumped by every roster change.
  rosterVersion: integer('roster_version').notNull().default(0),
  // Oldest version from which removals are still known; older tombstones are pruned so that the list of
  // contacts a user once removed does not grow without bound.
  rosterHistoryFloor: integer('roster_history_floor').notNull().default(0),
});

export const rosterItems = pgTable(
  'roster_items',
  {
    owner: owner(),
    contact: text('contact').notNull(),
    name: text('name'),
    groups: text('groups').array().notNull().default(sql`'{}'::text[]`),
    subscription: text('subscription', { enum: ['none', 'to', 'from', 'both'] })
      .notNull()
      .default('none'),
    askOut: boolean('ask_out').notNull().default(false),
    approved: boolean('approved').notNull().default(false),
    // Roster version at which this item last changed, for roster versioning pushes.
    version: integer('version').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.owner, table.contact] }),
    index('roster_items_contact_idx').on(table.contact),
    check('roster_items_subscription_check', sql`${table.subscription} in ('none', 'to', 'from', 'both')`),
  ],
);

export const rosterTombstones = pgTable(
  'roster_tombstones',
  {
    owner: owner(),
    contact: text('contact').notNull(),
    version: integer('version').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.owner, table.contact] }),
    index('roster_tombstones_owner_version_idx').on(table.owner, table.version),
  ],
);

/** Inbound subscription requests the owner has not answered yet (RFC 6121 §3.1.3). */
export const pendingSubscriptions = pgTable(
  'pending_subscriptions',
  {
    owner: owner(),
    contact: text('contact').notNull(),
  },
  (table) => [primaryKey({ columns: [table.owner, table.contact] })],
);

export const vcards = pgTable('vcards', {
  owner: text('owner')
    .primaryKey()
    .references(() => accounts.username, { onDelete: 'cascade' }),
  xml: text('xml').notNull(),
  avatarHash: text('avatar_hash'),
});

/** Messages held only while the recipient is offline; rows are deleted once delivered. */
export const offlineMessages = pgTable(
  'offline_messages',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    owner: owner(),
    stanza: text('stanza').notNull(),
    storedAt: timestamp('stored_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (table) => [index('offline_messages_owner_id_idx').on(table.owner, table.id)],
);

/** Blocked JIDs (XEP-0191), stored as given: bare, full or domain JIDs. */
export const blockedJids = pgTable(
  'blocked_jids',
  {
    owner: owner(),
    jid: text('jid').notNull(),
  },
  (table) => [primaryKey({ columns: [table.owner, table.jid] })],
);

/**
 * Secrets every node of one deployment shares, created once by whichever node asks first: e.g. the key
 * that decoy SCRAM salts for unknown usernames are derived from, so all nodes answer alike. Nothing
 * here is about a user.
 */
export const serverSecrets = pgTable('server_secrets', {
  name: text('name').primaryKey(),
  // Base64.
  value: text('value').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

/** Every table Strom keeps, for checks that nothing about a deleted user is left behind. */
export const ALL_TABLES = {
  accounts,
  roster_items: rosterItems,
  roster_tombstones: rosterTombstones,
  pending_subscriptions: pendingSubscriptions,
  vcards,
  offline_messages: offlineMessages,
  blocked_jids: blockedJids,
} as const;
