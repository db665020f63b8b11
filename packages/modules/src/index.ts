import type { AnyModule } from '@strom/core';
import { archiveModule } from './archive/index.js';
import { blockingModule } from './blocking.js';
import { carbonsModule } from './carbons/index.js';
import { csiModule } from './csi/index.js';
import { discoModule } from './disco.js';
import { lastActivityModule } from './last-activity.js';
import { messageModule } from './message/index.js';
import { offlineModule } from './offline.js';
import { pepModule } from './pep/index.js';
import { pingModule } from './ping.js';
import { presenceModule } from './presence/index.js';
import { privateStorageModule } from './private-storage/index.js';
import { registerModule } from './register.js';
import { rosterModule, subscriptionModule } from './roster/index.js';
import { streamManagementModule } from './stream-management/index.js';
import { timeModule } from './time.js';
import { vcardModule } from './vcard.js';
import { versionModule } from './version.js';

export { archiveModule, NS_MAM, NS_SID, parseQuery, parseRetention } from './archive/index.js';
export {
  BLOCKLIST_CACHE_TTL_MS,
  BlocklistCache,
  Blocklists,
  blockingModule,
  blocklistChanged,
  blocklists,
  isBlocked,
  itemCovers,
  MAX_BLOCKLIST_ITEMS,
  matchesBlocklist,
  NS_BLOCKING,
  NS_BLOCKING_ERRORS,
  presenceTargets,
} from './blocking.js';
export { carbonEligible, carbonsModule, NS_CARBONS, NS_FORWARD, wrapCarbon } from './carbons/index.js';
export { bareOf, csiModule, HeldStanzas, holdKey, NS_CSI } from './csi/index.js';
export { discoModule, NS_DISCO_INFO, NS_DISCO_ITEMS } from './disco.js';
export { lastActivityModule, lastSeen, NS_LAST_ACTIVITY, secondsBetween } from './last-activity.js';
export {
  type BareRoute,
  type Candidate,
  messageDelivered,
  messageModule,
  messageUndeliverable,
  routeBareMessage,
} from './message/index.js';
export {
  DEFAULT_OFFLINE_QUOTA,
  FEATURE_MSGOFFLINE,
  isChatStateOnly,
  NS_CHATSTATES,
  NS_DELAY,
  NS_HINTS,
  offlineModule,
  withDelay,
} from './offline.js';
export {
  type AccessModel,
  DEFAULT_NODE_CONFIG,
  type NodeConfig,
  NS_PUBSUB,
  NS_PUBSUB_EVENT,
  NS_PUBSUB_OWNER,
  PEP_FEATURES,
  pepModule,
} from './pep/index.js';
export { NS_PING, pingModule } from './ping.js';
export {
  acceptsPresenceFrom,
  initialPresence,
  MAX_DIRECTED_PRESENCE,
  mayViewPresence,
  presenceAudience,
  presenceBlocked,
  presenceModule,
  receivesPresenceFrom,
  sharesPresenceWith,
  validatedPriority,
} from './presence/index.js';
export { NS_PRIVATE, privateRead, privateStorageModule, privateWrite } from './private-storage/index.js';
export {
  NS_REGISTER,
  NS_REGISTER_FEATURE,
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
  rosterModule,
  subscriptionModule,
} from './roster/index.js';
export {
  ACK_REQUEST_THRESHOLD,
  type AckResult,
  COUNTER_MODULUS,
  HandledCountTooHigh,
  NS_SM,
  streamManagementModule,
  streamResumed,
  UnackedQueue,
} from './stream-management/index.js';
export { NS_TIME, timeModule, xmppDateTime } from './time.js';
export {
  avatarHashOf,
  DEFAULT_MAX_VCARD_BYTES,
  NS_VCARD,
  NS_VCARD_UPDATE,
  needsAvatarUpdate,
  setAvatarUpdate,
  vcardModule,
} from './vcard.js';
export { NS_VERSION, stromVersion, versionModule } from './version.js';

/**
 * The modules a Strom server loads by default. Each reads its own settings from the environment
 * and declares the modules it needs; the server orders them by that. A new feature is one line here.
 */
export function defaultModules(): AnyModule[] {
  return [
    discoModule,
    pingModule,
    timeModule,
    rosterModule,
    subscriptionModule,
    presenceModule,
    lastActivityModule,
    messageModule,
    offlineModule,
    carbonsModule,
    blockingModule,
    vcardModule,
    privateStorageModule,
    pepModule,
    archiveModule,
    versionModule,
    registerModule,
    streamManagementModule,
    csiModule,
  ];
}
