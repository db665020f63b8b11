/** XML namespaces the core itself speaks. Modules keep their own next to their code. */
export const NS = {
  client: 'jabber:client',
  framing: 'urn:ietf:params:xml:ns:xmpp-framing',
  stream: 'http://etherx.jabber.org/streams',
  streams: 'urn:ietf:params:xml:ns:xmpp-streams',
  stanzas: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  sasl: 'urn:ietf:params:xml:ns:xmpp-sasl',
  bind: 'urn:ietf:params:xml:ns:xmpp-bind',
  session: 'urn:ietf:params:xml:ns:xmpp-session',
} as const;
