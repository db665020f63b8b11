import { randomBytes } from 'node:crypto';
import { JID } from '@strom/jid';
import { type Element, parseFrame, serialize, type XmlLimits, XmlStreamError, xml } from '@strom/xml';
import type { StreamStage } from './context.js';
import { errorReply, iqResult, StanzaError, StreamError, type StreamErrorCondition } from './errors.js';
import { LogBudget } from './log-budget.js';
import type { Logger } from './logger.js';
import { NS } from './namespaces.js';
import type { ModuleRegistry } from './registry.js';
import { serializeStanza } from './stream-namespace.js';

/** The connection a session speaks over; the WebSocket layer implements it, tests may fake it. */
export interface Transport {
  /** Sends one complete XML element as one frame. */
  send(frame: string): void;
  /** Closes the connection once what was sent is flushed. */
  close(): void;
  /** TLS to the client, loopback, or TLS terminated by a trusted proxy. */
  readonly secure: boolean;
  /** Used only as a throttling key; never logged, stored or sent anywhere. */
  readonly remoteAddress: string | undefined;
  /** Stop/restart reading from the connection (input backpressure). */
  pause?(): void;
  resume?(): void;
  /**
   * The connection now belongs to another session (a resumed one): frames read from now on go to
   * it. A transport that cannot move leaves this out, and resumption is then not offered over it.
   */
  attach?(session: ClientSession): void;
}

export type SessionState =
  | 'connecting'
  | 'authenticating'
  | 'authenticated'
  | 'binding'
  | 'active'
  /** Bound, with no connection: kept by a module (stream management) until resumed or terminated. */
  | 'hibernating'
  | 'closed';

export type CloseReason =
  | { kind: 'client-close' }
  | { kind: 'transport-lost' }
  | { kind: 'stream-error'; condition: StreamErrorCondition }
  | { kind: 'shutdown' }
  | { kind: 'redirect'; uri: string }
  /** A hibernating session was given up (its resumption window passed, or it was replaced). */
  | { kind: 'terminated' };

/** A stanza on its way to the client: always rendered, and the element too when the sender had one. */
export interface Outbound {
  readonly text: string;
  readonly element: Element | undefined;
}

/** Sees every stanza a client sent before the router does; returns it (perhaps changed) or undefined to take it. */
export type InboundFilter = (stanza: Element) => Element | undefined;
/** Sees every stanza before it is written to the client; returns it (perhaps changed) or undefined to hold it back. */
export type OutboundFilter = (stanza: Outbound) => Outbound | undefined;

/** What a session needs from the server it belongs to. */
export interface SessionHost {
  readonly domain: string;
  readonly limits: XmlLimits;
  readonly log: Logger;
  readonly registry: ModuleRegistry;
  /** A stanza from the bound client, to be stamped and routed. */
  fromClient(session: ClientSession, stanza: Element): Promise<void>;
  /** The session just bound a resource and its client was told so. */
  sessionBound(session: ClientSession): Promise<void>;
  /** Whether a module keeps the bound session alive without a connection (hibernation). */
  keepsSession(session: ClientSession, reason: CloseReason): boolean;
  sessionEnded(session: ClientSession, reason: CloseReason): Promise<void>;
  /** A stream that never bound went away. */
  streamClosed(session: ClientSession): void;
}

const MAX_QUEUED_FRAMES = 256;

/** Stream errors are the client's doing as a rule: debug lines, and only so many (all sessions together). */
const streamErrorLog = new LogBudget(30);
/** A handler that throws is a bug, but one a client may trigger again and again. */
const failureLog = new LogBudget(10);

let sessionCounter = 0;

/**
 * One client-to-server stream over RFC 7395 framing: stream negotiation, then elements handed to
 * the module that serves the stream's stage (SASL, resource binding), then stanzas handed to the
 * router in the order they arrived. Modules may filter what goes in and out and keep a bound
 * session alive after its connection is gone.
 */
export class ClientSession {
  readonly id = (++sessionCounter).toString(36) + randomBytes(4).toString('hex');
  state: SessionState = 'connecting';
  username: string | undefined;
  jid: JID | undefined;
  /** Available presence has been sent (RFC 6121 §4.2). */
  available = false;
  priority = 0;
  /** Requested the roster (RFC 6121 §2.1.3): gets roster pushes. */
  interested = false;
  /** The last broadcast presence, stamped. */
  presence: Element | undefined;
  /** Full or bare JIDs this session sent directed presence to (RFC 6121 §4.6). */
  readonly directed = new Set<string>();
  /** Per-session state owned by modules, keyed by module name. */
  readonly data = new Map<string, unknown>();
  /** Set when another session took over this full JID, so closing this one leaves the new one alone. */
  replaced = false;
  readonly createdAt = Date.now();
  /**
   * Where a transport's login deadline counts from: the start of the stream, or the latest
   * pre-authentication request a module served (in-band registration), so that someone filling in
   * a sign-up form is not cut off.
   */
  loginClock = this.createdAt;

  private streamOpened = false;
  private announced = false;
  /** Frames (WebSocket) or elements a stream parser already built (TCP), in arrival order. */
  private readonly queue: Array<string | Element> = [];
  private busy = false;
  private paused = false;
  private closing = false;
  private readonly inFilters: InboundFilter[] = [];
  private readonly outFilters: OutboundFilter[] = [];
  private currentTransport: Transport;

  constructor(
    private readonly host: SessionHost,
    transport: Transport,
  ) {
    this.currentTransport = transport;
  }

  get transport(): Transport {
    return this.currentTransport;
  }

  get bound(): boolean {
    return this.state === 'active';
  }

  /** The stream has neither bound a resource nor ended: it is still logging in. */
  get loggingIn(): boolean {
    const state = this.state;
    return (
      state === 'connecting' || state === 'authenticating' || state === 'authenticated' || state === 'binding'
    );
  }

  /** The stage the stream is at, which decides who handles what the client sends. */
  get stage(): StreamStage | undefined {
    switch (this.state) {
      case 'authenticating':
        return 'pre-auth';
      case 'authenticated':
      case 'binding':
        return 'pre-bind';
      case 'active':
        return 'bound';
      default:
        return undefined;
    }
  }

  /** Adds a filter on stanzas from (`in`) or to (`out`) the client; returns its removal. */
  addFilter(direction: 'in', filter: InboundFilter): () => void;
  addFilter(direction: 'out', filter: OutboundFilter): () => void;
  addFilter(direction: 'in' | 'out', filter: InboundFilter | OutboundFilter): () => void {
    const list = (direction === 'in' ? this.inFilters : this.outFilters) as Array<typeof filter>;
    list.push(filter);
    return () => {
      const index = list.indexOf(filter);
      if (index !== -1) list.splice(index, 1);
    };
  }

  /** Entry point for each received frame. Frames are processed strictly in order. */
  receive(frame: string | Element): void {
    if (this.state === 'closed' || this.closing) return;
    this.queue.push(frame);
    if (!this.paused && this.queue.length > MAX_QUEUED_FRAMES && this.transport.pause) {
      this.paused = true;
      this.transport.pause();
    }
    if (!this.busy) void this.drain();
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (this.queue.length > 0 && this.state !== 'closed' && !this.closing) {
        const frame = this.queue.shift()!;
        const pending = this.handleFrame(frame);
        if (pending) await pending;
        if (this.paused && this.queue.length < MAX_QUEUED_FRAMES / 2) {
          this.paused = false;
          this.transport.resume?.();
        }
      }
    } catch (err) {
      if (err instanceof StreamError) {
        this.fail(err);
      } else if (err instanceof XmlStreamError) {
        // A handler parsed something of the client's and found it broken: the client's fault.
        this.fail(new StreamError(err.condition, err.message));
      } else {
        failureLog.write(this.host.log, 'error', { err, session: this.id }, 'session processing failed');
        this.fail(new StreamError('internal-server-error'));
      }
    } finally {
      this.busy = false;
    }
  }

  private handleFrame(frame: string | Element): Promise<void> | undefined {
    let el: Element;
    if (typeof frame !== 'string') el = frame;
    else {
      try {
        el = parseFrame(frame, this.host.limits);
      } catch (err) {
        if (err instanceof XmlStreamError) {
          this.fail(new StreamError(err.condition, err.message));
          return undefined;
        }
        throw err;
      }
    }
    const ns = el.getNS();
    if (ns === NS.framing) {
      if (el.localName === 'open') {
        this.handleOpen(el);
        return undefined;
      }
      if (el.localName === 'close') {
        this.handleClientClose();
        return undefined;
      }
      this.fail(new StreamError('unsupported-stanza-type'));
      return undefined;
    }
    if (!this.streamOpened) {
      // RFC 7395 §3.3.1: the first frame must be an <open/> in the framing namespace.
      this.fail(
        new StreamError(
          el.localName === 'stream' || el.localName === 'open' ? 'invalid-namespace' : 'not-authorized',
          'Expected <open xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>',
        ),
      );
      return undefined;
    }
    switch (this.stage) {
      case 'pre-auth':
        return this.handlePreAuth(el);
      case 'pre-bind':
        return this.handlePreBind(el);
      case 'bound':
        return this.handleActive(el);
      default:
        this.fail(new StreamError('not-authorized'));
        return undefined;
    }
  }

  private handleOpen(open: Element): void {
    if (this.state === 'binding' || this.state === 'active') {
      // Streams restart only after STARTTLS and SASL (RFC 6120 §4.3.3); once a resource is bound
      // an <open/> is no restart, and offering binding again would be wrong (RFC 7395 §3.3).
      this.fail(new StreamError('policy-violation', 'The stream cannot be restarted after resource binding'));
      return;
    }
    const domain = this.host.domain;
    const to = open.attrs.to;
    const requested = to === undefined ? undefined : JID.tryParse(to)?.toString();
    this.sendFrame(
      xml('open', {
        xmlns: NS.framing,
        from: domain,
        id: randomBytes(8).toString('hex'),
        version: '1.0',
        'xml:lang': 'en',
      }),
    );
    this.streamOpened = true;
    if (requested !== domain) {
      this.fail(new StreamError('host-unknown', 'This server does not serve that domain'));
      return;
    }
    if (open.attrs.version !== '1.0') {
      this.fail(new StreamError('unsupported-version', 'Only version 1.0 is supported'));
      return;
    }
    if (this.state === 'connecting') this.state = 'authenticating';
    this.sendFrame(this.features());
  }

  private features(): Element {
    const features = xml('stream:features', { 'xmlns:stream': NS.stream });
    const stage = this.stage;
    if (stage !== undefined) {
      for (const feature of this.host.registry.streamFeatures(stage, this)) features.append(feature);
    }
    return features;
  }

  private async handlePreAuth(el: Element): Promise<void> {
    if (el.getNS() === NS.client && el.localName === 'iq') {
      if (await this.host.registry.handleStreamIq('pre-auth', this, el)) {
        this.loginClock = Date.now();
        return;
      }
    } else if (await this.host.registry.handleNonza('pre-auth', this, el)) {
      return;
    }
    this.fail(new StreamError('not-authorized', 'Authenticate first'));
  }

  private async handlePreBind(el: Element): Promise<void> {
    if (el.getNS() !== NS.client || el.localName !== 'iq') {
      if (await this.host.registry.handleNonza('pre-bind', this, el)) return;
      this.fail(new StreamError('not-authorized', 'Bind a resource first'));
      return;
    }
    if (!(await this.host.registry.handleStreamIq('pre-bind', this, el))) {
      const bind = el.getChild('bind', NS.bind);
      this.sendStanza(
        errorReply(el, new StanzaError(bind ? 'not-allowed' : 'not-authorized', 'Bind a resource first')),
      );
    }
    if (this.state === 'active' && !this.announced) {
      this.announced = true;
      await this.host.sessionBound(this);
    }
  }

  private async handleActive(el: Element): Promise<void> {
    const ns = el.getNS();
    if (ns !== NS.client) {
      const handled = await this.host.registry.handleNonza('bound', this, el);
      if (!handled) this.fail(new StreamError('unsupported-stanza-type'));
      return;
    }
    const name = el.localName;
    if (name !== 'message' && name !== 'presence' && name !== 'iq') {
      this.fail(new StreamError('unsupported-stanza-type'));
      return;
    }
    let stanza: Element | undefined = el;
    for (const filter of this.inFilters) {
      stanza = filter(stanza);
      if (stanza === undefined) return;
    }
    if (name === 'iq' && stanza.attrs.type === 'set' && stanza.getChild('session', NS.session)) {
      this.sendStanza(iqResult(stanza));
      return;
    }
    await this.host.fromClient(this, stanza);
  }

  /** Authentication succeeded (a SASL module says so); the client restarts the stream next. */
  authenticated(username: string): void {
    if (this.state !== 'authenticating') throw new Error('Not authenticating');
    this.username = username;
    this.state = 'authenticated';
  }

  /** Binding has started (the resource is chosen); the session becomes active once `activate` runs. */
  binding(jid: JID): void {
    if (this.state !== 'authenticated') throw new Error('Not ready to bind');
    this.jid = jid;
    this.state = 'binding';
  }

  /** The resource is bound: stanzas flow from now on. False when the session ended meanwhile. */
  activate(): boolean {
    if (this.state !== 'binding') return false;
    this.state = 'active';
    return true;
  }

  private handleClientClose(): void {
    if (this.closing) return;
    this.closing = true;
    this.sendFrame(xml('close', { xmlns: NS.framing }));
    this.end({ kind: 'client-close' });
  }

  /** Sends a stanza to the client. */
  send(stanza: Element): void {
    if (this.state === 'closed' || this.closing) return;
    if (this.outFilters.length === 0 && this.state !== 'hibernating') {
      this.transport.send(serializeStanza(stanza, NS.client));
      return;
    }
    this.sendFiltered({ text: serializeStanza(stanza, NS.client), element: stanza });
  }

  /** Sends a stanza already rendered as XML (one rendering shared by several recipients). */
  sendSerialized(text: string, element?: Element): void {
    if (this.state === 'closed' || this.closing) return;
    if (this.outFilters.length === 0 && this.state !== 'hibernating') {
      this.transport.send(text);
      return;
    }
    this.sendFiltered({ text, element });
  }

  private sendFiltered(stanza: Outbound): void {
    let out: Outbound | undefined = stanza;
    for (const filter of this.outFilters) {
      out = filter(out);
      if (out === undefined) return;
    }
    // Without a connection only a filter can take it (and one that keeps the session does).
    if (this.state !== 'hibernating') this.transport.send(out.text);
  }

  private sendStanza(stanza: Element | undefined): void {
    if (stanza) this.send(stanza);
  }

  /** Sends a stream-level element (stream features, SASL, stream management) unfiltered. */
  sendNonza(el: Element): void {
    this.sendFrame(el);
  }

  private sendFrame(el: Element): void {
    if (this.state === 'closed' || this.state === 'hibernating') return;
    this.transport.send(serialize(el));
  }

  /** Ends the stream with a stream error (RFC 7395 §3.6). */
  fail(error: StreamError): void {
    if (this.state === 'closed' || this.closing) return;
    this.closing = true;
    streamErrorLog.write(
      this.host.log,
      'debug',
      { session: this.id, condition: error.condition, text: error.text },
      'stream error',
    );
    if (this.state !== 'hibernating') {
      if (!this.streamOpened) {
        // RFC 6120 §4.9.1.2: the error must come inside an opened stream.
        this.sendFrame(xml('open', { xmlns: NS.framing, from: this.host.domain, version: '1.0' }));
        this.streamOpened = true;
      }
      this.sendFrame(error.toElement());
      this.sendFrame(xml('close', { xmlns: NS.framing }));
    }
    this.end({ kind: 'stream-error', condition: error.condition });
  }

  /** Closes the stream telling the client to reconnect elsewhere (RFC 7395 §3.6.1). */
  redirect(uri: string): void {
    if (this.state === 'closed' || this.closing) return;
    this.closing = true;
    this.sendFrame(xml('close', { xmlns: NS.framing, 'see-other-uri': uri }));
    this.end({ kind: 'redirect', uri });
  }

  /** The connection went away underneath us (socket closed, dead peer). */
  transportClosed(): void {
    if (this.state === 'closed' || this.state === 'hibernating') return;
    this.closing = true;
    this.end({ kind: 'transport-lost' });
  }

  /**
   * Moves a live connection onto this session (stream resumption): the session leaves hibernation
   * (or drops its current connection) and reads and writes through `transport` from now on.
   */
  replaceTransport(transport: Transport): void {
    if (this.state === 'closed') throw new Error('The session has ended');
    const previous = this.currentTransport;
    this.currentTransport = transport;
    if (this.state === 'hibernating') this.state = 'active';
    this.closing = false;
    this.streamOpened = true;
    transport.attach?.(this);
    if (previous !== transport) previous.close();
  }

  /**
   * Hands this stream's connection to another session (the one it resumes) and forgets this one
   * without a trace: it never bound, so nobody needs to hear that it ended.
   */
  handOver(target: ClientSession): void {
    this.queue.length = 0;
    const transport = this.currentTransport;
    this.state = 'closed';
    this.host.streamClosed(this);
    target.replaceTransport(transport);
  }

  /** Ends a hibernating session for good (its resumption window passed). */
  terminate(): void {
    if (this.state !== 'hibernating') return;
    this.state = 'closed';
    void this.host.sessionEnded(this, { kind: 'terminated' });
  }

  private end(reason: CloseReason): void {
    if (this.state === 'closed') return;
    const wasBound = this.state === 'active' || this.state === 'binding' || this.state === 'hibernating';
    this.queue.length = 0;
    this.transport.close();
    if (this.state === 'active' && this.host.keepsSession(this, reason)) {
      // Stanzas keep coming; only the module that kept the session (its filters) takes them now.
      this.state = 'hibernating';
      this.closing = false;
      return;
    }
    this.state = 'closed';
    if (wasBound) void this.host.sessionEnded(this, reason);
    else this.host.streamClosed(this);
  }
}
