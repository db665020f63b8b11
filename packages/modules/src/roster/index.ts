export { rosterModule } from './roster.js';
export {
  itemElement,
  MAX_GROUP_LENGTH,
  MAX_GROUPS_PER_ITEM,
  MAX_NAME_LENGTH,
  NS_PRE_APPROVAL,
  NS_ROSTER,
  NS_ROSTER_VERSIONING,
  parseRosterSet,
  type RosterSetRequest,
} from './roster-items.js';
export { DEFAULT_MAX_ROSTER_ITEMS, type RosterOptions, RosterService } from './roster-service.js';
export { subscriptionModule } from './subscription.js';
export {
  hasFrom,
  hasTo,
  inbound,
  outbound,
  type SubscriptionState,
  type SubscriptionType,
} from './subscription-state.js';
