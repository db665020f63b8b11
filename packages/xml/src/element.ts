/**
 * A light XML element: the name as written (possibly prefixed), attributes as written (namespace
 * declarations included) and ordered children. Namespaces are resolved on demand by walking up the
 * parents, so a parsed stanza serializes back exactly as its sender scoped it.
 */
export type Node = Element | string;
export type Attrs = Record<string, string>;

/** The `xml` prefix is bound by definition and never declared (Namespaces in XML 1.0, §3). */
export const XML_NAMESPACE = 'http://www.w3.org/XML/1998/namespace';

export class Element {
  readonly name: string;
  attrs: Attrs;
  children: Node[];
  parent: Element | undefined;

  constructor(name: string, attrs?: Attrs | null, children?: Node[]) {
    this.name = name;
    this.attrs = attrs ?? {};
    this.children = children ?? [];
    this.parent = undefined;
    for (const child of this.children) if (typeof child !== 'string') child.parent = this;
  }

  /** Local part of the name, without prefix. */
  get localName(): string {
    const colon = this.name.indexOf(':');
    return colon === -1 ? this.name : this.name.slice(colon + 1);
  }

  get prefix(): string | undefined {
    const colon = this.name.indexOf(':');
    return colon === -1 ? undefined : this.name.slice(0, colon);
  }

  /** The namespace this element is in, resolved through its ancestors. */
  getNS(): string | undefined {
    const prefix = this.prefix;
    if (prefix === 'xml') return XML_NAMESPACE;
    return lookupNamespace(this, prefix === undefined ? 'xmlns' : `xmlns:${prefix}`);
  }

  get xmlns(): string | undefined {
    return this.getNS();
  }

  attr(name: string): string | undefined {
    return this.attrs[name];
  }

  /** Sets (or, with undefined, removes) an attribute; returns this for chaining. */
  setAttr(name: string, value: string | undefined): this {
    if (value === undefined) delete this.attrs[name];
    else this.attrs[name] = value;
    return this;
  }

  is(localName: string, xmlns?: string): boolean {
    return this.localName === localName && (xmlns === undefined || this.getNS() === xmlns);
  }

  /** First child element with this local name (and namespace, when given). */
  getChild(localName: string, xmlns?: string): Element | undefined {
    for (const child of this.children) {
      if (typeof child !== 'string' && child.is(localName, xmlns)) return child;
    }
    return undefined;
  }

  getChildren(localName?: string, xmlns?: string): Element[] {
    const result: Element[] = [];
    for (const child of this.children) {
      if (typeof child === 'string') continue;
      if (
        localName === undefined ? xmlns === undefined || child.getNS() === xmlns : child.is(localName, xmlns)
      )
        result.push(child);
    }
    return result;
  }

  /** The first child element in the given namespace, whatever its name (the payload of an IQ). */
  getChildByNS(xmlns: string): Element | undefined {
    for (const child of this.children) {
      if (typeof child !== 'string' && child.getNS() === xmlns) return child;
    }
    return undefined;
  }

  /** All child elements, text skipped. */
  elements(): Element[] {
    const result: Element[] = [];
    for (const child of this.children) if (typeof child !== 'string') result.push(child);
    return result;
  }

  /** First child element, text skipped. */
  firstElement(): Element | undefined {
    for (const child of this.children) if (typeof child !== 'string') return child;
    return undefined;
  }

  /** Concatenated direct text content. */
  text(): string {
    let out = '';
    for (const child of this.children) if (typeof child === 'string') out += child;
    return out;
  }

  getChildText(localName: string, xmlns?: string): string | undefined {
    return this.getChild(localName, xmlns)?.text();
  }

  /** Appends children (elements or text) and returns this. */
  append(...nodes: (Node | undefined | null | false)[]): this {
    for (const node of nodes) {
      if (node === undefined || node === null || node === false) continue;
      if (typeof node !== 'string') node.parent = this;
      this.children.push(node);
    }
    return this;
  }

  /** Appends a new child element and returns the child (ltx-style builder). */
  c(name: string, attrs?: Attrs | null): Element {
    const child = new Element(name, attrs);
    this.append(child);
    return child;
  }

  /** Appends text and returns this. */
  t(text: string): this {
    return this.append(text);
  }

  /** Back to the parent while building. */
  up(): Element {
    return this.parent ?? this;
  }

  /** Back to the root while building. */
  root(): Element {
    let el: Element = this;
    while (el.parent) el = el.parent;
    return el;
  }

  remove(child: Element): this {
    const index = this.children.indexOf(child);
    if (index !== -1) {
      this.children.splice(index, 1);
      child.parent = undefined;
    }
    return this;
  }

  removeChildren(localName: string, xmlns?: string): this {
    this.children = this.children.filter((child) => {
      if (typeof child === 'string' || !child.is(localName, xmlns)) return true;
      child.parent = undefined;
      return false;
    });
    return this;
  }

  /**
   * A detached deep copy. Namespace declarations that the subtree relies on but that are made by
   * ancestors are copied onto the new root so that it keeps its meaning on its own.
   */
  clone(): Element {
    const copy = cloneTree(this);
    const inherited = inheritedDeclarations(this);
    if (inherited) Object.assign(copy.attrs, inherited);
    return copy;
  }

  /**
   * Removes this element from its parent, first copying onto it the namespace declarations it
   * inherits, so that it keeps its meaning on its own. Returns this.
   */
  detach(): this {
    const parent = this.parent;
    if (!parent) return this;
    const inherited = inheritedDeclarations(this);
    parent.remove(this);
    this.parent = undefined;
    if (inherited) Object.assign(this.attrs, inherited);
    return this;
  }

  toString(): string {
    return serialize(this);
  }
}

function lookupNamespace(from: Element, declaration: string): string | undefined {
  for (let el: Element | undefined = from; el; el = el.parent) {
    const value = el.attrs[declaration];
    if (value !== undefined) return value;
  }
  return undefined;
}

/**
 * The declarations (`xmlns` / `xmlns:p` → URI) used by names inside `top`'s subtree that resolve
 * only through `top`'s ancestors. Unused ancestor declarations (such as `xmlns:stream` on a stream
 * root) are left out so that a detached stanza serializes without noise.
 */
function inheritedDeclarations(top: Element): Attrs | undefined {
  const outside = top.parent;
  if (!outside) return undefined;
  let found: Attrs | undefined;
  const need = (el: Element, declaration: string) => {
    if (found?.[declaration] !== undefined) return;
    for (let scope: Element = el; ; scope = scope.parent!) {
      if (scope.attrs[declaration] !== undefined) return;
      if (scope === top) break;
    }
    const uri = lookupNamespace(outside, declaration);
    // An inherited `xmlns=""` means "no namespace", which a detached element has anyway.
    if (!uri) return;
    found ??= {};
    found[declaration] = uri;
  };
  const visit = (el: Element) => {
    const prefix = el.prefix;
    if (prefix === undefined) need(el, 'xmlns');
    else if (prefix !== 'xml') need(el, `xmlns:${prefix}`);
    for (const name in el.attrs) {
      const colon = name.indexOf(':');
      if (colon <= 0) continue;
      const attrPrefix = name.slice(0, colon);
      if (attrPrefix !== 'xmlns' && attrPrefix !== 'xml') need(el, `xmlns:${attrPrefix}`);
    }
    for (const child of el.children) if (typeof child !== 'string') visit(child);
  };
  visit(top);
  return found;
}

function cloneTree(el: Element): Element {
  const children: Node[] = [];
  for (const child of el.children) children.push(typeof child === 'string' ? child : cloneTree(child));
  return new Element(el.name, { ...el.attrs }, children);
}

/** Builds an element: `xml('message', { to }, xml('body', {}, 'hi'))`. Falsy children are skipped. */
export function xml(
  name: string,
  attrs?: Record<string, string | undefined | null> | null,
  ...children: (Node | undefined | null | false | (Node | undefined | null | false)[])[]
): Element {
  const el = new Element(name, attrs ? withoutUndefined(attrs) : {});
  for (const child of children) {
    if (Array.isArray(child)) el.append(...child);
    else el.append(child);
  }
  return el;
}

function withoutUndefined(attrs: Record<string, string | undefined | null>): Attrs {
  const result: Attrs = {};
  for (const key in attrs) {
    const value = attrs[key];
    if (value !== undefined && value !== null) result[key] = value;
  }
  return result;
}

// A literal CR would come back as LF (XML 1.0 §2.11), so it travels as a character reference.
const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#xD;' };
const ATTR_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '\t': '&#x9;',
  '\n': '&#xA;',
  '\r': '&#xD;',
};

export function escapeText(text: string): string {
  return /[&<>\r]/.test(text) ? text.replace(/[&<>\r]/g, (c) => TEXT_ESCAPES[c]!) : text;
}

export function escapeAttr(value: string): string {
  return /[&<>"'\t\n\r]/.test(value) ? value.replace(/[&<>"'\t\n\r]/g, (c) => ATTR_ESCAPES[c]!) : value;
}

/** Serializes an element. Text is escaped; attribute values use double quotes. */
export function serialize(el: Element): string {
  let out = '<' + el.name;
  const attrs = el.attrs;
  for (const key in attrs) {
    const value = attrs[key];
    if (value === undefined) continue;
    out += ' ' + key + '="' + escapeAttr(value) + '"';
  }
  if (el.children.length === 0) return out + '/>';
  out += '>';
  for (const child of el.children) out += typeof child === 'string' ? escapeText(child) : serialize(child);
  return out + '</' + el.name + '>';
}
