/**
 * One-shot parsing of a complete XML element, as carried by each RFC 7395 WebSocket message. This is
 * the server's hot path, so a single saxes parser is shared by all calls (parsing is synchronous and
 * never re-entered) and the tree under construction lives in module state.
 */
import type { SaxesAttributeNSIncomplete, SaxesTagNS } from 'saxes';
import { Element } from './element.js';
import { XmlStreamError } from './errors.js';
import { DEFAULT_LIMITS, exceedsUtf8Bytes, TRUSTED_LIMITS, type XmlLimits } from './limits.js';
import {
  AttributeCollector,
  appendText,
  createSaxesParser,
  fromSaxesError,
  type NamespaceAwareParser,
  tooDeep,
  tooLarge,
  tooMuchText,
} from './saxes-support.js';

let limits: XmlLimits = DEFAULT_LIMITS;
let root: Element | undefined;
let current: Element | undefined;
let depth = 0;
let textBytes = 0;
let attributes = new AttributeCollector();
let parser = createFrameParser();

function createFrameParser(): NamespaceAwareParser {
  // Document mode (not fragment): saxes itself enforces a single root, no text outside it and an
  // XML declaration only at the very start.
  return createSaxesParser(false, {
    attribute: onAttribute,
    openTag: onOpenTag,
    closeTag: onCloseTag,
    text: onText,
    cdata: onText,
  });
}

function onAttribute(attr: SaxesAttributeNSIncomplete): void {
  attributes.add(attr, limits.maxAttributes);
}

function onOpenTag(tag: SaxesTagNS): void {
  if (++depth > limits.maxDepth) throw tooDeep(limits.maxDepth);
  const el = new Element(tag.name, attributes.take());
  if (current === undefined) root = el;
  else {
    current.children.push(el);
    el.parent = current;
  }
  current = el;
}

function onCloseTag(): void {
  current = current?.parent;
  depth--;
}

function onText(text: string): void {
  // Whitespace around the root arrives here too; saxes already rejects anything else out there.
  if (current === undefined) return;
  if (limits.maxTextBytes !== undefined) {
    textBytes += Buffer.byteLength(text, 'utf8');
    if (textBytes > limits.maxTextBytes) throw tooMuchText(limits.maxTextBytes);
  }
  appendText(current, text);
}

/**
 * Parses exactly one element (surrounding whitespace and a leading XML declaration allowed) and
 * returns it detached. Throws XmlStreamError: not-well-formed for malformed XML, unbound prefixes,
 * several roots, text outside the root or empty input; restricted-xml for DTDs, entity references
 * other than the predefined ones, comments and processing instructions; policy-violation when a
 * limit is exceeded.
 */
export function parseFrame(text: string, frameLimits: XmlLimits = DEFAULT_LIMITS): Element {
  if (exceedsUtf8Bytes(text, frameLimits.maxStanzaBytes)) throw tooLarge(frameLimits.maxStanzaBytes);
  limits = frameLimits;
  depth = 0;
  textBytes = 0;
  try {
    parser.write(text);
    parser.close();
  } catch (err) {
    // A throw leaves saxes mid-document; a fresh instance is cheaper to reason about than a reset.
    parser = createFrameParser();
    attributes = new AttributeCollector();
    root = undefined;
    throw fromSaxesError(err);
  } finally {
    current = undefined;
  }
  const result = root;
  root = undefined;
  // close() fails on a document without a root, so this only guards against a broken invariant.
  if (result === undefined) throw new XmlStreamError('not-well-formed', 'no root element');
  return result;
}

/** parseFrame for XML Strom already trusts (stored stanzas): the same rules, generous limits. */
export function parseElement(text: string): Element {
  return parseFrame(text, TRUSTED_LIMITS);
}
