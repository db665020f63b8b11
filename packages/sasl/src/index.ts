export { clientKeyCacheSize } from './client-key-cache.js';
export {
  DEFAULT_ITERATIONS,
  deriveCredentials,
  type StoredCredentials,
  verifyPassword,
} from './credentials.js';
export { decoyCredentials } from './decoy.js';
export { decodeBase64Strict } from './encoding.js';
export { type SaslCondition, SaslError } from './errors.js';
export type { CredentialLookup, SaslMechanism, SaslStep } from './mechanism.js';
export { PlainMechanism, type PlainOptions, plainInitial } from './plain.js';
export { createMechanism, SCRAM_MECHANISMS } from './registry.js';
export { saslprep } from './saslprep.js';
export { ScramClient, type ScramClientKeys, type ScramClientOptions } from './scram-client.js';
export type { ScramHash, ScramKeys } from './scram-crypto.js';
export { ScramServerMechanism, type ScramServerOptions } from './scram-server.js';
export {
  AuthThrottle,
  type AuthThrottleOptions,
  type AuthThrottlePolicy,
  type CountRule,
  DEFAULT_AUTH_THROTTLE,
  MemoryThrottleStore,
  type ThrottleKeys,
  type ThrottleRecord,
  type ThrottleStore,
} from './throttle.js';
