import type { Socket } from 'node:net';
import websocket from '@fastify/websocket';
import type { ClientSession, Transport, XmppServer } from '@strom/core';
import { StreamError } from '@strom/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { WebSocket } from 'ws';
import { isSecureRequest } from './transport-security.js';

export interface WebSocketOptions {
  xmpp: XmppServer;
  path: string;
  maxStanzaBytes: number;
  pingIntervalMs: number;
  deadPeerTimeoutMs: number;
  /** Where clients should reconnect when this node shuts down (RFC 7395 §3.6.1). */
  shutdownRedirectUrl?: string;
}

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

/**
 * RFC 7395 endpoint: the `xmpp` subprotocol is required, each text message carries one element,
 * idle connections are pinged so proxies keep them, and dead peers are cut off.
 */
export const xmppWebSocket = fp<WebSocketOptions>(
  async (app: FastifyInstance, opts) => {
    const connections = new Set<Connection>();

    await app.register(websocket, {
      options: {
        // A little above the stanza limit so an oversized stanza still gets its stream error from us.
        maxPayload: opts.maxStanzaBytes + 4096,
        handleProtocols: (protocols) => (protocols.has('xmpp') ? 'xmpp' : false),
        perMessageDeflate: false,
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
        socket.on('error', () => {
          // ws reports oversized frames through here after starting its own close handshake.
        });
        socket.on('close', () => {
          connections.delete(connection);
          connection.session.transportClosed();
        });
        interceptOversizedClose(socket, request.raw.socket as Socket, connection, opts.maxStanzaBytes);
      },
    );

    // One sweep for all connections instead of a timer per connection keeps idle sessions small.
    const sweepEvery = Math.max(250, Math.min(opts.pingIntervalMs, opts.deadPeerTimeoutMs) / 4);
    const sweeper = setInterval(() => {
      const now = Date.now();
      for (const connection of connections) {
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
 * ws closes a connection whose message exceeds maxPayload (code 1009) before telling us. The XMPP
 * answer to an oversized stanza is a `policy-violation` stream error, so it is sent just before
 * ws's close frame.
 */
function interceptOversizedClose(
  socket: WebSocket,
  raw: Socket,
  connection: Connection,
  maxStanzaBytes: number,
): void {
  const close = socket.close.bind(socket);
  socket.close = (code?: number, reason?: string | Buffer) => {
    if (code === 1009) {
      connection.session.fail(
        new StreamError('policy-violation', `Stanza larger than ${maxStanzaBytes} bytes`),
      );
    }
    release(raw);
    close(code, reason);
  };
}
