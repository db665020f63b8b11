import { chmod, mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { AccountError, type XmppServer } from '@strom/core';
import type { Logger } from './logger.js';

/**
 * Embedded storage (PGlite) belongs to one process, so the `strom` CLI talks to the running server
 * through this local socket instead of opening the data folder a second time. The socket is only
 * reachable by the user running Strom (mode 0600). One JSON request per line, one JSON reply.
 */
export type AdminRequest =
  | { command: 'user.add'; username: string; password: string }
  | { command: 'user.passwd'; username: string; password: string }
  | { command: 'user.delete'; username: string }
  | { command: 'user.list'; inactiveDays?: number }
  | { command: 'status' };

export type AdminReply = { ok: true; result?: unknown } | { ok: false; error: string; problem?: string };

export async function handleAdminRequest(xmpp: XmppServer, request: AdminRequest): Promise<AdminReply> {
  try {
    switch (request.command) {
      case 'user.add':
        return {
          ok: true,
          result: `${await xmpp.createAccount(request.username, request.password)}@${xmpp.domain}`,
        };
      case 'user.passwd':
        await xmpp.changePassword(request.username, request.password);
        return { ok: true };
      case 'user.delete':
        await xmpp.deleteAccount(request.username);
        return { ok: true };
      case 'user.list': {
        const days = request.inactiveDays;
        if (days !== undefined && !(Number.isInteger(days) && days >= 1)) {
          return { ok: false, error: 'inactiveDays must be a whole number of days, at least 1' };
        }
        // Inactive for N days: the last login, or for an account that never logged in its
        // creation, is at least N days ago, and no session of it is online anywhere right now.
        const inactiveSince = days === undefined ? undefined : new Date(Date.now() - days * 86_400_000);
        let accounts = await xmpp.storage.accounts.list({ inactiveSince });
        if (inactiveSince !== undefined && accounts.length > 0) {
          const online = await xmpp.cluster.resourcesMany(
            accounts.map((a) => `${a.username}@${xmpp.domain}`),
          );
          accounts = accounts.filter((a) => (online.get(`${a.username}@${xmpp.domain}`) ?? []).length === 0);
        }
        return {
          ok: true,
          result: accounts.map((a) => ({
            jid: `${a.username}@${xmpp.domain}`,
            createdAt: a.createdAt.toISOString(),
            lastLoginAt: a.lastLoginAt?.toISOString() ?? null,
          })),
        };
      }
      case 'status':
        return {
          ok: true,
          result: { domain: xmpp.domain, sessions: xmpp.sessions.size, node: xmpp.cluster.nodeId },
        };
      default:
        return { ok: false, error: 'Unknown command' };
    }
  } catch (err) {
    if (err instanceof AccountError) return { ok: false, error: err.message, problem: err.problem };
    throw err;
  }
}

export class AdminServer {
  private server: net.Server | undefined;

  constructor(
    private readonly socketPath: string,
    private readonly xmpp: XmppServer,
    private readonly log: Logger,
  ) {}

  async listen(): Promise<void> {
    await mkdir(path.dirname(this.socketPath), { recursive: true });
    if (await isServing(this.socketPath)) {
      throw new Error(`Another Strom process already serves the admin socket ${this.socketPath}`);
    }
    await rm(this.socketPath, { force: true });
    const server = net.createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    await chmod(this.socketPath, 0o600);
    this.server = server;
  }

  private serve(socket: net.Socket): void {
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > 65_536) {
        socket.destroy();
        return;
      }
      let newline = buffer.indexOf('\n');
      while (newline !== -1) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        void this.answer(socket, line);
        newline = buffer.indexOf('\n');
      }
    });
    socket.on('error', () => {});
  }

  private async answer(socket: net.Socket, line: string): Promise<void> {
    let reply: AdminReply;
    try {
      reply = await handleAdminRequest(this.xmpp, JSON.parse(line) as AdminRequest);
    } catch (err) {
      this.log.error({ err }, 'admin command failed');
      reply = { ok: false, error: err instanceof SyntaxError ? 'Malformed request' : 'Internal error' };
    }
    socket.write(JSON.stringify(reply) + '\n');
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.socketPath, { force: true });
  }
}

/** Sends one request to a running server; undefined when no server listens on the socket. */
export function sendAdminRequest(socketPath: string, request: AdminRequest): Promise<AdminReply | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let buffer = '';
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(JSON.stringify(request) + '\n'));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline !== -1) {
        socket.end();
        resolve(JSON.parse(buffer.slice(0, newline)) as AdminReply);
      }
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(undefined);
      else reject(err);
    });
  });
}

async function isServing(socketPath: string): Promise<boolean> {
  return (await sendAdminRequest(socketPath, { command: 'status' }).catch(() => undefined)) !== undefined;
}
