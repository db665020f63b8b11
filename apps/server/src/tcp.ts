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
import type { Logger } from './logger.js';

const NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls';
const FRAMING_OPEN = `<open xmlns="${NS.framing}"`;
const FRAMING_CLOSE = `<close xmlns="${NS.framing}"`;
/** Output queued beyond this pauses reading from the same client until its socket drains. */
const OUTPUT_HIGH_WATER = 1024 * 1024;
/** A client that stops reading altogether is cut off once this much output waits for it. */
const OUTPUT_HARD_LIMIT = 16 * 1024 * 1024;

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
  private direct: tls.Server | undefined;
  private context: tls.SecureContext | undefined;
  private readonly connections = new Set<TcpConnection>();

  constructor(private readonly options: TcpOptions) {
    this.context = this.loadContext();
    if (options.requireTls && this.context === undefined) {
      throw new Error(
        'XMPP over TCP requires TLS by default: set TLS_CERT_FILE and TLS_KEY_FILE (or C2S_REQUIRE_TLS=false for tests)',
      );
    }
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
    this.direct?.setSecureContext(files);
  }

  async listen(): Promise<void> {
    const { port, tlsPort, host } = this.options;
    if (port !== undefined) {
      this.plain = net.createServer((socket) => this.accept(socket, false));
      await listenOn(this.plain, host, port);
    }
    const files = this.readCertificate();
    if (tlsPort !== undefined && files !== undefined) {
      this.direct = tls.createServer(files, (socket) => this.accept(socket, true));
      await listenOn(this.direct, host, tlsPort);
    }
  }

  /** The ports actually bound (useful with 0). */
  ports(): { port?: number; tlsPort?: number } {
    const portOf = (server: net.Server | undefined) => (server?.address() as net.AddressInfo | null)?.port;
    return { port: portOf(this.plain), tlsPort: portOf(this.direct) };
  }

  /** Stops accepting; the XMPP server then ends the sessions, which closes the connections. */
  async close(): Promise<void> {
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
    const connection = new TcpConnection(this.options, socket, secure, () => this.context);
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
  private closed = false;
  private pausedForOutput = false;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: TcpOptions,
    socket: net.Socket,
    secure: boolean,
    private readonly context: () => tls.SecureContext | undefined,
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
    socket.setEncoding('utf8');
    socket.on('data', this.onData);
    socket.on('error', () => {});
    socket.on('close', this.onClose);
    this.touch();
  }

  private detachSocket(socket: net.Socket): void {
    socket.off('data', this.onData);
    socket.off('close', this.onClose);
  }

  private readonly onData = (chunk: string): void => {
    this.touch();
    this.parser.write(chunk);
  };

  private readonly onClose = (): void => {
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.session.transportClosed();
  };

  /** Keeps an idle connection alive through NATs with RFC 6120 §4.6.1 whitespace. */
  private touch(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (!this.closed) this.socket.write(' ');
      this.touch();
    }, this.options.keepaliveMs);
    this.idleTimer.unref();
  }

  /** A fresh parser: at the start and after every stream restart (STARTTLS, SASL). */
  private newParser(): StreamParser {
    return new StreamParser({
      limits: this.options.xmpp.limits,
      onStreamOpen: (root) => this.onStreamOpen(root),
      onElement: (el) => this.onElement(el),
      onStreamClose: () => this.session.receive(xml('close', { xmlns: NS.framing })),
      onError: (err: XmlStreamError) => this.session.fail(new StreamError(err.condition, err.message)),
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
    const parts = [`xmlns="${NS.client}"`, `xmlns:stream="${STREAM_NAMESPACE}"`];
    for (const name of ['from', 'id', 'version', 'xml:lang']) {
      const value = attrs[name];
      if (value !== undefined) parts.push(`${name}="${escapeAttr(value)}"`);
    }
    this.write(`<?xml version='1.0'?><stream:stream ${parts.join(' ')}>`);
  }

  private write(text: string): void {
    if (this.closed) return;
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
    clearTimeout(this.idleTimer);
    this.socket.end();
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

function escapeAttr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
}
