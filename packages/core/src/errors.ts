import { Element, xml } from '@strom/xml';
import { NS } from './namespaces.js';

/** RFC 6120 §8.3.3 defined stanza error conditions. */
export type StanzaErrorCondition =
  | 'bad-request'
  | 'conflict'
  | 'feature-not-implemented'
  | 'forbidden'
  | 'gone'
  | 'internal-server-error'
  | 'item-not-found'
  | 'jid-malformed'
  | 'not-acceptable'
  | 'not-allowed'
  | 'not-authorized'
  | 'policy-violation'
  | 'recipient-unavailable'
  | 'redirect'
  | 'registration-required'
  | 'remote-server-not-found'
  | 'remote-server-timeout'
  | 'resource-constraint'
  | 'service-unavailable'
  | 'subscription-required'
  | 'undefined-condition'
  | 'unexpected-request';

export type StanzaErrorType = 'auth' | 'cancel' | 'continue' | 'modify' | 'wait';

/** The error type RFC 6120 §8.3.3 suggests for each condition. */
const DEFAULT_TYPES: Record<StanzaErrorCondition, StanzaErrorType> = {
  'bad-request': 'modify',
  conflict: 'cancel',
  'feature-not-implemented': 'cancel',
  forbidden: 'auth',
  gone: 'cancel',
  'internal-server-error': 'cancel',
  'item-not-found': 'cancel',
  'jid-malformed': 'modify',
  'not-acceptable': 'modify',
  'not-allowed': 'cancel',
  'not-authorized': 'auth',
  'policy-violation': 'modify',
  'recipient-unavailable': 'wait',
  redirect: 'modify',
  'registration-required': 'auth',
  'remote-server-not-found': 'cancel',
  'remote-server-timeout': 'wait',
  'resource-constraint': 'wait',
  'service-unavailable': 'cancel',
  'subscription-required': 'auth',
  'undefined-condition': 'cancel',
  'unexpected-request': 'wait',
};

/** Thrown by handlers to answer a stanza with an error; the core turns it into the error reply. */
export class StanzaError extends Error {
  readonly type: StanzaErrorType;
  constructor(
    readonly condition: StanzaErrorCondition,
    readonly text?: string,
    type?: StanzaErrorType,
    readonly extra?: Element,
  ) {
    super(text ?? condition);
    this.type = type ?? DEFAULT_TYPES[condition];
  }

  toElement(by?: string): Element {
    return xml(
      'error',
      { type: this.type, by },
      xml(this.condition, { xmlns: NS.stanzas }),
      this.text ? xml('text', { xmlns: NS.stanzas, 'xml:lang': 'en' }, this.text) : undefined,
      this.extra,
    );
  }
}

/** RFC 6120 §4.9.3 stream error conditions. */
export type StreamErrorCondition =
  | 'bad-format'
  | 'bad-namespace-prefix'
  | 'conflict'
  | 'connection-timeout'
  | 'host-gone'
  | 'host-unknown'
  | 'improper-addressing'
  | 'internal-server-error'
  | 'invalid-from'
  | 'invalid-namespace'
  | 'invalid-xml'
  | 'not-authorized'
  | 'not-well-formed'
  | 'policy-violation'
  | 'remote-connection-failed'
  | 'reset'
  | 'resource-constraint'
  | 'restricted-xml'
  | 'see-other-host'
  | 'system-shutdown'
  | 'undefined-condition'
  | 'unsupported-encoding'
  | 'unsupported-feature'
  | 'unsupported-stanza-type'
  | 'unsupported-version';

export class StreamError extends Error {
  constructor(
    readonly condition: StreamErrorCondition,
    readonly text?: string,
  ) {
    super(text ?? condition);
  }

  toElement(): Element {
    return xml(
      'stream:error',
      { 'xmlns:stream': NS.stream },
      xml(this.condition, { xmlns: NS.streams }),
      this.text ? xml('text', { xmlns: NS.streams, 'xml:lang': 'en' }, this.text) : undefined,
    );
  }
}

/**
 * The error reply to a stanza (RFC 6120 §8.3.1): same kind and id, addresses swapped, the original
 * payload kept so the sender can correlate. Never answer an error with an error.
 */
export function errorReply(stanza: Element, error: StanzaError, by?: string): Element | undefined {
  if (stanza.attrs.type === 'error') return undefined;
  // The namespace follows the request's; a stream edge renders it in its own (stream-namespace.ts).
  const reply = new Element(stanza.name, {
    ...(stanza.attrs.xmlns !== undefined ? { xmlns: stanza.attrs.xmlns } : {}),
    type: 'error',
    ...(stanza.attrs.id !== undefined ? { id: stanza.attrs.id } : {}),
    ...(stanza.attrs.to !== undefined ? { from: stanza.attrs.to } : {}),
    ...(stanza.attrs.from !== undefined ? { to: stanza.attrs.from } : {}),
  });
  // An IQ error may carry the request payload; a message error keeps its body so the sender knows what failed.
  for (const child of stanza.children) {
    if (typeof child === 'string') continue;
    if (child.localName === 'error') continue;
    reply.append(child.clone());
  }
  reply.append(error.toElement(by));
  return reply;
}

/** An empty or payload-carrying IQ result for a request. */
export function iqResult(request: Element, payload?: Element): Element {
  return xml(
    'iq',
    {
      ...(request.attrs.xmlns !== undefined ? { xmlns: request.attrs.xmlns } : {}),
      type: 'result',
      id: request.attrs.id,
      from: request.attrs.to,
      to: request.attrs.from,
    },
    payload,
  );
}
