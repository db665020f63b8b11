import { type AnyModule, defineEvent, defineModule, StanzaError, setting } from '@strom/core';
import type { Database } from '@strom/storage';
import { type Element, parseElement, serialize, xml } from '@strom/xml';
import { and, eq, sql, sum } from 'drizzle-orm';
import { privateXml } from './schema.js';

export const NS_PRIVATE = 'jabber:iq:private';

/**
 * Asked before the stored element is read: a module that keeps this kind of data elsewhere (the
 * PEP module keeps bookmarks, `storage:bookmarks`, as XEP-0402 items) sets `element` and returns true.
 */
export const privateRead = defineEvent<{ owner: string; namespace: string; name: string; element?: Element }>(
  'private/read',
);
/** Asked before an element is stored: a module that keeps it elsewhere takes it and returns true. */
export const privateWrite = defineEvent<{ owner: string; element: Element }>('private/write');

/**
 * XEP-0049 private XML storage for the account's own use. Elements are kept by namespace and
 * name; namespaces of the XMPP core (`jabber:*`, `http://jabber.org/protocol/*`) are refused as
 * the XEP requires, and an account's total is bounded.
 */
/** The row holding one owner's element of one namespace and name. */
function rowOf(owner: string, key: { namespace: string; name: string }) {
  return and(
    eq(privateXml.owner, owner),
    eq(privateXml.namespace, key.namespace),
    eq(privateXml.name, key.name),
  );
}

export const privateStorageModule: AnyModule = defineModule({
  name: 'private-storage',
  settings: {
    maxBytes: setting.int(
      'PRIVATE_STORAGE_MAX_BYTES',
      256 * 1024,
      1024,
      64 * 1024 * 1024,
      'bytes per account',
    ),
  },
  setup(ctx, settings) {
    const db: Database = ctx.database;
    ctx.accountFeature(NS_PRIVATE);

    const keyOf = (element: Element): { namespace: string; name: string } => {
      const namespace = element.getNS();
      if (namespace === undefined || namespace === '') {
        throw new StanzaError('bad-request', 'The element needs a namespace');
      }
      if (namespace.startsWith('jabber:') || namespace.startsWith('http://jabber.org/protocol/')) {
        throw new StanzaError('not-acceptable', 'That namespace is reserved');
      }
      return { namespace, name: element.localName };
    };

    ctx.iq('get', 'self', NS_PRIVATE, 'query', async (event) => {
      const children = event.payload.elements();
      if (children.length !== 1) throw new StanzaError('bad-request', 'Ask for exactly one element');
      const wanted = children[0]!;
      const key = keyOf(wanted);
      const owner = event.from.local;
      const request = { owner, ...key, element: undefined as Element | undefined };
      let element: Element | undefined;
      if (await ctx.fire(privateRead, request)) element = request.element;
      else {
        const [row] = await db.select({ xml: privateXml.xml }).from(privateXml).where(rowOf(owner, key));
        element = row === undefined ? undefined : parseElement(row.xml);
      }
      return xml('query', { xmlns: NS_PRIVATE }, element ?? xml(key.name, { xmlns: key.namespace }));
    });

    ctx.iq('set', 'self', NS_PRIVATE, 'query', async (event) => {
      const owner = event.from.local;
      const elements = event.payload.elements();
      if (elements.length === 0) throw new StanzaError('bad-request', 'Nothing to store');
      for (const element of elements) {
        const key = keyOf(element);
        const copy = element.clone();
        copy.attrs.xmlns = key.namespace;
        if (await ctx.fire(privateWrite, { owner, element: copy })) continue;
        const text = serialize(copy);
        await db.transaction(async (tx) => {
          await tx.delete(privateXml).where(rowOf(owner, key));
          const [used] = await tx
            .select({ bytes: sum(sql<number>`octet_length(${privateXml.xml})`) })
            .from(privateXml)
            .where(eq(privateXml.owner, owner));
          if (Number(used?.bytes ?? 0) + Buffer.byteLength(text, 'utf8') > settings.maxBytes) {
            throw new StanzaError('resource-constraint', 'Private storage is full');
          }
          await tx.insert(privateXml).values({ owner, ...key, xml: text });
        });
      }
      return undefined;
    });

    // XEP-0049 §3: nobody reads or writes another account's private data.
    for (const type of ['get', 'set'] as const) {
      ctx.iq(type, 'bare', NS_PRIVATE, 'query', () => {
        throw new StanzaError('forbidden', 'Private storage belongs to its owner');
      });
    }
  },
});
