import type { NodeStatus } from './types.js';

/** What a Redis node's status depends on, each flag owned by one part of the node. */
export interface HealthFlags {
  running: boolean;
  /** The command connection is up. */
  commandsReady: boolean;
  /** The bus holds its subscriptions. */
  subscribed: boolean;
  /** Directory reads and writes go to Redis. */
  linked: boolean;
  /** A write-back after an outage is under way. */
  restoring: boolean;
}

export function nodeStatus(flags: HealthFlags): NodeStatus {
  const healthy =
    flags.running && flags.commandsReady && flags.subscribed && flags.linked && !flags.restoring;
  return healthy ? 'ok' : 'degraded';
}

/** Announces status changes once each: only while the node runs, and only when the status differs from the last one. */
export class StatusReporter {
  private reported: NodeStatus = 'degraded';

  constructor(
    private readonly current: () => NodeStatus,
    private readonly running: () => boolean,
    private readonly announce: (status: NodeStatus) => void,
  ) {}

  /** Takes the current status as already known, without announcing it (when the node starts). */
  reset(): void {
    this.reported = this.current();
  }

  refresh(): void {
    if (!this.running()) return;
    const status = this.current();
    if (status === this.reported) return;
    this.reported = status;
    this.announce(status);
  }
}
