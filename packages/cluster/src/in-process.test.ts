import { xml } from '@strom/xml';
import { describe, expect, it } from 'vitest';
import { createCluster, createInProcessCluster, InProcessCluster, InProcessHub } from './index.js';
import { describeClusterContract } from './test-contract.js';
import { recordingLog, waitFor } from './test-support.js';
import type { Envelope, SessionEntry } from './types.js';

describeClusterContract('in-process hub', () => {
  const hub = new InProcessHub();
  return {
    async node() {
      const node = createInProcessCluster({ hub, log: recordingLog() });
      await node.start();
      return node;
    },
    async dispose() {},
  };
});

describe('in-process cluster', () => {
  it('is what createCluster builds without a Redis URL, each with its own hub', async () => {
    const a = createCluster({ nodeId: 'solo-a' });
    const b = createCluster({ nodeId: 'solo-b' });
    expect(a).toBeInstanceOf(InProcessCluster);
    expect(a.nodeId).toBe('solo-a');
    await Promise.all([a.start(), b.start()]);
    await a.register({ jid: 'x@y/z', node: a.nodeId, priority: 0, available: true, interested: true });
    expect(await a.resources('x@y')).toHaveLength(1);
    expect(await b.resources('x@y')).toEqual([]);
    expect(await a.send('solo-b', { type: 'custom', name: 'n', data: 1 })).toBe(false);
    await Promise.all([a.close(), b.close()]);
  });

  it('refuses a second running node with the same id on one hub', async () => {
    const hub = new InProcessHub();
    const first = createInProcessCluster({ hub, nodeId: 'same' });
    await first.start();
    await expect(createInProcessCluster({ hub, nodeId: 'same' }).start()).rejects.toThrow(/already running/);
    await first.close();
  });

  it('hands the receiver its own copy of a stanza', async () => {
    const hub = new InProcessHub();
    const a = createInProcessCluster({ hub });
    const b = createInProcessCluster({ hub });
    await Promise.all([a.start(), b.start()]);
    const received: Envelope[] = [];
    b.onEnvelope((envelope) => received.push(envelope));
    const stanza = xml('message', { to: 'a@b/c' }, xml('body', {}, 'hi'));
    await a.send(b.nodeId, { type: 'deliver', items: [{ stanza, to: ['a@b/c'] }] });
    stanza.setAttr('to', 'changed@b/c');
    await waitFor(() => received.length === 1);
    const delivered = received[0];
    expect(delivered?.type === 'deliver' && delivered.items[0]?.stanza.attr('to')).toBe('a@b/c');
    await Promise.all([a.close(), b.close()]);
  });

  it('reports a crashed node to exactly one survivor, without the sessions taken over', async () => {
    const hub = new InProcessHub();
    const nodes = ['a', 'b', 'c'].map((nodeId) => createInProcessCluster({ hub, nodeId }));
    await Promise.all(nodes.map((node) => node.start()));
    const [a, b, c] = nodes as [InProcessCluster, InProcessCluster, InProcessCluster];
    const reports: Array<{ by: string; node: string; sessions: SessionEntry[] }> = [];
    for (const node of [b, c])
      node.onNodeDown((down, sessions) => reports.push({ by: node.nodeId, node: down, sessions }));
    const session = (jid: string, node: string) => ({
      jid,
      node,
      priority: 0,
      available: true,
      interested: false,
    });
    await a.register(session('u@d/1', 'a'));
    await a.register(session('u@d/2', 'a'));
    await b.register(session('u@d/2', 'b'));

    a.simulateCrash();
    await waitFor(() => reports.length === 1);
    expect(reports[0]?.node).toBe('a');
    expect(reports[0]?.sessions).toEqual([session('u@d/1', 'a')]);
    expect(await c.resources('u@d')).toEqual([session('u@d/2', 'b')]);
    expect(await b.send('a', { type: 'custom', name: 'x', data: null })).toBe(false);
    await Promise.all([b.close(), c.close()]);
    expect(reports).toHaveLength(1);
  });
});
