import { parseElement, serialize } from '@strom/xml';
import { describe, expect, it } from 'vitest';
import { decodeEntry, decodeEnvelope, encodeEntry, encodeEnvelope } from './codec.js';
import { bareOf, splitFullJid } from './jid.js';

describe('Redis wire formats', () => {
  it('stores entries compactly with the owning node first and reads them back', () => {
    const entry = { jid: 'a@b.lit/r', node: 'n-1', priority: -5, available: true, interested: false };
    const text = encodeEntry(entry);
    expect(text).toBe('{"n":"n-1","p":-5,"a":1,"i":0}');
    expect(decodeEntry('a@b.lit/r', text)).toEqual(entry);
    expect(() => decodeEntry('a@b.lit/r', '{"p":1}')).toThrow(/Malformed/);
  });

  it('carries the last presence so any node can answer probes', () => {
    const presence = '<presence xmlns="jabber:client" from="a@b.lit/r"><show>away</show></presence>';
    const entry = { jid: 'a@b.lit/r', node: 'n-1', priority: 1, available: true, interested: true, presence };
    expect(decodeEntry('a@b.lit/r', encodeEntry(entry))).toEqual(entry);
  });

  it('round-trips every envelope type', () => {
    const stanza = parseElement(
      '<iq xmlns="jabber:client" type="get" id="1"><query xmlns="jabber:iq:roster"/></iq>',
    );
    const deliver = decodeEnvelope(
      encodeEnvelope('n1', { type: 'deliver', items: [{ stanza, to: ['a@b/c'] }] }),
    );
    expect(deliver.fromNode).toBe('n1');
    expect(deliver.envelope.type).toBe('deliver');
    if (deliver.envelope.type === 'deliver') {
      expect(serialize(deliver.envelope.items[0]!.stanza)).toBe(serialize(stanza));
      expect(deliver.envelope.items[0]!.stanza.getChild('query', 'jabber:iq:roster')).toBeDefined();
    }
    const kick = { type: 'kick', jid: 'a@b/c', condition: 'policy-violation' } as const;
    expect(decodeEnvelope(encodeEnvelope('n2', kick))).toEqual({ fromNode: 'n2', envelope: kick });
    const custom = {
      type: 'custom',
      name: 'm',
      data: { list: [1, 'two', null], nested: { ok: false } },
    } as const;
    expect(decodeEnvelope(encodeEnvelope('n3', custom))).toEqual({ fromNode: 'n3', envelope: custom });
  });

  it('rejects anything that is not a well-formed envelope', () => {
    const bad = [
      'null',
      '{"type":"custom","name":"x"}',
      '{"from":"n","type":"nope"}',
      '{"from":"n","type":"deliver"}',
      '{"from":"n","type":"deliver","items":[{"stanza":"<a/>","to":[1]}]}',
      '{"from":"n","type":"deliver","items":[{"stanza":"<a>","to":[]}]}',
      '{"from":"n","type":"kick","jid":"a@b/c","condition":"reboot"}',
      '{"from":"n","type":"custom"}',
    ];
    for (const text of bad) expect(() => decodeEnvelope(text), text).toThrow();
  });

  it('splits full JIDs at the first slash', () => {
    expect(splitFullJid('a@b.lit/res/with/slashes')).toEqual({
      bare: 'a@b.lit',
      resource: 'res/with/slashes',
    });
    expect(splitFullJid('b.lit/r')).toEqual({ bare: 'b.lit', resource: 'r' });
    expect(() => splitFullJid('a@b.lit')).toThrow(TypeError);
    expect(bareOf('a@b.lit/r/s')).toBe('a@b.lit');
    expect(bareOf('a@b.lit')).toBe('a@b.lit');
  });
});
