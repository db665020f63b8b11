import type { Envelope } from './types.js';

/**
 * What the receiving node gets in-process: its own copies, as it would after a trip through Redis,
 * so a receiver changing a stanza (or the sender reusing one) never affects the other side.
 */
export function copyEnvelope(envelope: Envelope): Envelope {
  switch (envelope.type) {
    case 'deliver':
      return {
        type: 'deliver',
        items: envelope.items.map((item) => ({ stanza: item.stanza.clone(), to: [...item.to] })),
      };
    case 'kick':
      return { type: 'kick', jid: envelope.jid, condition: envelope.condition };
    case 'custom':
      return { type: 'custom', name: envelope.name, data: jsonCopy(envelope.data) };
  }
}

function jsonCopy(data: unknown): unknown {
  const text = JSON.stringify(data);
  return text === undefined ? undefined : JSON.parse(text);
}
