import type { Element } from '@strom/xml';

/** Where one connected resource lives and how it takes part in presence routing. */
export interface SessionEntry {
  /** Full JID (bare/resource). */
  jid: string;
  /** Id of the node holding the session's connection. */
  node: string;
  priority: number;
  /** The session has sent initial presence. */
  available: boolean;
  /** The session has requested the roster (so it gets roster pushes and presence subscriptions). */
  interested: boolean;
  /** The session's last broadcast presence, serialized, so any node can answer presence probes. */
  presence?: string;
}

export type SessionPatch = Partial<Pick<SessionEntry, 'priority' | 'available' | 'interested' | 'presence'>>;

export interface DeliverItem {
  stanza: Element;
  /** Full JIDs of sessions on the receiving node. */
  to: string[];
}

export type KickCondition = 'conflict' | 'policy-violation' | 'not-authorized';

/** Messages carried between nodes. Stanzas travel as Elements in-process and serialized over Redis. */
export type Envelope =
  | { type: 'deliver'; items: DeliverItem[] }
  /** Close that session with a stream error carrying `condition`. */
  | { type: 'kick'; jid: string; condition: KickCondition }
  /** For modules; `data` must be JSON-safe. */
  | { type: 'custom'; name: string; data: unknown };

export type NodeStatus = 'ok' | 'degraded';

export type EnvelopeHandler = (envelope: Envelope, fromNode: string) => void;
export type NodeDownHandler = (node: string, sessions: SessionEntry[]) => void;
export type StatusHandler = (status: NodeStatus) => void;

export interface ClusterLog {
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
}

export interface Cluster {
  readonly nodeId: string;
  start(): Promise<void>;
  /** Unregisters this node's sessions and stops heartbeats. */
  close(): Promise<void>;
  /** 'degraded' while the shared backend is unreachable; directory reads then only see this node. */
  status(): NodeStatus;

  /** Atomically sets the entry and returns the previous one for the same full JID, if any (maybe on another node). */
  register(entry: SessionEntry): Promise<SessionEntry | undefined>;
  /** Patches the entry, as long as it still belongs to this node. */
  update(jid: string, patch: SessionPatch): Promise<void>;
  /** Removes the entry only if it still belongs to `node` (default: this node), so a replaced session never removes its successor. */
  unregister(jid: string, node?: string): Promise<void>;
  resources(bareJid: string): Promise<SessionEntry[]>;
  /** One round trip for any number of bare JIDs; every requested JID is a key of the result. */
  resourcesMany(bareJids: string[]): Promise<Map<string, SessionEntry[]>>;

  /** Resolves false when that node is gone (no receiver), so the caller can re-route. */
  send(node: string, envelope: Envelope): Promise<boolean>;
  /**
   * Delivers the envelope once to the onEnvelope handlers of every other live node, never to this
   * one. Best effort like send: while this node cannot reach the shared backend nothing is
   * delivered, and it does not reject for that.
   */
  broadcast(envelope: Envelope): Promise<void>;
  /** Ids of the nodes currently alive, sorted: this node while it runs, plus the others that heartbeat. Only this node while degraded. */
  liveNodes(): Promise<string[]>;
  onEnvelope(handler: EnvelopeHandler): void;
  /** Called on exactly one surviving node when another node's heartbeat expired, with the sessions it had; they are already removed from the directory. */
  onNodeDown(handler: NodeDownHandler): void;
  onStatusChange(handler: StatusHandler): void;
}
