/**
 * Incremental parsing of XML that arrives in arbitrary pieces: an RFC 6120 stream (a
 * `<stream:stream>` root whose children are the stanzas) or, when framed, a plain sequence of
 * top-level elements. Each delivered element is complete and detached.
 *
 * Memory stays bounded by maxStanzaBytes: input is handed to saxes in bounded pieces and the bytes
 * of the element in progress are counted after every piece, so an element that never ends fails
 * once it passes the limit instead of growing without end.
 */
import type { SaxesTagNS } from 'saxes';
import { Element } from './element.js';
import { XmlStreamError } from './errors.js';
import { DEFAULT_LIMITS, type XmlLimits } from './limits.js';
import {
  AttributeCollector,
  appendText,
  createSaxesParser,
  fromSaxesError,
  isWhitespace,
  type NamespaceAwareParser,
  tooDeep,
  tooLarge,
  tooMuchText,
} from './saxes-support.js';

export const STREAM_NAMESPACE = 'http://etherx.jabber.org/streams';

export interface StreamParserOptions {
  limits?: XmlLimits;
  /**
   * A sequence of top-level elements (one per frame) instead of one `<stream:stream>` document. Such
   * input has no prolog, so an XML declaration is rejected as not-well-formed.
   */
  framed?: boolean;
  /** The stream root, without children (unframed mode only). */
  onStreamOpen?(root: Element): void;
  /** A complete stanza (depth 1 of the stream) or, framed, a complete top-level element. */
  onElement(el: Element): void;
  /** `</stream:stream>` arrived (unframed mode only). */
  onStreamClose?(): void;
  /** The first parse failure; all input after it is ignored. */
  onError(err: XmlStreamError): void;
}

/** Upper bound on the characters saxes sees between two checks of the size limit. */
const MAX_PIECE_LENGTH = 16 * 1024;
const CR = 0x0d;

/** Saxes holds back a trailing CR (maybe half of CRLF) or high surrogate; we do it ourselves so that
 * saxes positions always line up with our pieces. */
function mustHoldBack(code: number): boolean {
  return code === CR || (code >= 0xd800 && code <= 0xdbff);
}

type Pending = { kind: 'open'; root: Element } | { kind: 'element'; el: Element } | { kind: 'close' };

/** Wraps an exception thrown by one of the caller's callbacks so it is not taken for a parse error. */
class CallbackFailure {
  constructor(readonly cause: unknown) {}
}

export class StreamParser {
  private readonly options: StreamParserOptions;
  private readonly limits: XmlLimits;
  private readonly framed: boolean;
  /** Depth (root = 1) of the elements that are delivered: the stanzas, or framed the top level. */
  private readonly unitDepth: number;
  private readonly saxes: NamespaceAwareParser;
  private readonly attributes = new AttributeCollector();

  private streamRoot: Element | undefined;
  private current: Element | undefined;
  private depth = 0;
  private textBytes = 0;
  /**
   * A completed unit is announced only once saxes has moved past its end: saxes calls the close-tag
   * handler before it checks that the close tag matches, and fails at that same position if not.
   */
  private pending: Pending | undefined;
  private pendingAt = 0;

  private finished = false;
  private inSaxes = false;
  private ending = false;
  private queuedInput = '';
  private endQueued = false;
  private heldBack = '';

  // Size accounting of the current unit (the element being received plus anything before it since
  // the previous one), in UTF-8 bytes.
  private fed = 0;
  private piece = '';
  private unitStart = 0;
  private unitBytes = 0;

  constructor(options: StreamParserOptions) {
    this.options = options;
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.framed = options.framed ?? false;
    this.unitDepth = this.framed ? 1 : 2;
    // Framed input has many top-level elements, which saxes accepts only in fragment mode; a stream
    // is one document, so document mode enforces the prolog rules and a single root.
    this.saxes = createSaxesParser(this.framed, {
      attribute: (attr) => this.attributes.add(attr, this.limits.maxAttributes),
      openTag: (tag) => this.onOpenTag(tag),
      closeTag: () => this.onCloseTag(),
      text: (text) => this.onText(text, true),
      cdata: (text) => this.onText(text, false),
    });
  }

  write(chunk: string): void {
    if (this.finished) return;
    if (this.inSaxes) {
      // Called from one of our callbacks: this input comes after everything already written.
      this.queuedInput += chunk;
      return;
    }
    let text = this.heldBack + chunk;
    this.heldBack = '';
    if (text.length > 0 && mustHoldBack(text.charCodeAt(text.length - 1))) {
      this.heldBack = text.slice(-1);
      text = text.slice(0, -1);
    }
    for (let start = 0; start < text.length && !this.finished; ) {
      let end = Math.min(start + MAX_PIECE_LENGTH, text.length);
      if (end < text.length && mustHoldBack(text.charCodeAt(end - 1))) end--;
      this.feed(start === 0 && end === text.length ? text : text.slice(start, end));
      start = end;
    }
    this.drainQueue();
  }

  /** No more input: an element or stream left open is reported as not-well-formed. */
  end(): void {
    if (this.finished) return;
    if (this.inSaxes) {
      this.endQueued = true;
      return;
    }
    this.ending = true;
    this.piece = '';
    this.guarded(() => {
      if (this.heldBack) this.saxes.write(this.heldBack);
      this.heldBack = '';
      this.saxes.close();
    });
    this.finished = true;
  }

  private feed(piece: string): void {
    this.piece = piece;
    this.unitStart = 0;
    this.guarded(() => {
      this.saxes.write(piece);
      this.fed += piece.length;
      this.flush();
      if (this.unitStart < piece.length) {
        this.unitBytes += Buffer.byteLength(
          this.unitStart === 0 ? piece : piece.slice(this.unitStart),
          'utf8',
        );
        if (this.unitBytes > this.limits.maxStanzaBytes) throw tooLarge(this.limits.maxStanzaBytes);
      }
    });
  }

  /** Runs saxes, turning parse failures into onError and letting the caller's own exceptions through. */
  private guarded(run: () => void): void {
    this.inSaxes = true;
    let failure: XmlStreamError | undefined;
    let completed: Pending | undefined;
    try {
      run();
      this.flush();
    } catch (err) {
      this.finished = true;
      if (err instanceof CallbackFailure) throw err.cause;
      failure = fromSaxesError(err);
      // A unit completed before the failing input is still delivered, unless the failure is saxes
      // rejecting the very close tag that completed it.
      if (this.pending && (this.pending.kind === 'open' || this.saxes.position !== this.pendingAt))
        completed = this.pending;
      this.pending = undefined;
    } finally {
      this.inSaxes = false;
    }
    if (completed) this.announce(completed);
    if (failure) this.options.onError(failure);
  }

  private drainQueue(): void {
    while (this.queuedInput && !this.finished) {
      const input = this.queuedInput;
      this.queuedInput = '';
      this.write(input);
    }
    if (this.endQueued) {
      this.endQueued = false;
      this.end();
    }
  }

  private flush(): void {
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    try {
      this.announce(pending);
    } catch (err) {
      throw new CallbackFailure(err);
    }
  }

  private announce(event: Pending): void {
    if (event.kind === 'element') this.options.onElement(event.el);
    else if (event.kind === 'open') this.options.onStreamOpen?.(event.root);
    else this.options.onStreamClose?.();
  }

  private complete(event: Pending): void {
    this.pending = event;
    this.pendingAt = this.saxes.position;
  }

  /** Offset in the current piece of the character saxes will read next. */
  private offsetInPiece(): number {
    return this.saxes.position - this.fed;
  }

  /** Ends the current unit right after the tag saxes just read, enforcing the size limit. */
  private closeUnit(): void {
    const end = this.offsetInPiece();
    const length = end - this.unitStart;
    const max = this.limits.maxStanzaBytes;
    // Encoding is needed only when the worst case (three bytes per UTF-16 unit) could pass the limit.
    if (this.unitBytes + length * 3 > max) {
      const bytes = this.unitBytes + Buffer.byteLength(this.piece.slice(this.unitStart, end), 'utf8');
      if (bytes > max) throw tooLarge(max);
    }
    this.unitBytes = 0;
    this.unitStart = end;
  }

  private onOpenTag(tag: SaxesTagNS): void {
    this.flush();
    const depth = ++this.depth;
    if (depth < this.unitDepth) {
      this.openStream(tag);
      return;
    }
    const unitLevel = depth - this.unitDepth + 1;
    if (unitLevel > this.limits.maxDepth) throw tooDeep(this.limits.maxDepth);
    const el = new Element(tag.name, this.attributes.take());
    if (unitLevel === 1) {
      // Linked to the root (but not added to it) so that inherited namespaces resolve until detach.
      el.parent = this.streamRoot;
      this.textBytes = 0;
    } else {
      this.current!.children.push(el);
      el.parent = this.current;
    }
    this.current = el;
  }

  private openStream(tag: SaxesTagNS): void {
    if (tag.uri !== STREAM_NAMESPACE)
      throw new XmlStreamError('invalid-namespace', `stream root in namespace "${tag.uri}"`);
    if (tag.local !== 'stream') throw new XmlStreamError('bad-format', `<${tag.name}> is not a stream root`);
    const root = new Element(tag.name, this.attributes.take());
    this.streamRoot = root;
    this.closeUnit();
    this.complete({ kind: 'open', root });
  }

  private onCloseTag(): void {
    this.flush();
    const depth = this.depth--;
    if (depth < this.unitDepth) {
      this.closeUnit();
      this.complete({ kind: 'close' });
      return;
    }
    const el = this.current!;
    if (depth > this.unitDepth) {
      this.current = el.parent;
      return;
    }
    this.current = undefined;
    this.closeUnit();
    el.detach();
    this.complete({ kind: 'element', el });
  }

  private onText(text: string, endsAtTag: boolean): void {
    this.flush();
    const current = this.current;
    if (current === undefined) {
      if (!isWhitespace(text)) {
        // Character data between stanzas is well-formed XML but not an XMPP stream; in front of the
        // root or between frames it is not well-formed at all.
        const condition = this.depth === 0 ? 'not-well-formed' : 'bad-format';
        throw new XmlStreamError(condition, 'character data outside of an element');
      }
      // Whitespace (keepalives) between elements is not counted in the next element's size. Text is
      // reported when saxes reads the `<` that ends it, so the next unit starts at that `<`.
      if (endsAtTag && !this.ending) {
        this.unitStart = this.offsetInPiece() - 1;
        this.unitBytes = 0;
      }
      return;
    }
    const maxTextBytes = this.limits.maxTextBytes;
    if (maxTextBytes !== undefined) {
      this.textBytes += Buffer.byteLength(text, 'utf8');
      if (this.textBytes > maxTextBytes) throw tooMuchText(maxTextBytes);
    }
    appendText(current, text);
  }
}
