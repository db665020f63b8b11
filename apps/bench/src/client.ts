import { ScramClient, type ScramHash } from '@strom/sasl';
import { type Element, escapeText, parseFrame } from '@strom/xml';
import WebSocket from 'ws';
import type { Mechanism } from './args.js';
import { KeyCache } from './key-cache.js';

export const NS = {
  framing: 'urn:ietf:params:xml:ns:xmpp-framing',
  sasl: 'urn:ietf:params:xml:ns:xmpp-sasl',
  bind: 'urn:ietf:params:xml:ns:xmpp-bind',
  session: 'urn:ietf:params:xml:ns:xmpp-session',
  streams: 'http://etherx.jabber.org/streams',
  roster: 'jabber:iq:roster',
  ping: 'urn:xmpp:ping',
  register: 'jabber:iq:register',
} as const;

export class XmppError extends Error {}

interface Waiter {
  match: (el: Element) => boolean;
  resolve: (el: Element) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

interface PendingIq {
  resolve: (frame: string) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/** Limit on frames kept unread during stream negotiation, where a server sends only a handful. */
const MAX_BACKLOG = 64;

/**
 * A lean RFC 7395 client for thousands of sessions in one process: negotiation frames are parsed,
 * but once a session is active frames reach `onStanza` as strings so a scenario can look for its
 * markers with indexOf. Requests from the server (pings, roster pushes) are answered here.
 */
export class XmppConnection {
  jid = '';
  /** Frames of an active session that are not answers to our own IQs. */
  onStanza: (frame: string) => void = () => {};
  /** Called once when the connection ends; `error` is set when the server ended it with an error. */
  onClose: (reason: string) => void = () => {};
  closed = false;
  closeReason = '';

  private active = false;
  private waiter: Waiter | undefined;
  private backlog: string[] = [];
  private readonly iqs = new Map<string, PendingIq>();
  private iqCounter = 0;

  private constructor(
    readonly ws: WebSocket,
    readonly timeoutMs: number,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) this.receive(data.toString('utf8'));
    });
    ws.on('close', () => this.ended('connection closed'));
    ws.on('error', (err) => this.ended(`connection error: ${err.message}`));
  }

  /** Opens the WebSocket with the `xmpp` subprotocol (RFC 7395 §3.1). */
  static open(url: string, timeoutMs = 30_000): Promise<XmppConnection> {
    const ws = new WebSocket(url, 'xmpp', {
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
      // The tool's own cost is overhead on the machine under test. A zero mask (RFC 6455 allows any
      // mask; its unpredictability only guards intermediaries, and there are none on loopback) lets
      // ws skip masking, and the server's frames need no UTF-8 check here.
      generateMask: zeroMask,
      skipUTF8Validation: true,
    });
    return new Promise((resolve, reject) => {
      const fail = (err: Error) => {
        ws.removeAllListeners();
        ws.on('error', () => {});
        ws.terminate();
        reject(err);
      };
      ws.once('open', () => {
        ws.removeAllListeners();
        if (ws.protocol !== 'xmpp') {
          fail(new XmppError(`server did not accept the "xmpp" subprotocol at ${url}`));
          return;
        }
        resolve(new XmppConnection(ws, timeoutMs));
      });
      ws.once('unexpected-response', (_req, res) =>
        fail(new XmppError(`WebSocket upgrade refused with HTTP ${res.statusCode} at ${url}`)),
      );
      ws.once('error', (err) => fail(err));
    });
  }

  /** From now on frames go to `onStanza` unparsed. */
  activate(): void {
    if (this.active) return;
    this.active = true;
    const backlog = this.backlog;
    this.backlog = [];
    for (const frame of backlog) this.onStanza(frame);
  }

  send(frame: string): void {
    if (this.closed) return;
    this.ws.send(frame);
  }

  /** Sends an IQ (`id` is filled in) and resolves with the response frame, result or error. */
  request(type: 'get' | 'set', payload: string, to?: string, timeoutMs = this.timeoutMs): Promise<string> {
    const id = `q${++this.iqCounter}`;
    const toAttr = to === undefined ? '' : ` to="${escapeAttrValue(to)}"`;
    const frame = `<iq xmlns="jabber:client" type="${type}" id="${id}"${toAttr}>${payload}</iq>`;
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new XmppError(`cannot send: ${this.closeReason}`));
        return;
      }
      const timer = setTimeout(() => {
        this.iqs.delete(id);
        reject(new XmppError(`no answer to IQ within ${timeoutMs} ms`));
      }, timeoutMs);
      this.iqs.set(id, { resolve, reject, timer });
      this.send(frame);
    });
  }

  /** XEP-0199 ping to the server; resolves when any answer comes back. */
  ping(domain: string, timeoutMs?: number): Promise<string> {
    return this.request('get', `<ping xmlns="${NS.ping}"/>`, domain, timeoutMs);
  }

  /** Waits for the next negotiation frame that matches. */
  next(match: (el: Element) => boolean, what: string): Promise<Element> {
    for (let i = 0; i < this.backlog.length; i++) {
      const el = parseNegotiationFrame(this.backlog[i]!);
      if (match(el)) {
        this.backlog.splice(i, 1);
        return Promise.resolve(el);
      }
    }
    if (this.closed) return Promise.reject(new XmppError(`${this.closeReason} while waiting for ${what}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new XmppError(`timed out waiting for ${what}`));
      }, this.timeoutMs);
      this.waiter = {
        match,
        resolve: (el) => {
          clearTimeout(timer);
          this.waiter = undefined;
          resolve(el);
        },
        reject: (err) => {
          clearTimeout(timer);
          this.waiter = undefined;
          reject(new XmppError(`${err.message} while waiting for ${what}`));
        },
        timer,
      };
    });
  }

  /** Ends the stream politely; the socket is cut if the server does not close it in time. */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.closed) return;
    const closed = new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
    this.send(`<close xmlns="${NS.framing}"/>`);
    const timer = setTimeout(() => this.ws.terminate(), timeoutMs);
    await closed;
    clearTimeout(timer);
  }

  terminate(): void {
    this.ws.terminate();
  }

  private receive(frame: string): void {
    if (frame.startsWith('<iq')) {
      this.receiveIq(frame);
      return;
    }
    if (isStreamEnd(frame)) {
      this.ended(describeStreamEnd(frame));
      if (this.ws.readyState === WebSocket.OPEN) this.ws.close();
      return;
    }
    if (this.active) {
      this.onStanza(frame);
      return;
    }
    const waiter = this.waiter;
    if (waiter) {
      let el: Element;
      try {
        el = parseNegotiationFrame(frame);
      } catch (err) {
        waiter.reject(err as Error);
        return;
      }
      if (waiter.match(el)) {
        waiter.resolve(el);
        return;
      }
    }
    if (this.backlog.length < MAX_BACKLOG) this.backlog.push(frame);
  }

  private receiveIq(frame: string): void {
    const head = frame.slice(0, frame.indexOf('>') + 1);
    const type = attributeOf(head, 'type');
    const id = attributeOf(head, 'id') ?? '';
    if (type === 'result' || type === 'error') {
      const pending = this.iqs.get(id);
      if (pending) {
        this.iqs.delete(id);
        clearTimeout(pending.timer);
        pending.resolve(frame);
        return;
      }
    } else if (type === 'get' || type === 'set') {
      this.answerServerRequest(frame, head, type, id);
    }
    if (this.active) this.onStanza(frame);
    else if (this.backlog.length < MAX_BACKLOG) this.backlog.push(frame);
  }

  /** Pings and roster pushes get a result (RFC 6121 §2.1.6); anything else service-unavailable. */
  private answerServerRequest(frame: string, head: string, type: string, id: string): void {
    const from = attributeOf(head, 'from');
    const toAttr = from === undefined ? '' : ` to="${escapeAttrValue(from)}"`;
    const idAttr = ` id="${escapeAttrValue(id)}"`;
    const understood =
      (type === 'get' && frame.includes(NS.ping)) || (type === 'set' && frame.includes(NS.roster));
    if (understood) {
      this.send(`<iq xmlns="jabber:client" type="result"${idAttr}${toAttr}/>`);
    } else {
      this.send(
        `<iq xmlns="jabber:client" type="error"${idAttr}${toAttr}><error type="cancel">` +
          `<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
      );
    }
  }

  private ended(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    const err = new XmppError(reason);
    this.waiter?.reject(err);
    for (const pending of this.iqs.values()) {
      clearTimeout(pending.timer);
      pending.reject(err);
    }
    this.iqs.clear();
    this.onClose(reason);
  }
}

function parseNegotiationFrame(frame: string): Element {
  return parseFrame(frame);
}

function isStreamEnd(frame: string): boolean {
  return (
    frame.startsWith('<close') ||
    frame.startsWith('<stream:error') ||
    (frame.startsWith('<error') && frame.includes(NS.streams))
  );
}

function describeStreamEnd(frame: string): string {
  if (frame.startsWith('<close')) {
    const uri = attributeOf(frame, 'see-other-uri');
    return uri ? `server closed the stream (see-other-uri ${uri})` : 'server closed the stream';
  }
  const condition = /<([a-z-]+) xmlns=["']urn:ietf:params:xml:ns:xmpp-streams["']/.exec(frame)?.[1];
  return `stream error ${condition ?? 'undefined-condition'}`;
}

/** Value of one attribute in a start tag, quoted either way; entity references are left as sent. */
export function attributeOf(tag: string, name: string): string | undefined {
  let from = 0;
  for (;;) {
    const at = tag.indexOf(`${name}=`, from);
    if (at === -1) return undefined;
    const before = tag.charCodeAt(at - 1);
    // Whitespace must precede the name, so `xml:id=` is not taken for `id=`.
    if (before === 32 || before === 9 || before === 10 || before === 13) {
      const quote = tag[at + name.length + 1];
      if (quote === '"' || quote === "'") {
        const end = tag.indexOf(quote, at + name.length + 2);
        if (end !== -1) return tag.slice(at + name.length + 2, end);
      }
    }
    from = at + name.length;
  }
}

export function escapeAttrValue(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
}

export interface LoginOptions {
  url: string;
  domain: string;
  username: string;
  password: string;
  resource: string;
  mechanism: Mechanism;
  keyCache: KeyCache;
  /** Which service the keys belong to (see KeyCache.keyOf); defaults to the URL and domain. */
  keyScope?: string;
  timeoutMs: number;
  /** Send initial presence (default true). */
  presence?: boolean;
  /**
   * Receives the session's frames from the initial presence on, so that what the server sends in
   * response to it (pending subscription requests, presence of contacts) is not missed.
   */
  onStanza?: (frame: string, connection: XmppConnection) => void;
}

export interface LoginResult {
  connection: XmppConnection;
  /** The roster result frame (RFC 6121 §2.1.3). */
  roster: string;
  mechanism: string;
  /** Milliseconds from opening the socket until the server answered after the initial presence. */
  handshakeMs: number;
}

/**
 * Logs in the way an IM client does: SASL, bind, the legacy session IQ when the server requires it,
 * roster get, initial presence. A ping to the server closes the handshake so that its time includes
 * the server's processing of the presence.
 */
export async function login(opts: LoginOptions): Promise<LoginResult> {
  const started = performance.now();
  const connection = await XmppConnection.open(opts.url, opts.timeoutMs);
  try {
    const features = await openStream(connection, opts.domain);
    const mechanism = await authenticate(connection, features, opts);
    const restarted = await openStream(connection, opts.domain);
    const bound = await connection.request(
      'set',
      `<bind xmlns="${NS.bind}"><resource>${escapeText(opts.resource)}</resource></bind>`,
    );
    const jid = /<jid>([^<]+)<\/jid>/.exec(bound)?.[1];
    if (!jid) throw new XmppError(`bind failed: ${bound.slice(0, 300)}`);
    connection.jid = jid;
    const session = restarted.getChild('session', NS.session);
    if (session && !session.getChild('optional')) {
      const answer = await connection.request('set', `<session xmlns="${NS.session}"/>`);
      if (isIqError(answer)) throw new XmppError(`session establishment failed: ${answer.slice(0, 300)}`);
    }
    const roster = await connection.request('get', `<query xmlns="${NS.roster}"/>`);
    if (isIqError(roster)) throw new XmppError(`roster get failed: ${roster.slice(0, 300)}`);
    const early = opts.onStanza;
    if (early) {
      connection.onStanza = (frame) => early(frame, connection);
      connection.activate();
    }
    if (opts.presence !== false) connection.send('<presence xmlns="jabber:client"/>');
    await connection.ping(opts.domain);
    connection.activate();
    return { connection, roster, mechanism, handshakeMs: performance.now() - started };
  } catch (err) {
    connection.terminate();
    throw err;
  }
}

export function keyScope(url: string, domain: string): string {
  return `${url}#${domain}`;
}

export function isIqError(frame: string): boolean {
  return attributeOf(frame.slice(0, frame.indexOf('>') + 1), 'type') === 'error';
}

/** Sends `<open/>` and returns the stream features that follow it. */
export async function openStream(connection: XmppConnection, domain: string): Promise<Element> {
  connection.send(`<open xmlns="${NS.framing}" to="${escapeAttrValue(domain)}" version="1.0"/>`);
  await connection.next((el) => el.localName === 'open', 'the server <open/>');
  return connection.next((el) => el.localName === 'features', 'stream features');
}

function offeredMechanisms(features: Element): string[] {
  const mechanisms = features.getChild('mechanisms', NS.sasl);
  return mechanisms ? mechanisms.getChildren('mechanism').map((m) => m.text().trim()) : [];
}

export function chooseMechanism(offered: string[], wanted: Mechanism): string {
  if (wanted !== 'auto') {
    if (!offered.includes(wanted)) {
      throw new XmppError(`server does not offer ${wanted} (offers ${offered.join(', ') || 'nothing'})`);
    }
    return wanted;
  }
  for (const name of ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']) if (offered.includes(name)) return name;
  throw new XmppError(`no supported SASL mechanism offered (${offered.join(', ') || 'none'})`);
}

const SASL_END = (el: Element) =>
  el.getNS() === NS.sasl && (el.localName === 'success' || el.localName === 'failure');
const SASL_STEP = (el: Element) => SASL_END(el) || (el.getNS() === NS.sasl && el.localName === 'challenge');

async function authenticate(connection: XmppConnection, features: Element, opts: LoginOptions) {
  const mechanism = chooseMechanism(offeredMechanisms(features), opts.mechanism);
  if (mechanism === 'PLAIN') {
    const payload = Buffer.from(`\0${opts.username}\0${opts.password}`, 'utf8').toString('base64');
    connection.send(`<auth xmlns="${NS.sasl}" mechanism="PLAIN">${payload}</auth>`);
    expectSuccess(await connection.next(SASL_END, 'SASL outcome'), opts.username);
    return mechanism;
  }
  const hash: ScramHash = mechanism === 'SCRAM-SHA-256' ? 'SHA-256' : 'SHA-1';
  const cacheKey = KeyCache.keyOf(opts.keyScope ?? keyScope(opts.url, opts.domain), opts.username, mechanism);
  const scram = new ScramClient(hash, opts.username, opts.password, {
    cachedKeys: opts.keyCache.get(cacheKey),
  });
  connection.send(
    `<auth xmlns="${NS.sasl}" mechanism="${mechanism}">${scram.first().toString('base64')}</auth>`,
  );
  const challenge = await connection.next(SASL_STEP, 'SCRAM server-first-message');
  if (challenge.localName !== 'challenge') expectSuccess(challenge, opts.username);
  const final = await scram.final(Buffer.from(challenge.text(), 'base64'));
  if (scram.derived) opts.keyCache.set(cacheKey, scram.derived);
  connection.send(`<response xmlns="${NS.sasl}">${final.toString('base64')}</response>`);
  let outcome = await connection.next(SASL_STEP, 'SASL outcome');
  let serverFinal = outcome.text();
  if (outcome.localName === 'challenge') {
    // Servers that predate RFC 6120 send server-final-message in a challenge, then an empty success.
    connection.send(`<response xmlns="${NS.sasl}"/>`);
    outcome = await connection.next(SASL_END, 'SASL outcome');
  }
  expectSuccess(outcome, opts.username);
  if (outcome.text().trim() !== '') serverFinal = outcome.text();
  if (!scram.verify(Buffer.from(serverFinal.trim(), 'base64'))) {
    throw new XmppError('the server signature in SCRAM success does not verify');
  }
  return mechanism;
}

function expectSuccess(outcome: Element, username: string): void {
  if (outcome.localName === 'success') return;
  const condition = outcome.elements()[0]?.localName ?? 'unknown';
  const text = outcome.getChildText('text');
  throw new XmppError(`login of ${username} failed: ${condition}${text ? ` (${text})` : ''}`);
}
