export { clientKeyCacheSize } from './client-key-cache.js';
export {
  DEFAULT_ITERATIONS,
  deriveCredentials,
  type StoredCredentials,
  verifyPassword,
} from './credentials.js';
export { decodeBase64Strict } from './encoding.js';
export { type SaslCondition, SaslError } from './errors.js';
export type { CredentialLookup, SaslMechanism, SaslStep } from './mechanism.js';
export { PlainMechanism, plainInitial } from './plain.js';
export { createMechanism, SCRAM_MECHANISMS } from './registry.js';
export { saslprep } from './saslprep.js';
export { ScramClient, type ScramClientKeys, type ScramClientOptions } from './scram-client.js';
export type { ScramHash, ScramKeys } from './scram-crypto.js';
export { ScramServerMechanism, type ScramServerOptions } from './scram-server.js';
export { AuthThrottle, type AuthThrottleOptions } from './throttle.js';
