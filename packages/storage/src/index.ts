export type { Database } from './database.js';
/** The accounts table, for features whose own tables reference an account (and go with it). */
export { accounts } from './schema.js';
export { sharedSecret } from './secrets.js';
export { migrate, openStorage } from './storage.js';
export { createTestStorage, STORAGE_KINDS } from './testing.js';
export type {
  Account,
  AccountRepository,
  AccountSummary,
  BlocklistRepository,
  OfflineMessage,
  OfflineRepository,
  RosterChanges,
  RosterItem,
  RosterRepository,
  ScramKeys,
  Storage,
  StorageKind,
  StorageOptions,
  StoredCredentials,
  StoredVCard,
  Subscription,
  VCardRepository,
} from './types.js';
