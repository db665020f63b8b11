import type { StromModule } from '@strom/core';
import { blockingModule } from './blocking.js';
import { discoModule } from './disco.js';
import { lastActivityModule } from './last-activity.js';
import { messageModule } from './message/index.js';
import { createOfflineModule } from './offline.js';
import { pingModule } from './ping.js';
import { presenceModule } from './presence/index.js';
import { registerModule } from './register.js';
import { rosterModule, subscriptionModule } from './roster/index.js';
import { timeModule } from './time.js';
import { vcardModule } from './vcard.js';
import { versionModule } from './version.js';

export {
  BLOCKLIST_CACHE_TTL_MS,
  BlocklistCache,
  blockingModule,
  blocklistCache,
  isBlocked,
  itemCovers,
  MAX_BLOCKLIST_ITEMS,
  matchesBlocklist,
  NS_BLOCKING,
  NS_BLOCKING_ERRORS,
  presenceTargets,
} from './blocking.js';
export { discoModule, NS_DISCO_INFO, NS_DISCO_ITEMS } from './disco.js';
export { lastActivityModule, lastSeen, NS_LAST_ACTIVITY, secondsBetween } from './last-activity.js';
export {
  type BareRoute,
  type Candidate,
  messageModule,
  OFFLINE_MESSAGE_HOOK,
  routeBareMessage,
} from './message/index.js';
export {
  createOfflineModule,
  DEFAULT_OFFLINE_QUOTA,
  FEATURE_MSGOFFLINE,
  isChatStateOnly,
  NS_CHATSTATES,
  NS_DELAY,
  NS_HINTS,
  type OfflineOptions,
  withDelay,
} from './offline.js';
export { NS_PING, pingModule } from './ping.js';
export {
  acceptsPresenceFrom,
  MAX_DIRECTED_PRESENCE,
  mayViewPresence,
  presenceAudience,
  presenceBlocked,
  presenceModule,
  receivesPresenceFrom,
  sharesPresenceWith,
  validatedPriority,
} from './presence/index.js';
export {
  NS_REGISTER,
  NS_REGISTER_FEATURE,
  type RegisterOptions,
  RegistrationThrottle,
  type RegistrationThrottleOptions,
  registerModule,
  throttleKey,
} from './register.js';
export {
  DEFAULT_MAX_ROSTER_ITEMS,
  NS_PRE_APPROVAL,
  NS_ROSTER,
  NS_ROSTER_VERSIONING,
  type RosterOptions,
  rosterModule,
  subscriptionModule,
} from './roster/index.js';
export { NS_TIME, timeModule, xmppDateTime } from './time.js';
export {
  avatarHashOf,
  DEFAULT_MAX_VCARD_BYTES,
  NS_VCARD,
  NS_VCARD_UPDATE,
  needsAvatarUpdate,
  setAvatarUpdate,
  type VCardOptions,
  vcardModule,
} from './vcard.js';
export { NS_VERSION, stromVersion, type VersionOptions, versionModule } from './version.js';

export interface ModuleOptions {
  /** RFC 6121: items one account may have in its roster (default 1000). */
  maxRosterItems?: number;
  /** XEP-0077 account creation by anyone ('open') or only by the administrator ('closed'). */
  registration?: 'open' | 'closed';
  /** XEP-0054: largest vCard accepted, avatar included, in bytes (default 64 KiB). */
  maxVCardBytes?: number;
  /** XEP-0092: answer software version queries with service-unavailable (default false). */
  hideVersion?: boolean;
  /** XEP-0160: messages kept per offline account; beyond it senders get resource-constraint (default 1000). */
  offlineQuota?: number;
}

/** The modules a Strom server loads by default, in load order. */
export function defaultModules(options: ModuleOptions = {}): StromModule[] {
  return [
    discoModule,
    pingModule,
    timeModule,
    rosterModule({ maxRosterItems: options.maxRosterItems }),
    subscriptionModule({ maxRosterItems: options.maxRosterItems }),
    presenceModule,
    lastActivityModule,
    messageModule,
    createOfflineModule({ quota: options.offlineQuota }),
    blockingModule,
    vcardModule({ maxVCardBytes: options.maxVCardBytes }),
    versionModule({ hideVersion: options.hideVersion }),
    registerModule({ registration: options.registration }),
  ];
}
