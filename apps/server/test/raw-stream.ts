import { type Element, parseFrame } from '@strom/xml';
import { QUIET_MS, RawClient, type TestServer, WAIT_MS } from './harness.js';

export const NS_SM = 'urn:xmpp:sm:3';
export const NS_CSI = 'urn:xmpp:csi:0';
export const NS_DELAY = 'urn:xmpp:delay';
export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';

export const isStanza = (el: Element) => el.name === 'message' || el.name === 'presence' || el.name === 'iq';
export const messageWith = (body: string) => (el: Element) =>
  el.name === 'message' && el.getChildText('body') === body;
/** A `<failed/>` answer carrying one stanza error condition. */
export const failedWith = (condition: string) => (el: Element) =>
  el.is('failed', NS_SM) && el.getChild(condition, NS_STANZAS) !== undefined;

/**
 * A raw RFC 7395 client stream for stream management and client state indication: exact control
 * of every frame, and its own XEP-0198 inbound count (`h`), kept the way a client keeps it, from
 * `<enabled/>` (or the `h` it resumed with) on.
 */
export class RawStream {
  /** Every element received, in order. */
  readonly log: Element[] = [];
  /** Received and not yet taken by `waitFor`. */
  private readonly pending: Element[] = [];
  private waiters: Array<() => void> = [];
  private counting = false;
  private pings = 0;
  /** Stanzas received since stream management began: what this client would acknowledge. */
  h = 0;
  jid = '';

  private constructor(readonly raw: RawClient) {
    raw.ws.on('message', (data) => {
      const el = parseFrame(data.toString());
      this.log.push(el);
      if (el.is('enabled', NS_SM)) {
        this.counting = true;
        this.h = 0;
      } else if (el.is('resumed', NS_SM)) {
        this.counting = true;
      } else if (this.counting && isStanza(el)) {
        this.h++;
      }
      this.pending.push(el);
      this.wake();
    });
    void raw.closed.then(() => this.wake());
  }

  static async connect(server: Pick<TestServer, 'wsUrl'>): Promise<RawStream> {
    return new RawStream(await RawClient.connect(server.wsUrl));
  }

  /** Connects, authenticates, binds `resource` and (unless told not to) sends available presence. */
  static async login(
    server: Pick<TestServer, 'wsUrl'>,
    username: string,
    resource: string,
    opts: { presence?: boolean } = {},
  ): Promise<RawStream> {
    const stream = await RawStream.connect(server);
    await stream.authenticate(username);
    await stream.bind(resource);
    if (opts.presence !== false) await stream.available();
    return stream;
  }

  get closed(): boolean {
    return this.raw.closeCode !== undefined;
  }

  send(frame: string): void {
    this.raw.send(frame);
  }

  /** Opens the stream and returns the stream features. */
  async open(): Promise<Element> {
    this.send(`<open xmlns="${FRAMING}" to="localhost" version="1.0"/>`);
    await this.waitFor((el) => el.is('open', FRAMING));
    return this.waitFor((el) => el.name === 'stream:features');
  }

  /** SASL PLAIN (loopback counts as secure); returns the features after the restart. */
  async authenticate(username: string, password = 'secret'): Promise<Element> {
    await this.open();
    const payload = Buffer.from(`\0${username}\0${password}`).toString('base64');
    this.send(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${payload}</auth>`);
    await this.waitFor((el) => el.name === 'success');
    return this.open();
  }

  async bind(resource: string): Promise<string> {
    this.send(
      `<iq xmlns="jabber:client" type="set" id="bind"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>${resource}</resource></bind></iq>`,
    );
    const bound = await this.waitFor((el) => el.name === 'iq' && el.attrs.id === 'bind');
    this.jid = bound.getChild('bind')!.getChildText('jid')!;
    return this.jid;
  }

  /** Sends available presence and waits for it to come back (the broadcast has gone out by then). */
  async available(presence = '<presence xmlns="jabber:client"/>'): Promise<void> {
    this.send(presence);
    await this.waitFor((el) => el.name === 'presence' && el.attrs.from === this.jid && !el.attrs.type);
  }

  /** `<enable/>` with the given attributes; resolves with `<enabled/>` or `<failed/>`. */
  async enable(attrs = 'resume="true"'): Promise<Element> {
    this.send(`<enable xmlns="${NS_SM}" ${attrs}/>`);
    return this.waitFor((el) => el.is('enabled', NS_SM) || el.is('failed', NS_SM));
  }

  /** Acknowledges `h` stanzas (by default all received so far). */
  ack(h = this.h): void {
    this.send(`<a xmlns="${NS_SM}" h="${h}"/>`);
  }

  /** `<resume/>` with the `h` this client claims; resolves with `<resumed/>` or `<failed/>`. */
  async resume(previd: string, h: number): Promise<Element> {
    this.h = h;
    this.send(`<resume xmlns="${NS_SM}" previd="${previd}" h="${h}"/>`);
    return this.waitFor((el) => el.is('resumed', NS_SM) || el.is('failed', NS_SM));
  }

  /** A ping to the server, answered in order after everything sent before it. */
  async ping(): Promise<Element> {
    const id = `ping-${++this.pings}`;
    this.send(
      `<iq xmlns="jabber:client" type="get" id="${id}" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>`,
    );
    const answer = await this.waitFor((el) => el.name === 'iq' && el.attrs.id === id, WAIT_MS, id);
    if (answer.attrs.type !== 'result') throw new Error(`ping failed: ${answer.toString()}`);
    return answer;
  }

  /**
   * For "must not receive" checks: true when nothing matching arrived within `withinMs` nor before
   * the answer to a ping sent afterwards through the same stream (silence on a dead stream proves
   * nothing, so a missing answer throws).
   */
  async nothing(match: (el: Element) => boolean, withinMs = QUIET_MS): Promise<boolean> {
    if (this.pending.some(match)) return false;
    await new Promise((resolve) => setTimeout(resolve, withinMs));
    await this.ping();
    return !this.pending.some(match);
  }

  /** Resolves with the first received element that matches, taking it out of the pending ones. */
  async waitFor(match: (el: Element) => boolean, timeoutMs = WAIT_MS, what = 'element'): Promise<Element> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.pending.findIndex(match);
      if (index !== -1) return this.pending.splice(index, 1)[0]!;
      if (this.closed) throw new Error(`Stream closed before ${what}; got ${this.describe()}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`Timed out waiting for ${what}; got ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** How many received elements (taken or not) match. */
  count(match: (el: Element) => boolean): number {
    return this.log.filter(match).length;
  }

  /** The connection dies without a word (no `<close/>`): the server sees the transport lost. */
  async drop(): Promise<void> {
    this.raw.ws.terminate();
    await this.raw.closed;
  }

  /** Ends the stream cleanly. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.send(`<close xmlns="${FRAMING}"/>`);
    await Promise.race([this.raw.closed, new Promise((resolve) => setTimeout(resolve, WAIT_MS))]);
    if (!this.closed) this.raw.ws.terminate();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private describe(): string {
    return this.pending.map((el) => el.toString().slice(0, 200)).join(' | ') || 'nothing';
  }
}
