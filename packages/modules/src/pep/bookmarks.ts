import { type Element, xml } from '@strom/xml';
import type { StoredItem } from './store.js';

/** XEP-0402 PEP native bookmarks. */
export const NS_BOOKMARKS = 'urn:xmpp:bookmarks:1';
/** XEP-0048 bookmarks, in XEP-0049 private storage and in the legacy PEP node of the same name. */
export const NS_LEGACY_BOOKMARKS = 'storage:bookmarks';

export interface Bookmark {
  jid: string;
  name: string | undefined;
  autojoin: boolean;
  nick: string | undefined;
  password: string | undefined;
  /** XEP-0402 extensions, kept as they are (they cannot be expressed in XEP-0048). */
  extensions: Element | undefined;
}

function isTrue(value: string | undefined): boolean {
  return value === 'true' || value === '1';
}

/** The conferences of a XEP-0048 `<storage/>` (URL bookmarks have no XEP-0402 form and are left out). */
export function fromLegacy(storage: Element): Bookmark[] {
  const seen = new Set<string>();
  const bookmarks: Bookmark[] = [];
  for (const conference of storage.getChildren('conference')) {
    const jid = conference.attrs.jid;
    if (jid === undefined || jid === '' || seen.has(jid)) continue;
    seen.add(jid);
    bookmarks.push({
      jid,
      name: conference.attrs.name,
      autojoin: isTrue(conference.attrs.autojoin),
      nick: conference.getChildText('nick'),
      password: conference.getChildText('password'),
      extensions: undefined,
    });
  }
  return bookmarks;
}

/** A XEP-0402 item (id: the room's JID; payload: `<conference/>`) as a bookmark. */
export function fromItem(id: string, payload: Element): Bookmark {
  return {
    jid: id,
    name: payload.attrs.name,
    autojoin: isTrue(payload.attrs.autojoin),
    nick: payload.getChildText('nick'),
    password: payload.getChildText('password'),
    extensions: payload.getChild('extensions'),
  };
}

export function toLegacy(bookmarks: readonly Bookmark[]): Element {
  const storage = xml('storage', { xmlns: NS_LEGACY_BOOKMARKS });
  for (const bookmark of bookmarks) {
    const attrs: Record<string, string> = {
      jid: bookmark.jid,
      autojoin: bookmark.autojoin ? 'true' : 'false',
    };
    if (bookmark.name !== undefined) attrs.name = bookmark.name;
    const conference = xml('conference', attrs);
    if (bookmark.nick !== undefined) conference.append(xml('nick', {}, bookmark.nick));
    if (bookmark.password !== undefined) conference.append(xml('password', {}, bookmark.password));
    storage.append(conference);
  }
  return storage;
}

/** The XEP-0402 payload of a bookmark; `previous` lends its extensions, which XEP-0048 cannot carry. */
export function toPayload(bookmark: Bookmark, previous?: Bookmark): Element {
  const attrs: Record<string, string> = { xmlns: NS_BOOKMARKS };
  if (bookmark.name !== undefined) attrs.name = bookmark.name;
  if (bookmark.autojoin) attrs.autojoin = 'true';
  const conference = xml('conference', attrs);
  if (bookmark.nick !== undefined) conference.append(xml('nick', {}, bookmark.nick));
  if (bookmark.password !== undefined) conference.append(xml('password', {}, bookmark.password));
  const extensions = bookmark.extensions ?? previous?.extensions;
  if (extensions !== undefined) conference.append(extensions.clone());
  return conference;
}

/** Whether two bookmarks say the same (so an unchanged one is not republished). */
export function sameBookmark(a: Bookmark, b: Bookmark): boolean {
  return (
    a.jid === b.jid &&
    a.name === b.name &&
    a.autojoin === b.autojoin &&
    a.nick === b.nick &&
    a.password === b.password
  );
}

export type { StoredItem };
