/** Every Redis key and channel the cluster uses, all under one prefix. */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  /** Hash per bare JID: resource → encoded entry. The Lua cleanup builds these names itself from `sessionPrefix`. */
  sessions(bare: string): string {
    return this.sessionPrefix + bare;
  }

  get sessionPrefix(): string {
    return this.prefix + 'sess:';
  }

  /** Set of the full JIDs a node registered, so its sessions can be found when it dies. */
  nodeSessions(node: string): string {
    return this.prefix + 'node-sessions:' + node;
  }

  /** Present while the node heartbeats (PX TTL). */
  alive(node: string): string {
    return this.prefix + 'alive:' + node;
  }

  /** Set of nodes that have heartbeated and were not cleaned up yet. */
  get nodes(): string {
    return this.prefix + 'nodes';
  }

  /** Held by the one survivor cleaning up after a dead node. */
  cleanupLock(node: string): string {
    return this.prefix + 'cleanup:' + node;
  }

  /** Pub/sub channel a node receives its envelopes on. */
  channel(node: string): string {
    return this.prefix + 'node:' + node;
  }

  /** Pub/sub channel every node subscribes to, for envelopes meant for all nodes. */
  get broadcast(): string {
    return this.prefix + 'broadcast';
  }
}
