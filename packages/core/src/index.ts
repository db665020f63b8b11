export { AccountError, changePassword, createAccount, normalizeUsername, type AccountProblem } from './accounts.js';
export {
  StanzaError,
  StreamError,
  errorReply,
  iqResult,
  type StanzaErrorCondition,
  type StanzaErrorType,
  type StreamErrorCondition,
} from './errors.js';
export { HookBus, type HookHandler, type HookResult } from './hooks.js';
export { NS } from './namespaces.js';
export {
  ModuleRegistry,
  defineModule,
  iqEventName,
  type Addressing,
  type IqEvent,
  type IqHandler,
  type Identity,
  type LifecycleEvents,
  type ModuleContext,
  type NonzaEvent,
  type PreAuthIqEvent,
  type StanzaEvent,
  type StanzaKind,
  type StreamFeatureStage,
  type StromModule,
} from './registry.js';
export { Router } from './router.js';
export { XmppServer, silentLogger, type Logger, type ServerOptions, type ServerStats } from './server.js';
export { ClientSession, type CloseReason, type SessionState, type Transport } from './session.js';
