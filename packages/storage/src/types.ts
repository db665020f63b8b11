import type { Database } from './database.js';

export type StorageKind = 'postgres' | 'pglite';

export interface StorageOptions {
  /** A postgres:// URL; when given, Strom runs on that server. */
  databaseUrl?: string;
  /** PGlite data folder used when no databaseUrl is given; 'memory://' keeps everything in memory. */
  dataDir?: string;
  /** Connections in the Postgres pool (default 10). Ignored for PGlite, which has a single connection. */
  poolSize?: number;
  /**
   * How many roster removals are remembered per user for roster versioning (default 500). Older removals are
   * forgotten; clients whose cached roster predates them receive the full roster instead.
   */
  rosterHistoryLimit?: number;
}

/** Usernames are normalized JID localparts; contact JIDs are canonical bare JID strings. */
export interface Storage {
  readonly kind: StorageKind;
  readonly accounts: AccountRepository;
  readonly roster: RosterRepository;
  readonly vcards: VCardRepository;
  readonly offline: OfflineRepository;
  readonly blocklist: BlocklistRepository;
  /** The database itself, for tables a feature declares in its own schema file. */
  readonly database: Database;
  /** Readiness probe; throws when the database is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface ScramKeys {
  storedKey: string;
  serverKey: string;
}

/** SCRAM verifiers for both hash functions; same shape as the SASL package's, kept separate on purpose. */
export interface StoredCredentials {
  salt: string;
  iterations: number;
  'SHA-1': ScramKeys;
  'SHA-256': ScramKeys;
}

export interface Account {
  username: string;
  createdAt: Date;
  lastLoginAt: Date | null;
  credentials: StoredCredentials;
}

export type AccountSummary = Omit<Account, 'credentials'>;

export interface AccountRepository {
  /** Returns false when the account already exists. */
  create(username: string, credentials: StoredCredentials): Promise<boolean>;
  get(username: string): Promise<Account | undefined>;
  exists(username: string): Promise<boolean>;
  /** Returns false when the account does not exist. */
  setCredentials(username: string, credentials: StoredCredentials): Promise<boolean>;
  /** Records the time of the latest login (the only login information Strom keeps). */
  touchLogin(username: string, at?: Date): Promise<void>;
  /**
   * Accounts ordered by username. With `inactiveSince`, only accounts whose last login is before that time, or
   * that never logged in and were created before it.
   */
  list(opts?: { inactiveSince?: Date }): Promise<AccountSummary[]>;
  count(): Promise<number>;
  /** Removes the account and every row about the user in one transaction; false when absent. */
  delete(username: string): Promise<boolean>;
}

export type Subscription = 'none' | 'to' | 'from' | 'both';

export interface RosterItem {
  jid: string;
  name?: string;
  groups: string[];
  subscription: Subscription;
  /** Our outbound subscription request is pending. */
  askOut: boolean;
  /** An inbound subscription is pre-approved. */
  approved: boolean;
}

export interface RosterChanges {
  version: number;
  items: RosterItem[];
  removed: string[];
}

export interface RosterRepository {
  /** The full roster with its current version; version 0 and no items for an unknown owner. */
  get(owner: string): Promise<{ version: number; items: RosterItem[] }>;
  getItem(owner: string, contact: string): Promise<RosterItem | undefined>;
  /** Inserts or replaces the item; bumps and returns the owner's roster version. Throws for an unknown owner. */
  put(owner: string, item: RosterItem): Promise<number>;
  /** Deletes the item and remembers the removal; returns the new version, or undefined when absent. */
  remove(owner: string, contact: string): Promise<number | undefined>;
  /**
   * Items changed and contacts removed after `version`. Undefined when `version` is unknown, too old (its
   * removals were forgotten) or ahead of the current version: the caller then sends the full roster.
   */
  changesSince(owner: string, version: number): Promise<RosterChanges | undefined>;
  count(owner: string): Promise<number>;
  /** Records an inbound subscription request awaiting the owner's answer (idempotent). */
  addPendingIn(owner: string, contact: string): Promise<void>;
  removePendingIn(owner: string, contact: string): Promise<boolean>;
  hasPendingIn(owner: string, contact: string): Promise<boolean>;
  listPendingIn(owner: string): Promise<string[]>;
  /** Every owner (local username) whose roster contains `contact` — used to clean up after account deletion. */
  ownersWithContact(contact: string): Promise<string[]>;
}

export interface StoredVCard {
  xml: string;
  avatarHash: string | null;
}

export interface VCardRepository {
  get(owner: string): Promise<StoredVCard | undefined>;
  set(owner: string, xml: string, avatarHash: string | null): Promise<void>;
  delete(owner: string): Promise<boolean>;
}

export interface OfflineMessage {
  id: number;
  stanza: string;
  storedAt: Date;
}

export interface OfflineRepository {
  /** Stores unless the owner already has `quota` messages; never exceeds the quota even under concurrent stores. */
  store(owner: string, stanza: string, quota: number): Promise<'stored' | 'quota-exceeded'>;
  /** Oldest first. */
  list(owner: string, limit?: number): Promise<OfflineMessage[]>;
  /** Deletes the owner's messages with these ids; returns how many were deleted. */
  delete(owner: string, ids: number[]): Promise<number>;
  /**
   * Takes the owner's oldest messages out of storage and returns them, oldest first. Claims that
   * run at the same time (two resources coming online on two nodes) get disjoint sets, so every
   * message is handed out once.
   */
  claim(owner: string, limit: number): Promise<OfflineMessage[]>;
  /** Puts claimed messages back (a session that ended before it could take them), keeping their time. */
  restore(owner: string, messages: readonly OfflineMessage[]): Promise<void>;
  count(owner: string): Promise<number>;
  clear(owner: string): Promise<number>;
}

export interface BlocklistRepository {
  /** JIDs as given (bare, full or domain), normalized by the caller; sorted. */
  list(owner: string): Promise<string[]>;
  /** Idempotent. */
  add(owner: string, jids: string[]): Promise<void>;
  remove(owner: string, jids: string[]): Promise<void>;
  clear(owner: string): Promise<void>;
}
