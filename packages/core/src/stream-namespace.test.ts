import { parseElement, serialize, xml } from '@strom/xml';
import { describe, expect, it } from 'vitest';
import { serializeStanza } from './stream-namespace.js';

describe('stanzas take the namespace of the stream they leave by', () => {
  it('adds it to a stanza built without one, and leaves the element as it was', () => {
    const stanza = xml('message', { to: 'a@example.test', id: 'm1' }, xml('body', {}, 'hi'));
    expect(serializeStanza(stanza, 'jabber:client')).toBe(
      '<message xmlns="jabber:client" to="a@example.test" id="m1"><body>hi</body></message>',
    );
    expect(stanza.attrs.xmlns).toBeUndefined();
  });

  it('rewrites a server-to-server stanza for a client stream, and keeps a matching one as it is', () => {
    const fromServer = parseElement('<presence xmlns="jabber:server" from="b@remote.example"/>');
    expect(serializeStanza(fromServer, 'jabber:client')).toBe(
      '<presence xmlns="jabber:client" from="b@remote.example"/>',
    );
    const fromClient = parseElement('<iq xmlns="jabber:client" type="result" id="x"/>');
    expect(serializeStanza(fromClient, 'jabber:client')).toBe(serialize(fromClient));
  });
});
