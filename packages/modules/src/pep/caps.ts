import { createHash } from 'node:crypto';
import type { Element } from '@strom/xml';

export const NS_CAPS = 'http://jabber.org/protocol/caps';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const NS_DATA = 'jabber:x:data';

/** The XEP-0115 `<c/>` a presence carries: `node#ver` is what to ask disco#info about. */
export interface CapsRef {
  node: string;
  ver: string;
  hash: string;
}

export function capsOf(presence: Element | undefined): CapsRef | undefined {
  const c = presence?.getChild('c', NS_CAPS);
  const { node, ver, hash } = c?.attrs ?? {};
  if (node === undefined || ver === undefined || hash === undefined) return undefined;
  return { node, ver, hash };
}

/** "i;octet" collation (RFC 4790 §9.3): compare UTF-8 bytes, not UTF-16 code units. */
function octetCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * XEP-0115 §5.1: the verification string of a disco#info answer, or undefined when the answer is
 * one the XEP says must not be trusted (duplicate identities or features, malformed forms).
 */
export function verificationString(query: Element, algorithm: string): string | undefined {
  const hashName = { 'sha-1': 'sha1', 'sha-256': 'sha256', 'sha-512': 'sha512' }[algorithm];
  if (hashName === undefined) return undefined;
  const identities = query.getChildren('identity', NS_DISCO_INFO).map((identity) => {
    const { category = '', type = '', name = '' } = identity.attrs;
    const lang = identity.attrs['xml:lang'] ?? '';
    return `${category}/${type}/${lang}/${name}`;
  });
  const features = query.getChildren('feature', NS_DISCO_INFO).map((feature) => feature.attrs.var ?? '');
  if (new Set(identities).size !== identities.length || new Set(features).size !== features.length) {
    return undefined;
  }
  const forms: Array<{ type: string; text: string }> = [];
  for (const form of query.getChildren('x', NS_DATA)) {
    const fields = form.getChildren('field', NS_DATA);
    const formType = fields.find((field) => field.attrs.var === 'FORM_TYPE');
    if (formType === undefined) continue;
    const type = formType.getChildText('value') ?? '';
    let text = `${type}<`;
    const others = fields
      .filter((field) => field.attrs.var !== 'FORM_TYPE')
      .sort((a, b) => octetCompare(a.attrs.var ?? '', b.attrs.var ?? ''));
    for (const field of others) {
      text += `${field.attrs.var ?? ''}<`;
      const values = field.getChildren('value').map((value) => value.text());
      for (const value of values.sort(octetCompare)) text += `${value}<`;
    }
    forms.push({ type, text });
  }
  if (new Set(forms.map((form) => form.type)).size !== forms.length) return undefined;
  let s = '';
  for (const identity of identities.sort(octetCompare)) s += `${identity}<`;
  for (const feature of features.sort(octetCompare)) s += `${feature}<`;
  for (const form of forms.sort((a, b) => octetCompare(a.type, b.type))) s += form.text;
  return createHash(hashName).update(s, 'utf8').digest('base64');
}

/** The features named in a disco#info answer. */
export function featuresOf(query: Element): string[] {
  return query.getChildren('feature', NS_DISCO_INFO).flatMap((feature) => feature.attrs.var ?? []);
}

/** The nodes an entity wants notifications for: features `<node>+notify` (XEP-0163 §4). */
export function notifyNodes(features: Iterable<string>): Set<string> {
  const nodes = new Set<string>();
  for (const feature of features)
    if (feature.endsWith('+notify')) nodes.add(feature.slice(0, -'+notify'.length));
  return nodes;
}

/**
 * Verified capabilities by verification string. A hash, once verified, describes every entity
 * that announces it, so one answer serves all of them; the cache is bounded and forgets the oldest.
 */
export class CapsCache {
  private readonly entries = new Map<string, Set<string>>();

  constructor(private readonly limit = 10_000) {}

  get(ver: string): Set<string> | undefined {
    return this.entries.get(ver);
  }

  set(ver: string, features: Iterable<string>): void {
    this.entries.delete(ver);
    this.entries.set(ver, new Set(features));
    if (this.entries.size > this.limit) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }
}
