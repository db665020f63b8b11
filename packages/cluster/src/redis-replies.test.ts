import { describe, expect, it } from 'vitest';
import { encodeEntry } from './codec.js';
import { checked, decodeSessionHash, parseCleanupReply, partitionByLiveness } from './redis-replies.js';
import { nodeStatus, StatusReporter } from './redis-status.js';
import type { NodeStatus, SessionEntry } from './types.js';

const entry = (jid: string, node: string): SessionEntry => ({
  jid,
  node,
  priority: 1,
  available: true,
  interested: false,
});

describe('Redis reply interpretation', () => {
  it('throws the first command error of a pipeline, and on an aborted one', () => {
    expect(
      checked([
        [null, 1],
        [null, 'OK'],
      ]),
    ).toEqual([1, 'OK']);
    const failure = new Error('WRONGTYPE');
    expect(() =>
      checked([
        [null, 1],
        [failure, null],
      ]),
    ).toThrow(failure);
    expect(() => checked(null)).toThrow(/aborted/);
  });

  it('decodes a sessions hash, skipping and reporting malformed entries', () => {
    const malformed: unknown[] = [];
    const sessions = decodeSessionHash(
      'a@b.lit',
      { 'r/1': encodeEntry(entry('a@b.lit/r/1', 'n1')), bad: '{"p":1}', worse: 'not json' },
      (error) => malformed.push(error),
    );
    expect(sessions).toEqual([entry('a@b.lit/r/1', 'n1')]);
    expect(malformed).toHaveLength(2);
  });

  it('reads the cleanup script reply as a state and the entries it removed', () => {
    const malformed: unknown[] = [];
    const reply = ['more', 'a@b.lit/1', encodeEntry(entry('a@b.lit/1', 'dead')), 'a@b.lit/2', '{}'];
    expect(parseCleanupReply(reply, (error) => malformed.push(error))).toEqual({
      state: 'more',
      removed: [entry('a@b.lit/1', 'dead')],
    });
    expect(malformed).toHaveLength(1);
    expect(parseCleanupReply(['alive'], () => {})).toEqual({ state: 'alive', removed: [] });
    expect(parseCleanupReply([], () => {})).toEqual({ state: '', removed: [] });
  });

  it('splits nodes by their liveness keys', () => {
    expect(partitionByLiveness(['a', 'b', 'c'], [1, 0, 1])).toEqual({ alive: ['a', 'c'], dead: ['b'] });
    expect(partitionByLiveness([], [])).toEqual({ alive: [], dead: [] });
  });
});

describe('Redis node status', () => {
  const healthy = { running: true, commandsReady: true, subscribed: true, linked: true, restoring: false };

  it('is ok only while running, connected, subscribed, linked and not restoring', () => {
    expect(nodeStatus(healthy)).toBe('ok');
    for (const flag of ['running', 'commandsReady', 'subscribed', 'linked'] as const)
      expect(nodeStatus({ ...healthy, [flag]: false }), flag).toBe('degraded');
    expect(nodeStatus({ ...healthy, restoring: true })).toBe('degraded');
  });

  it('announces each change once, and nothing while the node is not running', () => {
    let current: NodeStatus = 'ok';
    let running = false;
    const announced: NodeStatus[] = [];
    const reporter = new StatusReporter(
      () => current,
      () => running,
      (status) => announced.push(status),
    );
    reporter.refresh();
    expect(announced).toEqual([]);
    running = true;
    reporter.reset();
    reporter.refresh();
    expect(announced).toEqual([]);
    current = 'degraded';
    reporter.refresh();
    reporter.refresh();
    current = 'ok';
    reporter.refresh();
    expect(announced).toEqual(['degraded', 'ok']);
  });
});
