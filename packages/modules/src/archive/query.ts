import { StanzaError } from '@strom/core';
import { JID } from '@strom/jid';
import type { Element } from '@strom/xml';

export const NS_MAM = 'urn:xmpp:mam:2';
export const NS_RSM = 'http://jabber.org/protocol/rsm';
const NS_DATA = 'jabber:x:data';

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 250;

/** An archive query (XEP-0313 §4 form fields and XEP-0059 paging). */
export interface ArchiveQuery {
  with: string | undefined;
  start: Date | undefined;
  end: Date | undefined;
  afterId: string | undefined;
  beforeId: string | undefined;
  ids: string[] | undefined;
  max: number;
  /** RSM `<after/>`: the page after this uid. */
  after: string | undefined;
  /** RSM `<before/>`: the page before this uid, or the last page when empty. */
  before: string | undefined;
}

function date(field: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const parsed = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(parsed.getTime())) {
    throw new StanzaError('bad-request', `${field} must be a XEP-0082 DateTime`);
  }
  return parsed;
}

/** Reads a `<query xmlns='urn:xmpp:mam:2'/>`; unknown form fields are refused as the XEP requires. */
export function parseQuery(query: Element): ArchiveQuery {
  const fields = new Map<string, string[]>();
  const form = query.getChild('x', NS_DATA);
  for (const field of form?.getChildren('field', NS_DATA) ?? []) {
    const name = field.attrs.var;
    if (name === undefined || name === 'FORM_TYPE') continue;
    fields.set(
      name,
      field.getChildren('value', NS_DATA).map((value) => value.text()),
    );
  }
  for (const name of fields.keys()) {
    if (!['with', 'start', 'end', 'after-id', 'before-id', 'ids'].includes(name)) {
      throw new StanzaError('feature-not-implemented', `Unsupported query field ${name}`);
    }
  }
  const one = (name: string) => fields.get(name)?.[0];
  const withRaw = one('with');
  let withJid: string | undefined;
  if (withRaw !== undefined) {
    const parsed = JID.tryParse(withRaw);
    if (parsed === undefined) throw new StanzaError('bad-request', '"with" is not a JID');
    withJid = parsed.bareString;
  }
  const set = query.getChild('set', NS_RSM);
  const maxText = set?.getChildText('max');
  let max = DEFAULT_PAGE;
  if (maxText !== undefined) {
    const value = Number(maxText);
    if (!Number.isInteger(value) || value < 0)
      throw new StanzaError('bad-request', 'RSM max must be a number');
    max = Math.min(value, MAX_PAGE);
  }
  const beforeEl = set?.getChild('before');
  return {
    with: withJid,
    start: date('start', one('start')),
    end: date('end', one('end')),
    afterId: one('after-id'),
    beforeId: one('before-id'),
    ids: fields.get('ids'),
    max,
    after: set?.getChildText('after') || undefined,
    before: beforeEl === undefined ? undefined : beforeEl.text(),
  };
}

/** A retention period like `30d`, `12h`, `90m` or `45s`; `off` or `0` turns the archive off. */
export function parseRetention(raw: string): { ms: number } | { error: string } {
  const value = raw.trim().toLowerCase();
  if (value === 'off' || value === '0' || value === 'false') return { ms: 0 };
  const match = /^(\d+)\s*([smhd])$/.exec(value);
  if (!match) return { error: `ARCHIVE_RETENTION must be off or a period like 30d, 12h, 90m (got "${raw}")` };
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return { ms: Number(match[1]) * unit };
}
