/** Stream error conditions (RFC 6120 §4.9.3) that XML parsing can lead to. */
export type XmlStreamErrorCondition =
  | 'not-well-formed'
  | 'restricted-xml'
  | 'policy-violation'
  | 'invalid-namespace'
  | 'bad-format';

/**
 * A parse failure that ends the XMPP stream. The condition is the stream error to send to the peer;
 * the message is for logs only and never goes on the wire.
 */
export class XmlStreamError extends Error {
  constructor(
    readonly condition: XmlStreamErrorCondition,
    message: string,
  ) {
    super(message);
    this.name = 'XmlStreamError';
  }
}
