import { createInProcessCluster, type InProcessHub } from './in-process.js';
import { createRedisCluster, type RedisClusterOptions } from './redis.js';
import type { Cluster, ClusterLog } from './types.js';

export {
  createInProcessCluster,
  InProcessCluster,
  InProcessHub,
  type InProcessOptions,
} from './in-process.js';
export { createRedisCluster, RedisCluster, type RedisClusterOptions } from './redis.js';
export {
  RedisThrottleStore,
  type RedisThrottleStoreOptions,
  type SharedCount,
  type SharedCountRule,
} from './redis-throttle-store.js';
export type {
  Cluster,
  ClusterLog,
  DeliverItem,
  Envelope,
  EnvelopeHandler,
  KickCondition,
  NodeDownHandler,
  NodeStatus,
  SessionEntry,
  SessionPatch,
  StatusHandler,
} from './types.js';

export interface CreateClusterOptions
  extends Partial<Pick<RedisClusterOptions, 'heartbeatMs' | 'nodeTtlMs' | 'sweepMs' | 'commandTimeoutMs'>> {
  /** Redis when set; otherwise a single in-process node. */
  redisUrl?: string;
  nodeId?: string;
  keyPrefix?: string;
  log?: ClusterLog;
  /** In-process only: join other nodes on this hub. */
  hub?: InProcessHub;
}

export function createCluster(opts: CreateClusterOptions = {}): Cluster {
  const { redisUrl, hub, ...rest } = opts;
  if (redisUrl) return createRedisCluster({ ...rest, url: redisUrl });
  return createInProcessCluster({
    ...(rest.nodeId !== undefined ? { nodeId: rest.nodeId } : {}),
    ...(rest.log !== undefined ? { log: rest.log } : {}),
    ...(hub !== undefined ? { hub } : {}),
  });
}
