/** A session directory entry: where one resource is online and how it takes part in presence. */
export type { SessionEntry } from '@strom/cluster';
export {
  AccountError,
  type AccountProblem,
  changePassword,
  createAccount,
  normalizeUsername,
} from './accounts.js';
export { AddressList, networkKey } from './addresses.js';
export {
  type AccountDeletionOptions,
  type AccountService,
  type AnyModule,
  type DeliveryItem,
  type DiscoRegistry,
  defineModule,
  type Identity,
  type IqHandler,
  type ModuleContext,
  type NonzaEvent,
  type NonzaHandler,
  type SessionDirectory,
  type StreamFeatureProvider,
  type StreamFeatureStage,
  type StreamIqEvent,
  type StreamIqHandler,
  type StreamStage,
  type StromModule,
} from './context.js';
export {
  errorReply,
  iqResult,
  StanzaError,
  type StanzaErrorCondition,
  type StanzaErrorType,
  StreamError,
  type StreamErrorCondition,
} from './errors.js';
export {
  type Addressing,
  CoreEvents,
  defineEvent,
  type EventName,
  type IqEvent,
  type StanzaEvent,
  type StanzaKind,
} from './events.js';
export { HookBus, type HookHandler, type HookResult } from './hooks.js';
export { type ComponentHandler, HostTable } from './hosts.js';
export { type Logger, silentLogger } from './logger.js';
export { NS } from './namespaces.js';
export { clientOrigin, INTERNAL, isInternal, type Origin, sessionOf } from './origin.js';
export { iqEventName, ModuleRegistry, orderModules } from './registry.js';
export { Router } from './router.js';
export { ModuleSettingsError, type ServerOptions, XmppServer } from './server.js';
export {
  ClientSession,
  type CloseReason,
  type InboundFilter,
  type Outbound,
  type OutboundFilter,
  type SessionHost,
  type SessionState,
  type Transport,
} from './session.js';
export {
  type Env,
  resolveSettings,
  type Setting,
  type SettingsOf,
  type SettingsSpec,
  setting,
} from './settings.js';
export { bindModule } from './stream/bind.js';
export { type SaslOptions, saslModule } from './stream/sasl.js';
