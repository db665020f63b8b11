import { timingSafeEqual } from 'node:crypto';
import type { XmppServer } from '@strom/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

const liveness = {
  response: {
    200: {
      type: 'object',
      properties: { status: { type: 'string' }, uptime: { type: 'number' } },
      required: ['status', 'uptime'],
    },
  },
} as const;

const readinessResponse = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ready', 'not-ready', 'draining'] },
    storage: { type: 'string', enum: ['ok', 'unreachable'] },
    cluster: { type: 'string', enum: ['ok', 'degraded'] },
    sessions: { type: 'integer' },
  },
  required: ['status'],
} as const;

export interface HealthOptions {
  xmpp: XmppServer;
  /** HEALTH_TOKEN: `Authorization: Bearer <token>` shows readiness details to callers that are not local. */
  token?: string | undefined;
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/**
 * Whether a readiness request may see the details (storage, cluster, live sessions): it comes
 * straight from this machine (loopback, and no proxy forwarded it from elsewhere), or it carries
 * the configured token.
 */
export function mayReadDetails(request: FastifyRequest, token: string | undefined): boolean {
  if (isLoopback(request.socket?.remoteAddress) && request.headers['x-forwarded-for'] === undefined)
    return true;
  if (token === undefined || token === '') return false;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * `/health`: the process is alive. `/health/ready`: storage and cluster are reachable (503
 * otherwise); what is unreachable and how many sessions are live only for local callers or with
 * HEALTH_TOKEN, since the status code is all a load balancer needs.
 */
export const health = fp<HealthOptions>(
  async (app: FastifyInstance, { xmpp, token }) => {
    app.get('/health', { schema: liveness }, async () => ({
      status: 'ok',
      uptime: Math.round((Date.now() - xmpp.startedAt) / 1000),
    }));
    app.get(
      '/health/ready',
      { schema: { response: { 200: readinessResponse, 503: readinessResponse } } },
      async (request, reply) => {
        const { storage, cluster } = await xmpp.readiness();
        const ready = storage && cluster === 'ok' && !xmpp.isStopping;
        const status = xmpp.isStopping ? 'draining' : ready ? 'ready' : 'not-ready';
        reply.code(ready ? 200 : 503).header('cache-control', 'no-store');
        if (!mayReadDetails(request, token)) return reply.send({ status });
        return reply.send({
          status,
          storage: storage ? 'ok' : 'unreachable',
          cluster,
          sessions: xmpp.sessions.size,
        });
      },
    );
  },
  { name: 'strom-health' },
);
