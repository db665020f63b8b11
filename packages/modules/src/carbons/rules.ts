import { type Element, xml } from '@strom/xml';

export const NS_CARBONS = 'urn:xmpp:carbons:2';
export const NS_FORWARD = 'urn:xmpp:forward:0';
const NS_HINTS = 'urn:xmpp:hints';
const NS_CLIENT = 'jabber:client';
const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
/** XEP-0249 direct MUC invitations. */
const NS_CONFERENCE = 'jabber:x:conference';
/** Payloads typically used in IM (XEP-0280 §6.1): receipts, chat states, chat markers. */
const IM_PAYLOADS = new Set([
  'urn:xmpp:receipts',
  'http://jabber.org/protocol/chatstates',
  'urn:xmpp:chat-markers:0',
]);

/** Which way a message passes the account whose other resources would get the copy. */
export type CarbonDirection = 'sent' | 'received';

/**
 * XEP-0280 §6 (and §7/§8 `<private/>`, XEP-0334 `<no-copy/>`): whether a message is copied to the
 * account's other resources, as a message its client sent (`sent`) or one delivered to it
 * (`received`).
 *
 * - never with `<private xmlns='urn:xmpp:carbons:2'/>` or `<no-copy xmlns='urn:xmpp:hints'/>`;
 * - never when it carries a carbons `<sent/>` or `<received/>`: a copy is not copied again, and a
 *   carbon-looking message from anyone else must not come out wrapped in a genuine copy from the
 *   account's own bare JID (§11);
 * - never `groupchat` (§6.1) or `headline` (notifications, not conversation);
 * - MUC: an invitation — direct (XEP-0249) or mediated (`muc#user` `<invite/>`) — is copied; a
 *   private message from a room participant (`muc#user` `<x/>`, received) is not, since the room
 *   already sends it to every joined client; one sent to a participant follows the rules below;
 * - `chat`; `normal` with a `<body/>` or an IM payload (receipts, chat states, markers);
 * - `error` when it carries back a `<body/>` or an IM payload: the only sign, without a record of
 *   every message sent, that it answers an eligible message (RFC 6120 §8.3.1 lets the bouncer
 *   include the original, and this server's bounces do).
 */
export function carbonEligible(message: Element, direction: CarbonDirection): boolean {
  let body = false;
  let imPayload = false;
  let mucUser: Element | undefined;
  let directInvite = false;
  for (const child of message.elements()) {
    const ns = child.getNS();
    const name = child.localName;
    if (ns === NS_CARBONS && (name === 'private' || name === 'sent' || name === 'received')) return false;
    if (ns === NS_HINTS && name === 'no-copy') return false;
    if (name === 'body' && (ns === undefined || ns === NS_CLIENT || ns === message.getNS())) body = true;
    else if (ns !== undefined && IM_PAYLOADS.has(ns)) imPayload = true;
    else if (ns === NS_MUC_USER && name === 'x') mucUser = child;
    else if (ns === NS_CONFERENCE && name === 'x') directInvite = true;
  }
  const type = message.attrs.type ?? 'normal';
  if (type === 'groupchat' || type === 'headline') return false;
  if (directInvite || mucUser?.getChild('invite', NS_MUC_USER) !== undefined) return true;
  if (mucUser !== undefined && direction === 'received') return false;
  switch (type) {
    case 'chat':
      return true;
    case 'normal':
    case 'error':
      return body || imPayload;
    default:
      return false;
  }
}

/** Whether a message carries a carbons `<sent/>` or `<received/>` element (genuine or not). */
export function hasCarbon(message: Element): boolean {
  for (const child of message.elements()) {
    if (child.getNS() === NS_CARBONS && (child.localName === 'sent' || child.localName === 'received')) {
      return true;
    }
  }
  return false;
}

/**
 * Whether a stanza on its way to a session of `bare` is a copy this module made for it: only the
 * server writes a message from an account's bare JID (a client's `from` is always its full JID),
 * so a carbon-looking message from anyone else — a contact, or another resource — is not one.
 */
export function isCopyFor(stanza: Element, bare: string): boolean {
  return stanza.localName === 'message' && stanza.attrs.from === bare && hasCarbon(stanza);
}

/**
 * The XEP-0280 §7/§8 copy of `original` for one resource of the account `bare`: from the bare JID,
 * to the resource, the original's type, and the original forwarded (XEP-0297) in the
 * `jabber:client` namespace (inside `<forwarded/>` it needs its own declaration).
 */
export function wrapCarbon(direction: CarbonDirection, original: Element, bare: string, to: string): Element {
  const forwarded = original.clone();
  forwarded.attrs.xmlns = NS_CLIENT;
  return xml(
    'message',
    { from: bare, to, type: original.attrs.type },
    xml(direction, { xmlns: NS_CARBONS }, xml('forwarded', { xmlns: NS_FORWARD }, forwarded)),
  );
}
