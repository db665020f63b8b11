import type { Storage, Subscription } from '@strom/storage';
import type { Element } from '@strom/xml';
import { type TestClient, WAIT_MS } from './harness.js';

export const NS_ROSTER = 'jabber:iq:roster';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';

/**
 * Writes `owner`'s roster item for the account `contact` straight to storage, with no name, no
 * groups and nothing pending: for tests about what a subscription allows rather than how it is made.
 */
export async function storeRosterItem(
  storage: Pick<Storage, 'roster'>,
  owner: string,
  contact: string,
  subscription: Subscription,
): Promise<void> {
  await storage.roster.put(owner, {
    jid: `${contact}@localhost`,
    groups: [],
    subscription,
    askOut: false,
    approved: false,
  });
}

/** Both accounts share presence both ways, as after an accepted mutual subscription. */
export async function storeMutualSubscription(
  storage: Pick<Storage, 'roster'>,
  a: string,
  b: string,
): Promise<void> {
  await storeRosterItem(storage, a, b, 'both');
  await storeRosterItem(storage, b, a, 'both');
}

/**
 * Sends presence and resolves once the server echoed it back to the sender as available presence
 * (RFC 6121 §4.2.2): by then the broadcast to the contacts has gone out.
 */
export async function becomeAvailable(
  client: TestClient,
  presence = '<presence/>',
  timeoutMs = WAIT_MS,
): Promise<void> {
  await client.send(presence);
  await client.inbox.waitFor(
    (s) => s.name === 'presence' && s.attrs.from === client.jid && s.attrs.type === undefined,
    timeoutMs,
    `own presence of ${client.jid}`,
  );
}

/** A roster push (RFC 6121 §2.1.6) about `jid` whose item has the given attributes (absent ones given as undefined). */
export function isRosterPush(jid: string, attrs: Record<string, string | undefined> = {}) {
  return (el: Element): boolean => {
    if (!isAnyRosterPush(el)) return false;
    const item = el.getChild('query', NS_ROSTER)?.getChild('item');
    if (item?.attrs.jid !== jid) return false;
    return Object.entries(attrs).every(([name, value]) => item.attrs[name] === value);
  };
}

export function isAnyRosterPush(el: Element): boolean {
  return el.name === 'iq' && el.attrs.type === 'set' && el.getChild('query', NS_ROSTER) !== undefined;
}

/** The name of the defined condition (RFC 6120 §8.3.3) of an error stanza. */
export function errorCondition(el: Element): string | undefined {
  return el
    .getChild('error')
    ?.elements()
    .find((child) => child.getNS() === NS_STANZAS)?.localName;
}

/** The features a disco#info query to `to` lists; fails when the answer carries no query. */
export async function discoFeatures(client: TestClient, to: string): Promise<Array<string | undefined>> {
  const reply = await client.iq(`<iq type="get" to="${to}"><query xmlns="${NS_DISCO_INFO}"/></iq>`);
  const query = reply.getChild('query');
  if (!query) throw new Error(`no disco#info query in ${reply.toString()}`);
  return query.getChildren('feature').map((feature) => feature.attrs.var);
}
