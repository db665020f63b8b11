import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { type InProcessNode, readiness, TestCluster } from './cluster-harness.js';

describe('cluster timing settings', () => {
  it('default to a dead node leaving the directory within 15 s', () => {
    const config = loadConfig({});
    expect(config.clusterHeartbeatMs).toBe(3000);
    expect(config.clusterNodeTtlMs).toBe(10_000);
    // A dead node is found at the first sweep after its TTL ran out; sweeps run every min(heartbeat, 2 s).
    const sweepMs = Math.min(2000, config.clusterHeartbeatMs);
    expect(config.clusterNodeTtlMs + sweepMs).toBeLessThanOrEqual(15_000);
  });

  it('read CLUSTER_HEARTBEAT_MS and CLUSTER_NODE_TTL_MS', () => {
    const config = loadConfig({ CLUSTER_HEARTBEAT_MS: '500', CLUSTER_NODE_TTL_MS: '2000' });
    expect(config).toMatchObject({ clusterHeartbeatMs: 500, clusterNodeTtlMs: 2000 });
  });

  it('refuse a TTL that a single late heartbeat could outlive', () => {
    expect(() => loadConfig({ CLUSTER_HEARTBEAT_MS: '3000', CLUSTER_NODE_TTL_MS: '5000' })).toThrow(
      /CLUSTER_NODE_TTL_MS must be at least twice CLUSTER_HEARTBEAT_MS/,
    );
    expect(() => loadConfig({ CLUSTER_HEARTBEAT_MS: 'often' })).toThrow(ConfigError);
    expect(() => loadConfig({ CLUSTER_NODE_TTL_MS: '10' })).toThrow(/CLUSTER_NODE_TTL_MS must be an integer/);
  });

  describe('on a running node', () => {
    let cluster: TestCluster;
    let node: InProcessNode;

    beforeAll(async () => {
      cluster = await TestCluster.create('config');
      node = await cluster.startNode('timed', { CLUSTER_HEARTBEAT_MS: '200', CLUSTER_NODE_TTL_MS: '4321' });
    });
    afterAll(async () => {
      await cluster?.close();
    });

    it('are what the node uses for its liveness key in Redis', async () => {
      expect(await readiness(node)).toMatchObject({ status: 200 });
      const redis = await cluster.redis();
      const ttl = await redis.pttl(`${cluster.keyPrefix}alive:timed`);
      expect(ttl).toBeGreaterThan(4321 - 1000);
      expect(ttl).toBeLessThanOrEqual(4321);
      // Renewed every 200 ms: after a while it is back near the full TTL (without renewal it would
      // be below 4321 - 1000 by then and never get there).
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await expect
        .poll(() => redis.pttl(`${cluster.keyPrefix}alive:timed`), { timeout: 5000, interval: 20 })
        .toBeGreaterThan(4321 - 500);
    });
  });
});
