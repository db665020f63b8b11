import { parseElement, serialize } from '@strom/xml';
import type { DeliverItem, Envelope, KickCondition, SessionEntry } from './types.js';

/**
 * Wire formats of the Redis backend. Directory values are compact JSON with the owning node
 * under `n` (the Lua scripts read only that); the full JID is the hash key plus the field.
 */
interface StoredEntry {
  n: string;
  p: number;
  a: 0 | 1;
  i: 0 | 1;
  s?: string;
}

export function encodeEntry(entry: SessionEntry): string {
  const stored: StoredEntry = {
    n: entry.node,
    p: entry.priority,
    a: entry.available ? 1 : 0,
    i: entry.interested ? 1 : 0,
  };
  if (entry.presence !== undefined) stored.s = entry.presence;
  return JSON.stringify(stored);
}

export function decodeEntry(jid: string, text: string): SessionEntry {
  const stored = JSON.parse(text) as Partial<StoredEntry>;
  if (typeof stored.n !== 'string' || typeof stored.p !== 'number') {
    throw new FormatError('Malformed session entry');
  }
  const entry: SessionEntry = {
    jid,
    node: stored.n,
    priority: stored.p,
    available: stored.a === 1,
    interested: stored.i === 1,
  };
  if (typeof stored.s === 'string') entry.presence = stored.s;
  return entry;
}

export class FormatError extends Error {
  override name = 'FormatError';
}

type WireEnvelope =
  | { from: string; type: 'deliver'; items: Array<{ stanza: string; to: string[] }> }
  | { from: string; type: 'kick'; jid: string; condition: KickCondition }
  | { from: string; type: 'custom'; name: string; data: unknown };

export function encodeEnvelope(fromNode: string, envelope: Envelope): string {
  let wire: WireEnvelope;
  switch (envelope.type) {
    case 'deliver':
      wire = {
        from: fromNode,
        type: 'deliver',
        items: envelope.items.map((item) => ({ stanza: serialize(item.stanza), to: item.to })),
      };
      break;
    case 'kick':
      wire = { from: fromNode, type: 'kick', jid: envelope.jid, condition: envelope.condition };
      break;
    case 'custom':
      wire = { from: fromNode, type: 'custom', name: envelope.name, data: envelope.data };
      break;
  }
  return JSON.stringify(wire);
}

const KICK_CONDITIONS: ReadonlySet<string> = new Set<KickCondition>([
  'conflict',
  'policy-violation',
  'not-authorized',
]);

/** Throws FormatError (or the XML parser's error) on anything that is not a well-formed envelope. */
export function decodeEnvelope(text: string): { fromNode: string; envelope: Envelope } {
  const wire = JSON.parse(text) as Record<string, unknown>;
  if (typeof wire !== 'object' || wire === null || typeof wire.from !== 'string') {
    throw new FormatError('Envelope without sender');
  }
  const fromNode = wire.from;
  switch (wire.type) {
    case 'deliver': {
      if (!Array.isArray(wire.items)) throw new FormatError('Deliver envelope without items');
      const items: DeliverItem[] = wire.items.map((item: unknown) => decodeDeliverItem(item));
      return { fromNode, envelope: { type: 'deliver', items } };
    }
    case 'kick':
      if (
        typeof wire.jid !== 'string' ||
        typeof wire.condition !== 'string' ||
        !KICK_CONDITIONS.has(wire.condition)
      ) {
        throw new FormatError('Malformed kick envelope');
      }
      return {
        fromNode,
        envelope: { type: 'kick', jid: wire.jid, condition: wire.condition as KickCondition },
      };
    case 'custom':
      if (typeof wire.name !== 'string') throw new FormatError('Custom envelope without name');
      return { fromNode, envelope: { type: 'custom', name: wire.name, data: wire.data } };
    default:
      throw new FormatError('Unknown envelope type');
  }
}

function decodeDeliverItem(item: unknown): DeliverItem {
  const { stanza, to } = (item ?? {}) as { stanza?: unknown; to?: unknown };
  if (typeof stanza !== 'string' || !Array.isArray(to) || !to.every((jid) => typeof jid === 'string')) {
    throw new FormatError('Malformed deliver item');
  }
  return { stanza: parseElement(stanza), to: to as string[] };
}
