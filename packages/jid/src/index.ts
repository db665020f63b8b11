export { normalizeDomainpart } from './domainpart.js';
export { JidMalformedError } from './errors.js';
export { JID, parseJID } from './jid.js';
export { normalizeLocalpart } from './localpart.js';
export { normalizeResourcepart } from './resourcepart.js';
