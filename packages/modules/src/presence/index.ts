export { acceptsPresenceFrom, mayViewPresence, presenceBlocked } from './access.js';
export { initialPresence } from './events.js';
export { MAX_DIRECTED_PRESENCE, presenceModule } from './module.js';
export {
  presenceAudience,
  receivesPresenceFrom,
  sharesPresenceWith,
  validatedPriority,
} from './rules.js';
