import { randomBytes } from 'node:crypto';
import {
  type AnyModule,
  CoreEvents,
  defineModule,
  type IqEvent,
  isInternal,
  type ModuleContext,
  type Setting,
  StanzaError,
  type StanzaEvent,
} from '@strom/core';
import { JID } from '@strom/jid';
import type { Database } from '@strom/storage';
import { type Element, parseElement, serialize, xml } from '@strom/xml';
import { and, asc, count, desc, eq, gt, gte, inArray, lt, lte, type SQL, sql } from 'drizzle-orm';
import { xmppDateTime } from '../time.js';
import { type ArchiveQuery, NS_MAM, NS_RSM, parseQuery, parseRetention } from './query.js';
import { archiveMessages, archivePrefs } from './schema.js';

export const NS_SID = 'urn:xmpp:sid:0';
const NS_FORWARD = 'urn:xmpp:forward:0';
const NS_DELAY = 'urn:xmpp:delay';

const retentionSetting: Setting<number> = {
  env: 'ARCHIVE_RETENTION',
  describe: 'keep a message archive for this long (e.g. 30d); off by default',
  fallback: 0,
  parse(raw) {
    const parsed = parseRetention(raw);
    return 'error' in parsed ? parsed : { value: parsed.ms };
  },
};

type Mode = 'always' | 'never' | 'roster';

/**
 * XEP-0313 message archive with XEP-0059 paging and XEP-0359 stanza ids — off unless the operator
 * sets ARCHIVE_RETENTION, since the privacy promise keeps messages only while the recipient is
 * offline. When on, chat and normal messages with content are kept in the archive of each local
 * party, stamped with the recipient archive's `<stanza-id/>`, and deleted once older than the
 * retention period by a job that one node at a time runs.
 */
export const archiveModule: AnyModule = defineModule({
  name: 'archive',
  settings: { retentionMs: retentionSetting },
  setup(ctx, settings) {
    const retentionMs = settings.retentionMs;
    if (retentionMs === 0) return;
    const db: Database = ctx.database;
    ctx.accountFeature(NS_MAM, `${NS_MAM}#extended`, NS_SID);

    const store = async (owner: string, withJid: string, stanza: Element, uid: string): Promise<void> => {
      await db.insert(archiveMessages).values({ owner, uid, with: withJid, stanza: serialize(stanza) });
    };

    const prefsOf = async (
      owner: string,
    ): Promise<{ defaultMode: Mode; always: string[]; never: string[] }> => {
      const [row] = await db.select().from(archivePrefs).where(eq(archivePrefs.owner, owner));
      return row ?? { defaultMode: 'always', always: [], never: [] };
    };

    /** XEP-0313 §6: whether the owner's preferences keep messages with this contact. */
    const wanted = async (owner: string, contact: string): Promise<boolean> => {
      const prefs = await prefsOf(owner);
      if (prefs.never.includes(contact)) return false;
      if (prefs.always.includes(contact)) return true;
      if (prefs.defaultMode === 'never') return false;
      if (prefs.defaultMode === 'roster')
        return (await ctx.storage.roster.getItem(owner, contact)) !== undefined;
      return true;
    };

    const isLocalAccount = (jid: JID) => jid.local !== '' && ctx.hosts.isLocal(jid.domain);

    // Incoming: kept in the recipient's archive and stamped with its id before delivery (or
    // offline storage), so every copy a client gets names the archive entry.
    const archiveIncoming = async (event: StanzaEvent): Promise<undefined> => {
      const { stanza, to, from } = event;
      if (!archivable(event) || !isLocalAccount(to)) return undefined;
      const owner = to.bare();
      const stamped = stanza
        .getChildren('stanza-id', NS_SID)
        .some((sid) => sid.attrs.by === owner.bareString);
      // Already archived on its way: the server hands a message back to the bare JID when the
      // resource it was routed to went away (on this node or another).
      if (stamped && isInternal(event.origin)) return undefined;
      // Only this server may claim its own users' archives.
      stanza.children = stanza.children.filter(
        (child) =>
          typeof child === 'string' ||
          !child.is('stanza-id', NS_SID) ||
          !ctx.hosts.isLocal(JID.tryParse(child.attrs.by ?? '')?.domain ?? ''),
      );
      if (!(await ctx.storage.accounts.exists(owner.local))) return undefined;
      if (!(await wanted(owner.local, from.bareString))) return undefined;
      const uid = randomBytes(9).toString('base64url');
      stanza.append(xml('stanza-id', { xmlns: NS_SID, id: uid, by: owner.bareString }));
      await store(owner.local, from.bareString, stanza, uid);
      return undefined;
    };

    for (const addressing of ['bare', 'full'] as const) {
      ctx.hook(`message/${addressing}`, archiveIncoming, 20);
      // Outgoing: kept in the sender's archive as sent.
      ctx.hook(
        `pre-message/${addressing}`,
        async (event) => {
          if (!archivable(event) || event.session === undefined) return undefined;
          const owner = event.from.bare();
          if (owner.bareString === event.to.bareString) return undefined;
          if (!(await wanted(owner.local, event.to.bareString))) return undefined;
          const copy = event.stanza.clone();
          copy.children = copy.children.filter(
            (child) => typeof child === 'string' || !child.is('stanza-id', NS_SID),
          );
          await store(owner.local, event.to.bareString, copy, randomBytes(9).toString('base64url'));
          return undefined;
        },
        20,
      );
    }

    ctx.iq('get', 'self', NS_MAM, 'query', () =>
      xml(
        'query',
        { xmlns: NS_MAM },
        xml(
          'x',
          { xmlns: 'jabber:x:data', type: 'form' },
          xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, NS_MAM)),
          xml('field', { var: 'with', type: 'jid-single' }),
          xml('field', { var: 'start', type: 'text-single' }),
          xml('field', { var: 'end', type: 'text-single' }),
          xml('field', { var: 'before-id', type: 'text-single' }),
          xml('field', { var: 'after-id', type: 'text-single' }),
          xml(
            'field',
            { var: 'ids', type: 'list-multi' },
            xml(
              'validate',
              { xmlns: 'http://jabber.org/protocol/xdata-validate', datatype: 'xs:string' },
              xml('open'),
            ),
          ),
        ),
      ),
    );

    ctx.iq('set', 'self', NS_MAM, 'query', async (event) => answerQuery(ctx, db, event));

    ctx.iq('get', 'self', NS_MAM, 'prefs', async (event) => prefsElement(await prefsOf(event.from.local)));
    ctx.iq('set', 'self', NS_MAM, 'prefs', async (event) => {
      const payload = event.payload;
      const mode = payload.attrs.default as Mode | undefined;
      if (mode !== 'always' && mode !== 'never' && mode !== 'roster') {
        throw new StanzaError('bad-request', 'default must be always, never or roster');
      }
      const list = (name: string) =>
        (payload.getChild(name)?.getChildren('jid') ?? []).flatMap(
          (el) => JID.tryParse(el.text())?.bareString ?? [],
        );
      const prefs = { defaultMode: mode, always: list('always'), never: list('never') };
      await db
        .insert(archivePrefs)
        .values({ owner: event.from.local, ...prefs })
        .onConflictDoUpdate({ target: archivePrefs.owner, set: prefs });
      return prefsElement(prefs);
    });
    for (const type of ['get', 'set'] as const) {
      ctx.iq(type, 'bare', NS_MAM, 'query', () => {
        throw new StanzaError('forbidden', 'An archive belongs to its owner');
      });
    }

    // Retention: old messages go, on one node at a time (an advisory lock inside the transaction).
    const purge = async (): Promise<void> => {
      try {
        await db.transaction(async (tx) => {
          const result = (await tx.execute(
            sql`select pg_try_advisory_xact_lock(31337013) as locked`,
          )) as unknown as { rows: Array<{ locked: boolean }> } | Array<{ locked: boolean }>;
          const rows = Array.isArray(result) ? result : result.rows;
          if (!rows[0]?.locked) return;
          await tx
            .delete(archiveMessages)
            .where(lt(archiveMessages.storedAt, new Date(Date.now() - retentionMs)));
        });
      } catch (err) {
        ctx.log.warn(
          { error: err instanceof Error ? err.name : typeof err },
          'archive retention purge failed',
        );
      }
    };
    const every = Math.min(3_600_000, Math.max(1000, Math.floor(retentionMs / 4)));
    const timer = setInterval(() => void purge(), every);
    timer.unref();
    ctx.on(CoreEvents.stopping, () => {
      clearInterval(timer);
    });
  },
});

/** Chat and normal messages with something a user reads; no errors, headlines, room traffic or bare chat states. */
function archivable(event: StanzaEvent): boolean {
  const { stanza, type } = event;
  if (type !== 'chat' && type !== 'normal') return false;
  if (
    stanza.getChild('no-store', 'urn:xmpp:hints') ||
    stanza.getChild('no-permanent-store', 'urn:xmpp:hints')
  ) {
    return false;
  }
  return (
    stanza.getChild('body') !== undefined ||
    stanza.getChild('encrypted', 'eu.siacs.conversations.axolotl') !== undefined ||
    stanza.getChild('encrypted', 'urn:xmpp:omemo:2') !== undefined ||
    stanza.getChild('store', 'urn:xmpp:hints') !== undefined
  );
}

function prefsElement(prefs: { defaultMode: Mode; always: string[]; never: string[] }): Element {
  const jids = (list: string[]) => list.map((jid) => xml('jid', {}, jid));
  return xml(
    'prefs',
    { xmlns: NS_MAM, default: prefs.defaultMode },
    xml('always', {}, ...jids(prefs.always)),
    xml('never', {}, ...jids(prefs.never)),
  );
}

async function seqOf(db: Database, owner: string, uid: string): Promise<number> {
  const [row] = await db
    .select({ seq: archiveMessages.seq })
    .from(archiveMessages)
    .where(and(eq(archiveMessages.owner, owner), eq(archiveMessages.uid, uid)));
  if (!row) throw new StanzaError('item-not-found', `No archived message ${uid}`);
  return row.seq;
}

/** Runs a query: the matching messages to the asking resource, then `<fin/>` with the page's bounds. */
async function answerQuery(ctx: ModuleContext, db: Database, event: IqEvent): Promise<Element> {
  const owner = event.from.local;
  const query: ArchiveQuery = parseQuery(event.payload);
  const queryId = event.payload.attrs.queryid;
  const filters: SQL[] = [eq(archiveMessages.owner, owner)];
  if (query.with !== undefined) filters.push(eq(archiveMessages.with, query.with));
  if (query.start !== undefined) filters.push(gte(archiveMessages.storedAt, query.start));
  if (query.end !== undefined) filters.push(lte(archiveMessages.storedAt, query.end));
  if (query.afterId !== undefined)
    filters.push(gt(archiveMessages.seq, await seqOf(db, owner, query.afterId)));
  if (query.beforeId !== undefined)
    filters.push(lt(archiveMessages.seq, await seqOf(db, owner, query.beforeId)));
  if (query.ids !== undefined) {
    if (query.ids.length === 0) throw new StanzaError('bad-request', 'ids is empty');
    const found = await db
      .select({ uid: archiveMessages.uid })
      .from(archiveMessages)
      .where(and(eq(archiveMessages.owner, owner), inArray(archiveMessages.uid, query.ids)));
    if (found.length !== new Set(query.ids).size)
      throw new StanzaError('item-not-found', 'An id is not in the archive');
    filters.push(inArray(archiveMessages.uid, query.ids));
  }
  const matching = and(...filters)!;
  const paging: SQL[] = [];
  if (query.after !== undefined) paging.push(gt(archiveMessages.seq, await seqOf(db, owner, query.after)));
  if (query.before !== undefined && query.before !== '') {
    paging.push(lt(archiveMessages.seq, await seqOf(db, owner, query.before)));
  }
  // A `<before/>` page is the newest one before the point; every page is sent oldest first.
  const backwards = query.before !== undefined;
  const rows = await db
    .select({
      seq: archiveMessages.seq,
      uid: archiveMessages.uid,
      stanza: archiveMessages.stanza,
      storedAt: archiveMessages.storedAt,
    })
    .from(archiveMessages)
    .where(and(matching, ...paging))
    .orderBy(backwards ? desc(archiveMessages.seq) : asc(archiveMessages.seq))
    .limit(query.max + 1);
  const more = rows.length > query.max;
  const page = rows.slice(0, query.max);
  if (backwards) page.reverse();
  const [total] = await db.select({ n: count() }).from(archiveMessages).where(matching);

  const to = event.from.toString();
  for (const row of page) {
    let original: Element;
    try {
      original = parseElement(row.stanza);
    } catch {
      continue;
    }
    const result = xml(
      'message',
      { to, from: event.from.bareString, id: randomBytes(6).toString('hex') },
      xml(
        'result',
        { xmlns: NS_MAM, id: row.uid, ...(queryId !== undefined ? { queryid: queryId } : {}) },
        xml(
          'forwarded',
          { xmlns: NS_FORWARD },
          xml('delay', { xmlns: NS_DELAY, stamp: xmppDateTime(row.storedAt) }),
          original,
        ),
      ),
    );
    if (event.session) event.session.send(result);
    else await ctx.deliver(event.from, result);
  }
  const set = xml('set', { xmlns: NS_RSM });
  if (page.length > 0) {
    set.append(xml('first', {}, page[0]!.uid));
    set.append(xml('last', {}, page[page.length - 1]!.uid));
  }
  set.append(xml('count', {}, String(total?.n ?? 0)));
  return xml('fin', { xmlns: NS_MAM, ...(more ? {} : { complete: 'true' }) }, set);
}
