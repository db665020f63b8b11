/**
 * A light XML element: the name as written (possibly prefixed), attributes as written (namespace
 * declarations included) and ordered children. Namespaces are resolved on demand by walking up the
 * parents, so a parsed stanza serializes back exactly as its sender scoped it.
 */
export type Node = Element | string;
export type Attrs = Record<string, string>;

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
    return this.findNS(prefix === undefined ? 'xmlns' : `xmlns:${prefix}`);
  }

  get xmlns(): string | undefined {
    return this.getNS();
  }

  private findNS(declaration: string): string | undefined {
    for (let el: Element | undefined = this; el; el = el.parent) {
      const value = el.attrs[declaration];
      if (value !== undefined) return value;
    }
    return undefined;
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
      if (localName === undefined ? xmlns === undefined || child.getNS() === xmlns : child.is(localName, xmlns))
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
    this.children = this.children.filter((child) => typeof child === 'string' || !child.is(localName, xmlns));
    return this;
  }

  /**
   * A detached deep copy. Namespace declarations inherited from ancestors are copied onto the
   * new root so that it keeps its meaning on its own.
   */
  clone(): Element {
    const copy = cloneTree(this);
    if (this.parent) {
      const ns = this.getNS();
      const declaration = this.prefix === undefined ? 'xmlns' : `xmlns:${this.prefix}`;
      if (ns !== undefined && copy.attrs[declaration] === undefined) copy.attrs[declaration] = ns;
    }
    return copy;
  }

  toString(): string {
    return serialize(this);
  }
}

function cloneTree(el: Element): Element {
  const children: Node[] = [];
  for (const child of el.children) children.push(typeof child === 'string' ? child : cloneTree(child));
  return new Element(el.name, { ...el.attrs }, children);
}

/** Builds an element: `xml('message', { to }, xml('body', {}, 'hi'))`. Falsy children are skipped. */
export function xml(
  name: string,
  attrs?: Attrs | null,
  ...children: (Node | undefined | null | false | (Node | undefined | null | false)[])[]
): Element {
  const el = new Element(name, attrs ? withoutUndefined(attrs) : {});
  for (const child of children) {
    if (Array.isArray(child)) el.append(...child);
    else el.append(child);
  }
  return el;
}

function withoutUndefined(attrs: Attrs): Attrs {
  const result: Attrs = {};
  for (const key in attrs) {
    const value = attrs[key];
    if (value !== undefined && value !== null) result[key] = value;
  }
  return result;
}

const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };
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
  return /[&<>]/.test(text) ? text.replace(/[&<>]/g, (c) => TEXT_ESCAPES[c]!) : text;
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
