import type { Socket } from 'node:net';
import websocket from '@fastify/websocket';
import type { ClientSession, Transport, XmppServer } from '@strom/core';
import { StreamError } from '@strom/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { WebSocket } from 'ws';
import { ClientErrorLog } from './client-errors.js';
import type { ConnectionLimits, Refusal } from './connection-limits.js';
import type { Logger } from './logger.js';
import { isSecureRequest } from './transport-security.js';

export interface WebSocketOptions {
  xmpp: XmppServer;
  path: string;
  maxStanzaBytes: number;
  pingIntervalMs: number;
  deadPeerTimeoutMs: number;
  /** Time a connection has to log in (see `ClientSession.loginClock`); then `connection-timeout`. */
  authTimeoutMs: number;
  /** Admission control shared with the TCP endpoint. */
  limits: ConnectionLimits;
  log: Logger;
  /** Where clients should reconnect when this node shuts down (RFC 7395 §3.6.1). */
  shutdownRedirectUrl?: string;
}

/**
 * How long a closing connection waits for the client's close frame before its socket is dropped
 * (ws waits 30 s by default, which a client that never answers could use to hold sockets).
 */
const CLOSE_TIMEOUT_MS = 5000;

/** Output queued beyond this pauses reading from the same client until its socket drains. */
const OUTPUT_HIGH_WATER = 1024 * 1024;
/** A client that stops reading altogether is cut off once this much output waits for it. */
const OUTPUT_HARD_LIMIT = 16 * 1024 * 1024;

interface Connection {
  socket: WebSocket;
  session: ClientSession;
  lastSeen: number;
  pingSentAt: number;
}

/** HTTP answer to a refused upgrade: the node is full (503) or one address asks too much (429). */
function refuse(reply: FastifyReply, refusal: Refusal): FastifyReply {
  return reply
    .code(refusal.reason === 'total' ? 503 : 429)
    .header('retry-after', refusal.reason === 'rate' ? '1' : '30')
    .send({ error: refusal.message });
}

/**
 * RFC 7395 endpoint: the `xmpp` subprotocol is required, each text message carries one element,
 * idle connections are pinged so proxies keep them, and dead peers are cut off.
 */
export const xmppWebSocket = fp<WebSocketOptions>(
  async (app: FastifyInstance, opts) => {
    const connections = new Set<Connection>();
    const clientErrors = new ClientErrorLog(opts.log);

    await app.register(websocket, {
      options: {
        // A little above the stanza limit so an oversized stanza still gets its stream error from us.
        // ws refuses a frame whose header announces more at once, before any of it arrives.
        maxPayload: opts.maxStanzaBytes + 4096,
        handleProtocols: (protocols) => (protocols.has('xmpp') ? 'xmpp' : false),
        perMessageDeflate: false,
        // Not in @types/ws yet (ws ≥ 8.18).
        ...({ closeTimeout: CLOSE_TIMEOUT_MS } as object),
      },
      // What ws reports here is the client's doing (broken frames, bad UTF-8, a vanished peer): one
      // short debug line, no stack trace. ws has begun closing already; the socket ends with it.
      errorHandler: (error, socket) => {
        clientErrors.note('WebSocket connection error', error);
        if (socket.readyState === socket.OPEN) socket.terminate();
      },
      // Streams are ended by the XMPP server's own shutdown, with proper stream errors.
      preClose: async () => {
        await opts.xmpp.stop({ redirectUri: opts.shutdownRedirectUrl });
        releaseHeldSockets();
        for (const connection of connections) connection.socket.terminate();
      },
    });

    app.get(
      opts.path,
      {
        websocket: true,
        preValidation: async (request, reply) => {
          const offered = String(request.headers['sec-websocket-protocol'] ?? '')
            .split(',')
            .map((p) => p.trim());
          if (request.headers.upgrade?.toLowerCase() !== 'websocket') {
            return reply.code(426).send({ error: 'This endpoint speaks XMPP over WebSocket (RFC 7395)' });
          }
          if (!offered.includes('xmpp')) {
            return reply.code(400).send({ error: 'The "xmpp" WebSocket subprotocol is required (RFC 7395)' });
          }
          // request.ip is the socket's address, or X-Forwarded-For's from a TRUSTED_PROXIES proxy.
          const admission = opts.limits.admit(request.ip);
          if (!admission.ok) {
            clientErrors.note(`WebSocket upgrade refused (${admission.refusal.reason} limit)`);
            return refuse(reply, admission.refusal);
          }
          // Counted for as long as the TCP connection lives, whatever becomes of the upgrade.
          request.raw.socket.once('close', admission.release);
        },
      },
      (socket, request) => {
        // A resumed stream moves this connection onto the session it resumes (`attach`).
        const connection = { socket, lastSeen: Date.now(), pingSentAt: 0 } as Connection;
        connection.session = opts.xmpp.openStream(
          createTransport(socket, request, (session) => {
            connection.session = session;
          }),
        );
        connections.add(connection);
        socket.on('message', (data, isBinary) => {
          connection.lastSeen = Date.now();
          connection.pingSentAt = 0;
          if (isBinary) {
            connection.session.fail(new StreamError('bad-format', 'XMPP frames are text messages'));
            return;
          }
          connection.session.receive(data.toString());
        });
        socket.on('pong', () => {
          connection.lastSeen = Date.now();
          connection.pingSentAt = 0;
        });
        socket.on('close', () => {
          connections.delete(connection);
          connection.session.transportClosed();
        });
        interceptProtocolClose(socket, request.raw.socket as Socket, connection, opts.maxStanzaBytes);
      },
    );

    // One sweep for all connections instead of a timer per connection keeps idle sessions small.
    const sweepEvery = Math.max(
      250,
      Math.min(opts.pingIntervalMs, opts.deadPeerTimeoutMs, opts.authTimeoutMs) / 4,
    );
    const loginTimeout = new StreamError(
      'connection-timeout',
      `Not logged in within ${Math.round(opts.authTimeoutMs / 1000)} seconds`,
    );
    const sweeper = setInterval(() => {
      const now = Date.now();
      for (const connection of connections) {
        const session = connection.session;
        if (session.loggingIn && now - session.loginClock >= opts.authTimeoutMs) {
          session.fail(loginTimeout);
          continue;
        }
        if (connection.pingSentAt > 0) {
          if (now - connection.pingSentAt >= opts.deadPeerTimeoutMs) {
            connections.delete(connection);
            connection.socket.terminate();
          }
        } else if (now - connection.lastSeen >= opts.pingIntervalMs) {
          connection.pingSentAt = now;
          connection.socket.ping();
        }
      }
    }, sweepEvery);
    sweeper.unref();
    app.addHook('onClose', async () => clearInterval(sweeper));
  },
  { name: 'strom-xmpp-websocket' },
);

/**
 * Sockets holding output until the end of the current event-loop turn. Everything a connection is
 * sent during one turn (a burst of messages, a presence broadcast) then leaves in one `writev`
 * instead of one system call per stanza — the largest single cost of message delivery.
 */
const heldSockets = new Set<Socket>();

function holdUntilEndOfTurn(raw: Socket): void {
  if (heldSockets.has(raw)) return;
  if (heldSockets.size === 0) setImmediate(releaseHeldSockets);
  heldSockets.add(raw);
  raw.cork();
}

/** Lets held output go now: a connection about to close must not lose its last frames. */
function release(raw: Socket): void {
  if (heldSockets.delete(raw)) raw.uncork();
}

function releaseHeldSockets(): void {
  for (const raw of heldSockets) raw.uncork();
  heldSockets.clear();
}

function createTransport(
  socket: WebSocket,
  request: FastifyRequest,
  attach: (session: ClientSession) => void,
): Transport {
  const raw = request.raw.socket as Socket;
  const secure = isSecureRequest(request);
  let pausedForOutput = false;
  return {
    secure,
    remoteAddress: request.ip,
    send(frame) {
      if (socket.readyState !== socket.OPEN) return;
      holdUntilEndOfTurn(raw);
      socket.send(frame);
      const buffered = socket.bufferedAmount;
      if (buffered > OUTPUT_HARD_LIMIT) {
        release(raw);
        socket.terminate();
      } else if (buffered > OUTPUT_HIGH_WATER && !pausedForOutput) {
        pausedForOutput = true;
        socket.pause();
        raw.once('drain', () => {
          pausedForOutput = false;
          socket.resume();
        });
      }
    },
    close() {
      release(raw);
      if (socket.readyState === socket.OPEN) socket.close(1000);
    },
    pause() {
      socket.pause();
    },
    resume() {
      if (!pausedForOutput) socket.resume();
    },
    attach,
  };
}

/**
 * ws closes a connection whose frames break the WebSocket rules before telling us (through its
 * `error` event). The XMPP stream gets its own answer just before ws's close frame: a stanza over
 * the size limit (1009) is a `policy-violation`, invalid UTF-8 in a text message (1007) is
 * `unsupported-encoding` (RFC 6120 §4.9.3.22), and a frame no WebSocket peer may send (1002:
 * unknown opcode, a continuation with nothing to continue, reserved bits, an unmasked frame) is
 * `bad-format`.
 */
function interceptProtocolClose(
  socket: WebSocket,
  raw: Socket,
  connection: Connection,
  maxStanzaBytes: number,
): void {
  const close = socket.close.bind(socket);
  socket.close = (code?: number, reason?: string | Buffer) => {
    const error = protocolStreamError(code, maxStanzaBytes);
    if (error) connection.session.fail(error);
    release(raw);
    close(code, reason);
  };
}

function protocolStreamError(code: number | undefined, maxStanzaBytes: number): StreamError | undefined {
  switch (code) {
    case 1009:
      return new StreamError('policy-violation', `Stanza larger than ${maxStanzaBytes} bytes`);
    case 1007:
      return new StreamError('unsupported-encoding', 'Text messages must be valid UTF-8');
    case 1002:
      return new StreamError('bad-format', 'Broken WebSocket framing');
    default:
      return undefined;
  }
}
