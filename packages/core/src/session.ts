import { randomBytes } from 'node:crypto';
import { JID, JidMalformedError, normalizeLocalpart, normalizeResourcepart } from '@strom/jid';
import { createMechanism, decodeBase64Strict, SaslError, type SaslMechanism } from '@strom/sasl';
import { type Element, parseFrame, serialize, XmlStreamError, xml } from '@strom/xml';
import { errorReply, iqResult, StanzaError, StreamError, type StreamErrorCondition } from './errors.js';
import { NS } from './namespaces.js';
import type { XmppServer } from './server.js';

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
}

export type SessionState =
  | 'connecting'
  | 'authenticating'
  | 'authenticated'
  | 'binding'
  | 'active'
  | 'closed';

export type CloseReason =
  | { kind: 'client-close' }
  | { kind: 'transport-lost' }
  | { kind: 'stream-error'; condition: StreamErrorCondition }
  | { kind: 'shutdown' }
  | { kind: 'redirect'; uri: string };

const MAX_QUEUED_FRAMES = 256;
const MAX_SASL_FAILURES = 3;

let sessionCounter = 0;

/**
 * One client-to-server stream over RFC 7395 framing: stream negotiation, SASL, resource binding,
 * and then stanzas handed to the router in the order they arrived.
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

  private streamOpened = false;
  private mechanism: SaslMechanism | undefined;
  private mechanismName = '';
  private saslUsernameHint: string | undefined;
  private saslFailures = 0;
  private readonly queue: string[] = [];
  private busy = false;
  private paused = false;
  private closing = false;

  constructor(
    readonly server: XmppServer,
    readonly transport: Transport,
  ) {}

  get bound(): boolean {
    return this.state === 'active';
  }

  /** Entry point for each received frame. Frames are processed strictly in order. */
  receive(frame: string): void {
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
      this.server.log.error({ err, session: this.id }, 'session processing failed');
      this.fail(new StreamError('internal-server-error'));
    } finally {
      this.busy = false;
    }
  }

  private handleFrame(frame: string): Promise<void> | undefined {
    let el: Element;
    try {
      el = parseFrame(frame, this.server.limits);
    } catch (err) {
      if (err instanceof XmlStreamError) {
        this.fail(new StreamError(err.condition, err.message));
        return undefined;
      }
      throw err;
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
    switch (this.state) {
      case 'authenticating':
        return this.handlePreAuth(el);
      case 'authenticated':
      case 'binding':
        return this.handleBinding(el);
      case 'active':
        return this.handleActive(el);
      default:
        this.fail(new StreamError('not-authorized'));
        return undefined;
    }
  }

  private handleOpen(open: Element): void {
    const domain = this.server.domain;
    const to = open.attrs.to;
    const host = to === undefined ? undefined : JID.tryParse(to)?.toString();
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
    if (host !== domain) {
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
    if (this.state === 'authenticating') {
      const mechanisms = features.c('mechanisms', { xmlns: NS.sasl });
      for (const name of this.server.saslMechanisms(this.transport.secure)) mechanisms.c('mechanism').t(name);
      for (const feature of this.server.registry.streamFeatures('pre-auth', this)) features.append(feature);
    } else {
      features.c('bind', { xmlns: NS.bind });
      features.c('session', { xmlns: NS.session }).c('optional');
      for (const feature of this.server.registry.streamFeatures('post-auth', this)) features.append(feature);
    }
    return features;
  }

  private async handlePreAuth(el: Element): Promise<void> {
    const ns = el.getNS();
    if (ns === NS.sasl) return this.handleSasl(el);
    if (ns === NS.client && el.localName === 'iq') {
      const handled = await this.server.registry.handlePreAuthIq(this, el);
      if (handled) return;
    }
    this.fail(new StreamError('not-authorized', 'Authenticate first'));
  }

  private async handleSasl(el: Element): Promise<void> {
    switch (el.localName) {
      case 'auth':
        return this.saslAuth(el);
      case 'response':
        if (!this.mechanism) return this.saslFailure('malformed-request', 'No authentication in progress');
        return this.saslStep(el.text());
      case 'abort':
        this.mechanism = undefined;
        return this.saslFailure('aborted');
      default:
        return this.saslFailure('malformed-request');
    }
  }

  private async saslAuth(el: Element): Promise<void> {
    const name = el.attrs.mechanism ?? '';
    if (!this.server.saslMechanisms(this.transport.secure).includes(name)) {
      const condition = name === 'PLAIN' ? 'encryption-required' : 'invalid-mechanism';
      return this.saslFailure(condition);
    }
    const mechanism = createMechanism(name, (username) => this.server.lookupCredentials(username));
    if (!mechanism) return this.saslFailure('invalid-mechanism');
    this.mechanism = mechanism;
    this.mechanismName = name;
    this.saslUsernameHint = undefined;
    return this.saslStep(el.text());
  }

  private async saslStep(payload: string): Promise<void> {
    const mechanism = this.mechanism!;
    let input: Buffer;
    try {
      input = decodeBase64Strict(payload);
    } catch {
      this.mechanism = undefined;
      return this.saslFailure('incorrect-encoding');
    }

    if (this.saslUsernameHint === undefined) {
      this.saslUsernameHint = usernameHint(this.mechanismName, input);
      const wait = this.server.authThrottle.check(this.throttleKeys());
      if (wait > 0) {
        this.mechanism = undefined;
        return this.saslFailure(
          'temporary-auth-failure',
          `Too many failed attempts; try again in ${Math.ceil(wait / 1000)} s`,
        );
      }
    }

    try {
      const step = await mechanism.step(input);
      if (this.state === 'closed') return;
      if (step.type === 'challenge') {
        this.sendFrame(xml('challenge', { xmlns: NS.sasl }, step.data.toString('base64')));
        return;
      }
      const username = normalizeLocalpart(step.username);
      if (step.authzid && step.authzid !== username && step.authzid !== `${username}@${this.server.domain}`) {
        throw new SaslError('invalid-authzid');
      }
      this.mechanism = undefined;
      // Only the account's counter resets: one valid login must not clear an address's failures.
      this.server.authThrottle.succeed(this.throttleKeys().filter((key) => key.startsWith('user:')));
      this.username = username;
      this.state = 'authenticated';
      this.sendFrame(
        xml('success', { xmlns: NS.sasl }, step.data ? step.data.toString('base64') : undefined),
      );
    } catch (err) {
      this.mechanism = undefined;
      if (err instanceof SaslError) {
        if (err.condition === 'not-authorized') this.server.authThrottle.fail(this.throttleKeys());
        return this.saslFailure(err.condition);
      }
      if (err instanceof JidMalformedError) {
        this.server.authThrottle.fail(this.throttleKeys());
        return this.saslFailure('not-authorized');
      }
      throw err;
    }
  }

  private throttleKeys(): string[] {
    const keys: string[] = [];
    if (this.saslUsernameHint) keys.push(`user:${this.saslUsernameHint}`);
    if (this.transport.remoteAddress) keys.push(`addr:${this.transport.remoteAddress}`);
    return keys;
  }

  private saslFailure(condition: string, text?: string): void {
    this.sendFrame(
      xml(
        'failure',
        { xmlns: NS.sasl },
        xml(condition),
        text ? xml('text', { 'xml:lang': 'en' }, text) : undefined,
      ),
    );
    if (condition !== 'aborted' && ++this.saslFailures >= MAX_SASL_FAILURES) {
      this.fail(new StreamError('policy-violation', 'Too many failed authentication attempts'));
    }
  }

  private async handleBinding(el: Element): Promise<void> {
    if (el.getNS() !== NS.client || el.localName !== 'iq') {
      this.fail(new StreamError('not-authorized', 'Bind a resource first'));
      return;
    }
    const bind = el.getChild('bind', NS.bind);
    if (el.attrs.type === 'set' && bind && this.state === 'authenticated') return this.bind(el, bind);
    if (el.attrs.type === 'set' && el.getChild('session', NS.session)) {
      this.sendStanza(iqResult(el));
      return;
    }
    this.sendStanza(
      errorReply(el, new StanzaError(bind ? 'not-allowed' : 'not-authorized', 'Bind a resource first')),
    );
  }

  private async bind(iq: Element, bind: Element): Promise<void> {
    const requested = bind.getChildText('resource')?.trim();
    let resource: string;
    try {
      resource = requested ? normalizeResourcepart(requested) : randomBytes(6).toString('hex');
    } catch {
      this.sendStanza(errorReply(iq, new StanzaError('bad-request', 'Invalid resource')));
      return;
    }
    this.state = 'binding';
    const jid = JID.of(this.username!, this.server.domain, resource);
    this.jid = jid;
    await this.server.bindSession(this);
    if (this.state !== 'binding') return;
    this.state = 'active';
    this.sendStanza(
      xml(
        'iq',
        { xmlns: NS.client, type: 'result', id: iq.attrs.id },
        xml('bind', { xmlns: NS.bind }, xml('jid', {}, jid.toString())),
      ),
    );
    await this.server.sessionBound(this);
  }

  private async handleActive(el: Element): Promise<void> {
    const ns = el.getNS();
    if (ns !== NS.client) {
      const handled = await this.server.registry.handleNonza(this, el);
      if (!handled) this.fail(new StreamError('unsupported-stanza-type'));
      return;
    }
    const name = el.localName;
    if (name !== 'message' && name !== 'presence' && name !== 'iq') {
      this.fail(new StreamError('unsupported-stanza-type'));
      return;
    }
    if (name === 'iq' && el.attrs.type === 'set' && el.getChild('session', NS.session)) {
      this.sendStanza(iqResult(el));
      return;
    }
    await this.server.router.fromClient(this, el);
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
    this.sendSerialized(serialize(stanza));
  }

  /** Sends a stanza already rendered as XML (one rendering shared by several recipients). */
  sendSerialized(stanza: string): void {
    if (this.state === 'closed' || this.closing) return;
    this.transport.send(stanza);
  }

  private sendStanza(stanza: Element | undefined): void {
    if (stanza) this.send(stanza);
  }

  private sendFrame(el: Element): void {
    if (this.state === 'closed') return;
    this.transport.send(serialize(el));
  }

  /** Ends the stream with a stream error (RFC 7395 §3.6). */
  fail(error: StreamError): void {
    if (this.state === 'closed' || this.closing) return;
    this.closing = true;
    if (!this.streamOpened) {
      // RFC 6120 §4.9.1.2: the error must come inside an opened stream.
      this.sendFrame(xml('open', { xmlns: NS.framing, from: this.server.domain, version: '1.0' }));
      this.streamOpened = true;
    }
    this.sendFrame(error.toElement());
    this.sendFrame(xml('close', { xmlns: NS.framing }));
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
    if (this.state === 'closed') return;
    this.closing = true;
    this.end({ kind: 'transport-lost' });
  }

  private end(reason: CloseReason): void {
    if (this.state === 'closed') return;
    const wasBound = this.state === 'active' || this.state === 'binding';
    this.state = 'closed';
    this.queue.length = 0;
    this.transport.close();
    if (wasBound) void this.server.sessionEnded(this, reason);
    else this.server.streamClosed(this);
  }
}

/** The username a SASL exchange is about, read early for per-account throttling only. */
function usernameHint(mechanism: string, initial: Buffer): string | undefined {
  const text = initial.toString('utf8');
  let raw: string | undefined;
  if (mechanism === 'PLAIN') raw = text.split('\0')[1];
  else {
    const match = /(?:^|,)n=([^,]*)/.exec(text.replace(/^[ny],[^,]*,/, ''));
    raw = match?.[1]?.replace(/=2C/g, ',').replace(/=3D/g, '=');
  }
  if (!raw) return undefined;
  try {
    return normalizeLocalpart(raw);
  } catch {
    return raw.toLowerCase();
  }
}
