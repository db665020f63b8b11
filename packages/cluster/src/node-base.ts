import { Listeners } from './listeners.js';
import { describeHandlerError } from './log.js';
import type {
  ClusterLog,
  Envelope,
  EnvelopeHandler,
  NodeDownHandler,
  NodeStatus,
  SessionEntry,
  StatusHandler,
} from './types.js';

/**
 * What every cluster implementation shares: its node id, its log and the handlers the server
 * registers for envelopes, lost nodes and status changes. A failing handler is logged and stops
 * neither the other handlers nor the node.
 */
export abstract class ClusterNodeBase {
  protected readonly envelopeListeners: Listeners<[Envelope, string]>;
  protected readonly nodeDownListeners: Listeners<[string, SessionEntry[]]>;
  protected readonly statusListeners: Listeners<[NodeStatus]>;

  protected constructor(
    readonly nodeId: string,
    protected readonly log: ClusterLog,
  ) {
    const onHandlerError = (error: unknown) =>
      log.warn({ node: nodeId, ...describeHandlerError(error) }, 'cluster handler failed');
    this.envelopeListeners = new Listeners(onHandlerError);
    this.nodeDownListeners = new Listeners(onHandlerError);
    this.statusListeners = new Listeners(onHandlerError);
  }

  onEnvelope(handler: EnvelopeHandler): void {
    this.envelopeListeners.add(handler);
  }

  onNodeDown(handler: NodeDownHandler): void {
    this.nodeDownListeners.add(handler);
  }

  onStatusChange(handler: StatusHandler): void {
    this.statusListeners.add(handler);
  }
}
