import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { type ClientSession, NS, StreamError, type Transport, type XmppServer } from '@strom/core';
import {
  type Element,
  parseFrame,
  STREAM_NAMESPACE,
  StreamParser,
  type XmlStreamError,
  xml,
} from '@strom/xml';
import { ClientErrorLog } from './client-errors.js';
import type { ConnectionLimits } from './connection-limits.js';
import type { Logger } from './logger.js';

const NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls';
const FRAMING_OPEN = `<open xmlns="${NS.framing}"`;
const FRAMING_CLOSE = `<close xmlns="${NS.framing}"`;
/** Output queued beyond this pauses reading from the same client until its socket drains. */
const OUTPUT_HIGH_WATER = 1024 * 1024;
/** A client that stops reading altogether is cut off once this much output waits for it. */
const OUTPUT_HARD_LIMIT = 16 * 1024 * 1024;
/** How long a connection we closed may take to close its side before its socket is dropped. */
const CLOSE_GRACE_MS = 5000;

export interface TcpOptions {
  xmpp: XmppServer;
  host: string;
  /** RFC 6120 port with STARTTLS (undefined: not listening). */
  port: number | undefined;
  /** XEP-0368 direct TLS port (undefined: not listening). */
  tlsPort: number | undefined;
  certFile: string | undefined;
  keyFile: string | undefined;
  /** Refuse everything but STARTTLS on a connection that is not encrypted yet. */
  requireTls: boolean;
  /** Idle time after which a single space goes out, so NATs and proxies keep the connection. */
  keepaliveMs: number;
  /**
   * Time a connection has to log in (see `ClientSession.loginClock`), TLS handshakes included;
   * then `connection-timeout`.
   */
  authTimeoutMs: number;
  /** Admission control shared with the WebSocket endpoint. */
  limits: ConnectionLimits;
  log: Logger;
}

/**
 * XMPP over TCP (RFC 6120) for native clients, on the same sessions, router and modules as the
 * WebSocket endpoint. A connection's stream is parsed incrementally; the edge speaks RFC 6120
 * stream framing (`<stream:stream>`, STARTTLS, restarts after TLS and SASL) and hands the session
 * the same stream events the WebSocket framing gives it (`<open/>`, elements, `<close/>`), so
 * everything past the edge is shared.
 */
export class TcpListener {
  private plain: net.Server | undefined;
  private direct: net.Server | undefined;
  private context: tls.SecureContext | undefined;
  private readonly connections = new Set<TcpConnection>();
  private readonly clientErrors: ClientErrorLog;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly options: TcpOptions) {
    this.context = this.loadContext();
    if (options.requireTls && this.context === undefined) {
      throw new Error(
        'XMPP over TCP requires TLS by default: set TLS_CERT_FILE and TLS_KEY_FILE (or C2S_REQUIRE_TLS=false for tests)',
      );
    }
    this.clientErrors = new ClientErrorLog(options.log);
  }

  private readCertificate(): { cert: Buffer; key: Buffer } | undefined {
    const { certFile, keyFile } = this.options;
    if (!certFile || !keyFile) return undefined;
    return { cert: readFileSync(certFile), key: readFileSync(keyFile) };
  }

  private loadContext(): tls.SecureContext | undefined {
    const files = this.readCertificate();
    return files === undefined ? undefined : tls.createSecureContext(files);
  }

  /** Reads the certificate files again (SIGHUP); connections made from now on use them. */
  reloadCertificates(): void {
    const files = this.readCertificate();
    if (files === undefined) return;
    this.context = tls.createSecureContext(files);
  }

  async listen(): Promise<void> {
    const { port, tlsPort, host } = this.options;
    if (port !== undefined) {
      this.plain = net.createServer((socket) => {
        if (this.admit(socket, true)) this.accept(socket, false);
      });
      await listenOn(this.plain, host, port);
    }
    if (tlsPort !== undefined && this.context !== undefined) {
      // The TLS handshake runs inside the connection, so the login deadline covers it too, and a
      // connection is admitted (or refused) before a handshake is spent on it.
      this.direct = net.createServer((socket) => {
        const context = this.context;
        if (context === undefined || !this.admit(socket, false)) return;
        // Failures show on the TLS socket; the raw one must not throw them again.
        socket.on('error', () => {});
        const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context });
        this.accept(secure, true);
      });
      await listenOn(this.direct, host, tlsPort);
    }
    this.startSweeper();
  }

  /**
   * Counts a new connection against the limits; a refused one is closed at once — on the plain
   * port with a stream error saying why, on the direct TLS port without a word, since saying
   * anything would cost a TLS handshake.
   */
  private admit(socket: net.Socket, canExplain: boolean): boolean {
    const admission = this.options.limits.admit(socket.remoteAddress);
    if (admission.ok) {
      socket.once('close', admission.release);
      return true;
    }
    const { refusal } = admission;
    this.clientErrors.note(`TCP connection refused (${refusal.reason} limit)`);
    socket.on('error', () => {});
    if (!canExplain) {
      socket.destroy();
      return false;
    }
    const error = new StreamError(
      refusal.reason === 'total' ? 'resource-constraint' : 'policy-violation',
      refusal.message,
    );
    socket.end(
      `${streamHeader({ from: this.options.xmpp.domain, version: '1.0' })}${error.toElement().toString()}</stream:stream>`,
    );
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    return false;
  }

  /**
   * One timer for all connections: whitespace keepalives on idle ones, `connection-timeout` for
   * those that did not log in in time, and the end of closed ones whose peer never closed its side.
   */
  private startSweeper(): void {
    const { keepaliveMs, authTimeoutMs } = this.options;
    const every = Math.max(250, Math.min(keepaliveMs, authTimeoutMs, CLOSE_GRACE_MS) / 4);
    const loginTimeout = new StreamError(
      'connection-timeout',
      `Not logged in within ${Math.round(authTimeoutMs / 1000)} seconds`,
    );
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const connection of this.connections) connection.sweep(now, loginTimeout);
    }, every);
    this.sweeper.unref();
  }

  /** The ports actually bound (useful with 0). */
  ports(): { port?: number; tlsPort?: number } {
    const portOf = (server: net.Server | undefined) => (server?.address() as net.AddressInfo | null)?.port;
    return { port: portOf(this.plain), tlsPort: portOf(this.direct) };
  }

  /** Stops accepting; the XMPP server then ends the sessions, which closes the connections. */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all(
      [this.plain, this.direct].map(
        (server) => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())),
      ),
    );
  }

  /** Drops connections that outlived their sessions (after the server stopped). */
  destroyAll(): void {
    for (const connection of this.connections) connection.destroy();
  }

  private accept(socket: net.Socket, secure: boolean): void {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    const connection = new TcpConnection(this.options, socket, secure, () => this.context, this.clientErrors);
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
  }
}

function listenOn(server: net.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** One client connection: the stream parser, STARTTLS, and the session's transport. */
class TcpConnection implements Transport {
  readonly remoteAddress: string | undefined;
  private socket: net.Socket;
  private parser: StreamParser;
  private session: ClientSession;
  private encrypted: boolean;
  /** A TLS handshake is under way: nothing written now could reach the client. */
  private handshaking = false;
  private closed = false;
  /** When we closed the connection (0 while open). */
  private closedAt = 0;
  private pausedForOutput = false;
  /** Last input or output, for the keepalive. */
  private lastActivity = Date.now();
  /** Input is decoded strictly: invalid UTF-8 is a stream error, not a replacement character. */
  private decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(
    private readonly options: TcpOptions,
    socket: net.Socket,
    secure: boolean,
    private readonly context: () => tls.SecureContext | undefined,
    private readonly clientErrors: ClientErrorLog,
  ) {
    this.socket = socket;
    this.encrypted = secure;
    this.remoteAddress = socket.remoteAddress;
    this.parser = this.newParser();
    this.session = options.xmpp.openStream(this);
    this.attachSocket(socket);
  }

  get secure(): boolean {
    return this.encrypted;
  }

  private attachSocket(socket: net.Socket): void {
    if (socket instanceof tls.TLSSocket) {
      this.handshaking = true;
      socket.once('secure', () => {
        this.handshaking = false;
      });
    }
    this.decoder = new TextDecoder('utf-8', { fatal: true });
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    this.lastActivity = Date.now();
  }

  private detachSocket(socket: net.Socket): void {
    socket.off('data', this.onData);
    socket.off('close', this.onClose);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.lastActivity = Date.now();
    let text: string;
    try {
      text = this.decoder.decode(chunk, { stream: true });
    } catch {
      this.clientErrors.note('invalid UTF-8 on a TCP stream');
      this.session.fail(new StreamError('unsupported-encoding', 'The stream must be valid UTF-8'));
      return;
    }
    this.parser.write(text);
  };

  private readonly onError = (err: Error): void => {
    this.clientErrors.note('TCP connection error', err);
  };

  private readonly onClose = (): void => {
    this.closed = true;
    this.session.transportClosed();
  };

  /** The listener's periodic check (see `TcpListener.startSweeper`). */
  sweep(now: number, loginTimeout: StreamError): void {
    if (this.closed) {
      if (this.closedAt > 0 && now - this.closedAt >= CLOSE_GRACE_MS) this.socket.destroy();
      return;
    }
    const session = this.session;
    if (session.loggingIn && now - session.loginClock >= this.options.authTimeoutMs) {
      session.fail(loginTimeout);
      return;
    }
    // Keeps an idle connection alive through NATs with RFC 6120 §4.6.1 whitespace.
    if (now - this.lastActivity >= this.options.keepaliveMs) {
      this.lastActivity = now;
      this.socket.write(' ');
    }
  }

  /** A fresh parser: at the start and after every stream restart (STARTTLS, SASL). */
  private newParser(): StreamParser {
    return new StreamParser({
      limits: this.options.xmpp.limits,
      onStreamOpen: (root) => this.onStreamOpen(root),
      onElement: (el) => this.onElement(el),
      onStreamClose: () => this.session.receive(xml('close', { xmlns: NS.framing })),
      onError: (err: XmlStreamError) => {
        this.clientErrors.note('unparsable TCP stream', err);
        this.session.fail(new StreamError(err.condition, err.message));
      },
    });
  }

  private onStreamOpen(root: Element): void {
    if (root.localName !== 'stream' || root.getNS() !== STREAM_NAMESPACE || root.attrs.xmlns !== NS.client) {
      this.writeHeader({ from: this.options.xmpp.domain, version: '1.0' });
      this.session.fail(new StreamError('invalid-namespace', 'Expected a jabber:client stream'));
      return;
    }
    const { to, version } = root.attrs;
    const lang = root.attrs['xml:lang'];
    this.session.receive(
      xml('open', {
        xmlns: NS.framing,
        ...(to !== undefined ? { to } : {}),
        ...(version !== undefined ? { version } : {}),
        ...(lang !== undefined ? { 'xml:lang': lang } : {}),
      }),
    );
  }

  private onElement(el: Element): void {
    if (el.is('starttls', NS_TLS)) {
      this.startTls();
      return;
    }
    if (!this.encrypted && this.options.requireTls) {
      this.session.fail(new StreamError('policy-violation', 'Use STARTTLS first'));
      return;
    }
    this.session.receive(el);
  }

  /** RFC 6120 §5.4.3: `<proceed/>`, the TLS handshake on the same socket, then a new stream. */
  private startTls(): void {
    const context = this.context();
    if (this.encrypted || context === undefined || this.session.stage !== 'pre-auth') {
      this.socket.write(`<failure xmlns="${NS_TLS}"/></stream:stream>`);
      this.socket.end();
      return;
    }
    const plain = this.socket;
    this.detachSocket(plain);
    plain.write(`<proceed xmlns="${NS_TLS}"/>`);
    const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: context });
    this.socket = secure;
    this.parser = this.newParser();
    secure.once('secure', () => {
      this.encrypted = true;
    });
    this.attachSocket(secure);
  }

  send(frame: string): void {
    if (this.closed) return;
    if (frame.startsWith(FRAMING_OPEN)) {
      const open = parseFrame(frame);
      this.writeHeader(open.attrs);
      return;
    }
    if (frame.startsWith(FRAMING_CLOSE)) {
      this.write('</stream:stream>');
      return;
    }
    if (frame.startsWith('<stream:features') && !this.encrypted && this.context() !== undefined) {
      this.write(this.withStartTls(frame));
      return;
    }
    this.write(frame);
    // After SASL success the client opens a new stream on the same connection (RFC 6120 §6.4.6).
    if (frame.startsWith(`<success xmlns="${NS.sasl}"`)) this.parser = this.newParser();
  }

  /** STARTTLS offered first; when TLS is required it is the only feature (RFC 6120 §5.3.1). */
  private withStartTls(frame: string): string {
    const features = parseFrame(frame);
    const starttls = xml(
      'starttls',
      { xmlns: NS_TLS },
      this.options.requireTls ? xml('required') : undefined,
    );
    if (this.options.requireTls) features.children = [starttls];
    else features.children.unshift(starttls);
    return features.toString();
  }

  private writeHeader(attrs: Record<string, string | undefined>): void {
    this.write(streamHeader(attrs));
  }

  private write(text: string): void {
    if (this.closed) return;
    this.lastActivity = Date.now();
    const socket = this.socket;
    socket.write(text);
    const buffered = socket.writableLength;
    if (buffered > OUTPUT_HARD_LIMIT) {
      socket.destroy();
    } else if (buffered > OUTPUT_HIGH_WATER && !this.pausedForOutput) {
      this.pausedForOutput = true;
      socket.pause();
      socket.once('drain', () => {
        this.pausedForOutput = false;
        socket.resume();
      });
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closedAt = Date.now();
    if (this.handshaking) this.socket.destroy();
    else this.socket.end();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (!this.pausedForOutput) this.socket.resume();
  }

  attach(session: ClientSession): void {
    this.session = session;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The server's stream header (RFC 6120 §4.7) with the given attributes. */
function streamHeader(attrs: Record<string, string | undefined>): string {
  const parts = [`xmlns="${NS.client}"`, `xmlns:stream="${STREAM_NAMESPACE}"`];
  for (const name of ['from', 'id', 'version', 'xml:lang']) {
    const value = attrs[name];
    if (value !== undefined) parts.push(`${name}="${escapeAttr(value)}"`);
  }
  return `<?xml version='1.0'?><stream:stream ${parts.join(' ')}>`;
}

function escapeAttr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
}
