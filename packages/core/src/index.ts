export {
  AccountError,
  type AccountProblem,
  changePassword,
  createAccount,
  normalizeUsername,
} from './accounts.js';
export {
  errorReply,
  iqResult,
  StanzaError,
  type StanzaErrorCondition,
  type StanzaErrorType,
  StreamError,
  type StreamErrorCondition,
} from './errors.js';
export { HookBus, type HookHandler, type HookResult } from './hooks.js';
export { NS } from './namespaces.js';
export {
  type Addressing,
  defineModule,
  type Identity,
  type IqEvent,
  type IqHandler,
  iqEventName,
  type LifecycleEvents,
  type ModuleContext,
  ModuleRegistry,
  type NonzaEvent,
  type PreAuthIqEvent,
  type StanzaEvent,
  type StanzaKind,
  type StreamFeatureStage,
  type StromModule,
} from './registry.js';
export { Router } from './router.js';
export { type Logger, type ServerOptions, silentLogger, XmppServer } from './server.js';
export { ClientSession, type CloseReason, type SessionState, type Transport } from './session.js';
