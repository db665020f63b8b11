/**
 * Pieces shared by the frame and stream parsers: one saxes configuration, the restricted-XML
 * policy (RFC 6120 §11.1) and the translation of saxes tags into Elements.
 */
import { type SaxesAttributeNSIncomplete, SaxesParser, type SaxesTagNS } from 'saxes';
import type { Attrs, Element } from './element.js';
import { XmlStreamError } from './errors.js';

interface NamespaceAwareOptions {
  xmlns: true;
  position: false;
  fragment: boolean;
}

export type NamespaceAwareParser = SaxesParser<NamespaceAwareOptions>;

/** What a parser does with content; everything else is decided by the restricted-XML policy. */
export interface ContentHandlers {
  attribute(attr: SaxesAttributeNSIncomplete): void;
  openTag(tag: SaxesTagNS): void;
  closeTag(): void;
  text(text: string): void;
  cdata(text: string): void;
}

class RestrictedSaxesParser extends SaxesParser<NamespaceAwareOptions> {}

// The policy handlers are the same for every parser, so they live on the prototype (saxes looks
// handlers up as properties). Registering all eight handlers on each instance would add enough
// properties to push it into V8's dictionary mode, which makes saxes' state machine several times
// slower.
RestrictedSaxesParser.prototype.on('doctype', () => rejectRestricted('a document type declaration'));
RestrictedSaxesParser.prototype.on('comment', () => rejectRestricted('a comment'));
RestrictedSaxesParser.prototype.on('processinginstruction', (pi) =>
  rejectRestricted(`the processing instruction "${pi.target}"`),
);
RestrictedSaxesParser.prototype.on('error', (err) => {
  throw fromSaxesError(err);
});

/**
 * Namespace processing is on so that unbound prefixes are caught by saxes; position tracking is off
 * because it costs time on every character and the messages never reach the peer anyway.
 */
export function createSaxesParser(fragment: boolean, content: ContentHandlers): NamespaceAwareParser {
  const parser = new RestrictedSaxesParser({ xmlns: true, position: false, fragment });
  // Always the same handlers in the same order, so that all parsers share one hidden class.
  parser.on('attribute', content.attribute);
  parser.on('opentag', content.openTag);
  parser.on('closetag', content.closeTag);
  parser.on('text', content.text);
  parser.on('cdata', content.cdata);
  return parser;
}

function rejectRestricted(what: string): never {
  throw new XmlStreamError('restricted-xml', `${what} is not allowed in XMPP`);
}

/**
 * Saxes reports everything as a plain error. Two of its failures are really restricted-XML
 * violations: a DOCTYPE it met after the root element started and a reference to a non-predefined
 * entity (which only a DTD could have declared).
 */
export function fromSaxesError(err: unknown): XmlStreamError {
  if (err instanceof XmlStreamError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (
    message.endsWith('undefined entity.') ||
    message.endsWith('inappropriately located doctype declaration.')
  )
    return new XmlStreamError('restricted-xml', message);
  return new XmlStreamError('not-well-formed', message);
}

/**
 * Gathers the attributes of the tag being read, as written (namespace declarations included).
 * Taking them as saxes reports them is cheaper than reading back its attribute map, and the limit
 * strikes before a tag with thousands of attributes is complete.
 */
export class AttributeCollector {
  private attrs: Attrs = {};
  private count = 0;

  add(attr: SaxesAttributeNSIncomplete, maxAttributes: number): void {
    if (++this.count > maxAttributes)
      throw new XmlStreamError('policy-violation', `more than ${maxAttributes} attributes on one element`);
    this.attrs[attr.name] = attr.value;
  }

  /** The finished tag's attributes; the collector starts over for the next tag. */
  take(): Attrs {
    const attrs = this.attrs;
    this.attrs = {};
    this.count = 0;
    return attrs;
  }
}

/** Appends character data, joining it to a preceding text node (saxes splits text at CDATA sections). */
export function appendText(el: Element, text: string): void {
  const children = el.children;
  const last = children.length - 1;
  if (last >= 0 && typeof children[last] === 'string') children[last] += text;
  else children.push(text);
}

const XML_WHITESPACE = /^[ \t\r\n]*$/;

export function isWhitespace(text: string): boolean {
  return XML_WHITESPACE.test(text);
}

export function tooDeep(maxDepth: number): XmlStreamError {
  return new XmlStreamError('policy-violation', `elements nested deeper than ${maxDepth}`);
}

export function tooLarge(maxBytes: number): XmlStreamError {
  return new XmlStreamError('policy-violation', `element larger than ${maxBytes} bytes`);
}

export function tooMuchText(maxBytes: number): XmlStreamError {
  return new XmlStreamError('policy-violation', `more than ${maxBytes} bytes of character data`);
}
