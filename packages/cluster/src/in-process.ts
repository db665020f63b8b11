import { copyEnvelope } from './envelope-copy.js';
import { splitFullJid } from './jid.js';
import { fallbackLog } from './log.js';
import { ClusterNodeBase } from './node-base.js';
import { randomNodeId } from './node-id.js';
import { SessionTable } from './session-table.js';
import type { Cluster, ClusterLog, Envelope, NodeStatus, SessionEntry, SessionPatch } from './types.js';

/**
 * The shared state of in-process nodes: one directory and the set of running nodes. Several
 * clusters given the same hub behave like nodes of one deployment (multi-node tests without Redis).
 */
export class InProcessHub {
  /** @internal */
  readonly sessions = new SessionTable();
  private readonly nodes = new Map<string, InProcessCluster>();

  /** @internal */
  attach(node: InProcessCluster): void {
    const existing = this.nodes.get(node.nodeId);
    if (existing && existing !== node)
      throw new Error(`Node id ${node.nodeId} is already running on this hub`);
    this.nodes.set(node.nodeId, node);
  }

  /** @internal */
  detach(node: InProcessCluster): void {
    if (this.nodes.get(node.nodeId) === node) this.nodes.delete(node.nodeId);
  }

  /** @internal */
  node(nodeId: string): InProcessCluster | undefined {
    return this.nodes.get(nodeId);
  }

  /** @internal The running nodes. */
  members(): InProcessCluster[] {
    return Array.from(this.nodes.values());
  }

  /** @internal The surviving node that takes over a lost node's cleanup. */
  firstNode(): InProcessCluster | undefined {
    return this.nodes.values().next().value;
  }

  /** @internal Removes the entries still pointing at `nodeId` and returns them. */
  removeNodeSessions(nodeId: string): SessionEntry[] {
    const removed: SessionEntry[] = [];
    for (const entry of this.sessions.entries()) {
      if (entry.node !== nodeId) continue;
      this.sessions.delete(entry.jid);
      removed.push({ ...entry });
    }
    return removed;
  }
}

export interface InProcessOptions {
  nodeId?: string;
  hub?: InProcessHub;
  log?: ClusterLog;
}

export class InProcessCluster extends ClusterNodeBase implements Cluster {
  private readonly hub: InProcessHub;
  private running = false;

  constructor(opts: InProcessOptions = {}) {
    super(opts.nodeId ?? randomNodeId(), opts.log ?? fallbackLog);
    this.hub = opts.hub ?? new InProcessHub();
  }

  async start(): Promise<void> {
    this.hub.attach(this);
    this.running = true;
  }

  async close(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.hub.removeNodeSessions(this.nodeId);
    this.hub.detach(this);
  }

  /**
   * Drops this node from the hub without cleaning up, like a process that died: one surviving
   * node then removes its sessions and reports them through onNodeDown.
   */
  simulateCrash(): void {
    if (!this.running) return;
    this.running = false;
    this.hub.detach(this);
    setImmediate(() => {
      const survivor = this.hub.firstNode();
      if (!survivor) return;
      const sessions = this.hub.removeNodeSessions(this.nodeId);
      survivor.nodeDown(this.nodeId, sessions);
    });
  }

  status(): NodeStatus {
    return 'ok';
  }

  async register(entry: SessionEntry): Promise<SessionEntry | undefined> {
    splitFullJid(entry.jid);
    const previous = this.hub.sessions.set({ ...entry });
    return previous && { ...previous };
  }

  async update(jid: string, patch: SessionPatch): Promise<void> {
    if (this.hub.sessions.peek(jid)?.node === this.nodeId) this.hub.sessions.patch(jid, patch);
  }

  async unregister(jid: string, node: string = this.nodeId): Promise<void> {
    if (this.hub.sessions.peek(jid)?.node === node) this.hub.sessions.delete(jid);
  }

  async resources(bareJid: string): Promise<SessionEntry[]> {
    return this.hub.sessions.forBare(bareJid);
  }

  async resourcesMany(bareJids: string[]): Promise<Map<string, SessionEntry[]>> {
    const result = new Map<string, SessionEntry[]>();
    for (const bare of bareJids) result.set(bare, this.hub.sessions.forBare(bare));
    return result;
  }

  async send(node: string, envelope: Envelope): Promise<boolean> {
    const target = this.hub.node(node);
    if (!target || !this.running) return false;
    const copy = copyEnvelope(envelope);
    // Delivered from the microtask queue: never inside send(), and in the order sent.
    queueMicrotask(() => target.receive(copy, this.nodeId));
    return true;
  }

  async broadcast(envelope: Envelope): Promise<void> {
    if (!this.running) return;
    for (const target of this.hub.members()) {
      if (target === this) continue;
      const copy = copyEnvelope(envelope);
      queueMicrotask(() => target.receive(copy, this.nodeId));
    }
  }

  async liveNodes(): Promise<string[]> {
    return this.hub
      .members()
      .map((node) => node.nodeId)
      .sort();
  }

  /** @internal */
  receive(envelope: Envelope, fromNode: string): void {
    if (this.running) this.envelopeListeners.emit(envelope, fromNode);
  }

  /** @internal */
  nodeDown(node: string, sessions: SessionEntry[]): void {
    this.nodeDownListeners.emit(node, sessions);
  }
}

export function createInProcessCluster(opts?: InProcessOptions): InProcessCluster {
  return new InProcessCluster(opts);
}
