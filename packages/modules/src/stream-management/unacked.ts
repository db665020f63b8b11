import { type Element, xml } from '@strom/xml';
import { xmppDateTime } from '../time.js';

export const NS_DELAY = 'urn:xmpp:delay';

/** A stanza the server wrote to the client and keeps until the client acknowledges it. */
export interface Unacked {
  /** As it was written. */
  readonly text: string;
  /** The stanza, when the sender had one (namespace-neutral, possibly shared with other recipients). */
  readonly element: Element | undefined;
  /** When it was first sent (ms since the epoch): the XEP-0203 stamp if it has to go again. */
  readonly at: number;
}

/**
 * What becomes of an unacknowledged stanza once its session is gone for good (XEP-0198 §4: as if
 * sent to an unavailable resource, RFC 6121 §8.5.3.2 and §8.5.2):
 * - `reroute`: a message goes back to the router for the account (other resources, offline storage,
 *   or whatever its type calls for);
 * - `bounce`: an IQ request gets an error reply, so its sender does not wait for ever;
 * - `drop`: presence (the contact's state is sent afresh when the user is back) and IQ responses.
 */
export function fateOf(stanza: Element): 'reroute' | 'bounce' | 'drop' {
  switch (stanza.localName) {
    case 'message':
      return 'reroute';
    case 'iq':
      return stanza.attrs.type === 'get' || stanza.attrs.type === 'set' ? 'bounce' : 'drop';
    default:
      return 'drop';
  }
}

/**
 * A copy of a message with a XEP-0203 `<delay/>` from this server stamped `at` (when it was first
 * sent). A message that already carries this server's delay (from offline storage) keeps it: that
 * stamp is older and truer. The original is left alone, since it may be shared.
 */
export function delayedCopy(stanza: Element, domain: string, at: number): Element {
  const copy = stanza.clone();
  if (!hasDelayFrom(copy, domain)) {
    copy.append(xml('delay', { xmlns: NS_DELAY, from: domain, stamp: xmppDateTime(new Date(at)) }));
  }
  return copy;
}

function hasDelayFrom(stanza: Element, domain: string): boolean {
  for (const child of stanza.children) {
    if (typeof child !== 'string' && child.attrs.from === domain && child.is('delay', NS_DELAY)) return true;
  }
  return false;
}
