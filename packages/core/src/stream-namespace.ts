import { Element, serialize } from '@strom/xml';

/**
 * Renders a stanza in the namespace of the stream it leaves by (`jabber:client` to clients,
 * `jabber:server` to other servers). Inside the server stanzas are namespace-neutral: modules may
 * build them without `xmlns`, and a stanza that arrived over one kind of stream can leave over the
 * other. The element itself is never changed, since one element may go to many streams.
 */
export function serializeStanza(stanza: Element, namespace: string): string {
  if (stanza.attrs.xmlns === namespace) return serialize(stanza);
  const { xmlns: _previous, ...attrs } = stanza.attrs;
  const copy = new Element(stanza.name, { xmlns: namespace, ...attrs });
  copy.children = stanza.children;
  return serialize(copy);
}
