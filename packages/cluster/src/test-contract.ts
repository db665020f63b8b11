import { type Element, parseElement, serialize, xml } from '@strom/xml';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from './test-support.js';
import type { Cluster, Envelope, SessionEntry } from './types.js';

/** Nodes of one deployment: every node from one environment shares the directory and bus. */
export interface ContractEnvironment {
  /** A started node. */
  node(): Promise<Cluster>;
  /** Releases whatever the environment holds besides its nodes (which the contract closes). */
  dispose(): Promise<void>;
}

function entry(jid: string, node: string, overrides: Partial<SessionEntry> = {}): SessionEntry {
  return { jid, node, priority: 0, available: false, interested: false, ...overrides };
}

function byJid(entries: SessionEntry[]): SessionEntry[] {
  return [...entries].sort((a, b) => a.jid.localeCompare(b.jid));
}

/** Everything the core relies on, checked against one implementation. */
export function describeClusterContract(name: string, environment: () => ContractEnvironment): void {
  describe(`cluster contract: ${name}`, () => {
    let env: ContractEnvironment | undefined;
    const started: Cluster[] = [];

    async function startNodes(count: number): Promise<Cluster[]> {
      env = environment();
      const nodes: Cluster[] = [];
      for (let i = 0; i < count; i++) {
        const node = await env.node();
        started.push(node);
        nodes.push(node);
      }
      return nodes;
    }

    async function twoNodes(): Promise<[Cluster, Cluster]> {
      const [a, b] = await startNodes(2);
      return [a!, b!];
    }

    afterEach(async () => {
      await Promise.all(started.splice(0).map((node) => node.close()));
      await env?.dispose();
      env = undefined;
    });

    it('registers, lists, updates and unregisters resources seen by every node', async () => {
      const [a, b] = await twoNodes();
      expect(a.nodeId).not.toBe(b.nodeId);
      expect(a.status()).toBe('ok');
      expect(
        await a.register(entry('juliet@capulet.lit/balcony', a.nodeId, { priority: 5 })),
      ).toBeUndefined();
      expect(await a.register(entry('juliet@capulet.lit/chamber', a.nodeId))).toBeUndefined();
      expect(await b.register(entry('juliet@capulet.lit/garden/east', b.nodeId))).toBeUndefined();

      const expected = [
        entry('juliet@capulet.lit/balcony', a.nodeId, { priority: 5 }),
        entry('juliet@capulet.lit/chamber', a.nodeId),
        entry('juliet@capulet.lit/garden/east', b.nodeId),
      ];
      expect(byJid(await a.resources('juliet@capulet.lit'))).toEqual(expected);
      expect(byJid(await b.resources('juliet@capulet.lit'))).toEqual(expected);

      await a.update('juliet@capulet.lit/chamber', { available: true, interested: true });
      await a.update('juliet@capulet.lit/balcony', { priority: -1 });
      const updated = byJid(await b.resources('juliet@capulet.lit'));
      expect(updated[0]).toEqual(entry('juliet@capulet.lit/balcony', a.nodeId, { priority: -1 }));
      expect(updated[1]).toEqual(
        entry('juliet@capulet.lit/chamber', a.nodeId, { available: true, interested: true }),
      );

      // A node only updates the sessions it holds.
      await b.update('juliet@capulet.lit/chamber', { available: false });
      expect(
        (await a.resources('juliet@capulet.lit')).find((e) => e.jid.endsWith('/chamber'))?.available,
      ).toBe(true);

      await a.unregister('juliet@capulet.lit/chamber');
      await b.unregister('juliet@capulet.lit/garden/east');
      expect(await b.resources('juliet@capulet.lit')).toEqual([
        entry('juliet@capulet.lit/balcony', a.nodeId, { priority: -1 }),
      ]);
      await a.unregister('juliet@capulet.lit/balcony');
      expect(await a.resources('juliet@capulet.lit')).toEqual([]);
      expect(await a.resources('nobody@capulet.lit')).toEqual([]);
    });

    it('answers resourcesMany for many bare JIDs, missing ones included', async () => {
      const [a, b] = await twoNodes();
      await a.register(entry('romeo@montague.lit/orchard', a.nodeId, { available: true }));
      await b.register(entry('romeo@montague.lit/street', b.nodeId));
      await b.register(entry('mercutio@montague.lit/square', b.nodeId, { interested: true }));
      const bares = [
        'romeo@montague.lit',
        'mercutio@montague.lit',
        'tybalt@capulet.lit',
        'romeo@montague.lit',
      ];
      for (let i = 0; i < 200; i++) bares.push(`guest${i}@montague.lit`);

      const result = await a.resourcesMany(bares);
      expect(byJid(result.get('romeo@montague.lit') ?? [])).toEqual([
        entry('romeo@montague.lit/orchard', a.nodeId, { available: true }),
        entry('romeo@montague.lit/street', b.nodeId),
      ]);
      expect(result.get('mercutio@montague.lit')).toEqual([
        entry('mercutio@montague.lit/square', b.nodeId, { interested: true }),
      ]);
      expect(result.get('tybalt@capulet.lit') ?? []).toEqual([]);
      expect(result.get('guest199@montague.lit') ?? []).toEqual([]);
      expect((await a.resourcesMany([])).size).toBe(0);
    });

    it('returns the previous entry when another node registers the same full JID', async () => {
      const [a, b] = await twoNodes();
      await a.register(entry('nurse@capulet.lit/phone', a.nodeId, { priority: 3, available: true }));
      const previous = await b.register(entry('nurse@capulet.lit/phone', b.nodeId, { priority: 1 }));
      expect(previous).toEqual(entry('nurse@capulet.lit/phone', a.nodeId, { priority: 3, available: true }));
      expect(await a.resources('nurse@capulet.lit')).toEqual([
        entry('nurse@capulet.lit/phone', b.nodeId, { priority: 1 }),
      ]);

      // The replaced session on A goes away without removing or changing its successor.
      await a.update('nurse@capulet.lit/phone', { priority: 9 });
      await a.unregister('nurse@capulet.lit/phone');
      expect(await b.resources('nurse@capulet.lit')).toEqual([
        entry('nurse@capulet.lit/phone', b.nodeId, { priority: 1 }),
      ]);
      // Naming another node removes only that node's entry.
      await a.unregister('nurse@capulet.lit/phone', 'some-other-node');
      expect(await a.resources('nurse@capulet.lit')).toHaveLength(1);
      await a.unregister('nurse@capulet.lit/phone', b.nodeId);
      expect(await b.resources('nurse@capulet.lit')).toEqual([]);
    });

    it('carries stanzas between nodes with attributes, namespaces and escaping intact', async () => {
      const [a, b] = await twoNodes();
      const received: Array<{ envelope: Envelope; from: string }> = [];
      b.onEnvelope((envelope, from) => received.push({ envelope, from }));

      const message = xml(
        'message',
        {
          xmlns: 'jabber:client',
          to: 'juliet@capulet.lit/balcony',
          from: 'romeo@montague.lit/orchard',
          id: 'a"b\'c&<>',
        },
        xml('body', {}, 'Wherefore art thou? <3 & "quotes" \u{1F339}'),
        xml(
          'x:data',
          { 'xmlns:x': 'urn:example:prefixed', 'x:attr': 'tab\there\nnewline' },
          xml('x:inner', {}),
        ),
        xml('delay', { xmlns: 'urn:xmpp:delay', stamp: '2024-01-01T00:00:00Z' }),
      );
      const presence = parseElement(
        "<presence xmlns='jabber:client'><show>away</show><status>a&amp;b</status></presence>",
      );
      const targets = ['juliet@capulet.lit/balcony', 'juliet@capulet.lit/chamber'];
      expect(
        await a.send(b.nodeId, {
          type: 'deliver',
          items: [
            { stanza: message, to: targets },
            { stanza: presence, to: ['nurse@capulet.lit/phone'] },
          ],
        }),
      ).toBe(true);
      expect(
        await a.send(b.nodeId, { type: 'kick', jid: 'juliet@capulet.lit/balcony', condition: 'conflict' }),
      ).toBe(true);
      expect(
        await a.send(b.nodeId, {
          type: 'custom',
          name: 'muc:join',
          data: { room: 'r@muc.lit', seats: [1, 2], ok: true },
        }),
      ).toBe(true);

      await waitFor(() => received.length === 3);
      expect(received.map((r) => r.from)).toEqual([a.nodeId, a.nodeId, a.nodeId]);
      const [deliver, kick, custom] = received.map((r) => r.envelope);
      if (deliver?.type !== 'deliver') throw new Error('expected a deliver envelope first');
      const [first, second] = deliver.items;
      expect(first?.to).toEqual(targets);
      expect(second?.to).toEqual(['nurse@capulet.lit/phone']);
      const stanza = first!.stanza as Element;
      expect(stanza).not.toBe(message);
      expect(serialize(stanza)).toBe(serialize(message));
      expect(stanza.attr('id')).toBe('a"b\'c&<>');
      expect(stanza.getChildText('body')).toBe('Wherefore art thou? <3 & "quotes" \u{1F339}');
      const data = stanza.getChild('data', 'urn:example:prefixed');
      expect(data?.attr('x:attr')).toBe('tab\there\nnewline');
      expect(data?.getChild('inner', 'urn:example:prefixed')).toBeDefined();
      expect(stanza.getChild('delay', 'urn:xmpp:delay')?.attr('stamp')).toBe('2024-01-01T00:00:00Z');
      expect(stanza.getNS()).toBe('jabber:client');
      expect(serialize(second!.stanza)).toBe(serialize(presence));
      expect(second!.stanza.getChildText('status')).toBe('a&b');
      expect(kick).toEqual({ type: 'kick', jid: 'juliet@capulet.lit/balcony', condition: 'conflict' });
      expect(custom).toEqual({
        type: 'custom',
        name: 'muc:join',
        data: { room: 'r@muc.lit', seats: [1, 2], ok: true },
      });
    });

    it('keeps the order of many envelopes from one node to another', async () => {
      const [a, b] = await twoNodes();
      const sequence: number[] = [];
      b.onEnvelope((envelope) => {
        if (envelope.type === 'custom') sequence.push(envelope.data as number);
        if (envelope.type === 'deliver') sequence.push(Number(envelope.items[0]?.stanza.attr('id')));
      });
      const sends: Promise<boolean>[] = [];
      for (let i = 0; i < 1000; i++) {
        sends.push(
          i % 2 === 0
            ? a.send(b.nodeId, { type: 'custom', name: 'seq', data: i })
            : a.send(b.nodeId, {
                type: 'deliver',
                items: [{ stanza: xml('message', { id: String(i) }), to: ['x@y/z'] }],
              }),
        );
      }
      expect((await Promise.all(sends)).every(Boolean)).toBe(true);
      await waitFor(() => sequence.length === 1000);
      expect(sequence).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    });

    it('reports false when sending to a node that does not exist or has left', async () => {
      const [a, b] = await twoNodes();
      expect(await a.send('no-such-node', { type: 'custom', name: 'x', data: null })).toBe(false);
      await b.register(entry('benvolio@montague.lit/x', b.nodeId));
      await b.close();
      expect(await a.send(b.nodeId, { type: 'custom', name: 'x', data: null })).toBe(false);
      // Closing unregistered the node's sessions.
      expect(await a.resources('benvolio@montague.lit')).toEqual([]);
    });

    it('broadcasts to every other node exactly once, never to the sender', async () => {
      const nodes = await startNodes(3);
      const [a, b, c] = nodes as [Cluster, Cluster, Cluster];
      const received = new Map<string, Array<{ name: string; data: unknown; from: string }>>();
      for (const node of nodes) {
        const log: Array<{ name: string; data: unknown; from: string }> = [];
        received.set(node.nodeId, log);
        node.onEnvelope((envelope, from) => {
          if (envelope.type === 'custom') log.push({ name: envelope.name, data: envelope.data, from });
        });
      }
      const of = (node: Cluster) => received.get(node.nodeId)!;

      const data = { room: 'r@muc.lit', list: [1, 'two'] };
      await a.broadcast({ type: 'custom', name: 'hello', data });
      // Envelopes from one node arrive in order, so once the marker is in, nothing more of a's broadcast is on its way.
      await a.broadcast({ type: 'custom', name: 'end', data: null });
      await waitFor(() => of(b).length >= 2 && of(c).length >= 2);
      for (const other of [b, c]) {
        expect(of(other)).toEqual([
          { name: 'hello', data, from: a.nodeId },
          { name: 'end', data: null, from: a.nodeId },
        ]);
      }
      // b's broadcast goes out after a's have been delivered, so a would have seen its own ones by then.
      await b.broadcast({ type: 'custom', name: 'from-b', data: 2 });
      await waitFor(() => of(a).length >= 1 && of(c).length >= 3);
      expect(of(a)).toEqual([{ name: 'from-b', data: 2, from: b.nodeId }]);
      expect(of(b)).toHaveLength(2);
      expect(of(c)[2]).toEqual({ name: 'from-b', data: 2, from: b.nodeId });
    });

    it('lists the live nodes, itself included, and drops a closed one', async () => {
      const nodes = await startNodes(3);
      const [a, b, c] = nodes as [Cluster, Cluster, Cluster];
      const all = nodes.map((node) => node.nodeId).sort();
      expect(await a.liveNodes()).toEqual(all);
      expect(await c.liveNodes()).toEqual(all);

      await c.close();
      const remaining = [a.nodeId, b.nodeId].sort();
      expect(await a.liveNodes()).toEqual(remaining);
      expect(await b.liveNodes()).toEqual(remaining);
      // A closed node no longer receives broadcasts.
      const seen: string[] = [];
      b.onEnvelope((envelope) => seen.push(envelope.type));
      await a.broadcast({ type: 'custom', name: 'after-close', data: null });
      await waitFor(() => seen.length === 1);
    });

    it('keeps delivering to other handlers when one throws', async () => {
      const [a, b] = await twoNodes();
      const seen: string[] = [];
      b.onEnvelope(() => {
        throw new Error('handler bug');
      });
      b.onEnvelope((envelope) => seen.push(envelope.type));
      expect(await a.send(b.nodeId, { type: 'custom', name: 'x', data: 1 })).toBe(true);
      await waitFor(() => seen.length === 1);
      expect(seen).toEqual(['custom']);
    });
  });
}
