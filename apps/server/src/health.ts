import type { XmppServer } from '@strom/core';
import type { FastifyInstance } from 'fastify';
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
  required: ['status', 'storage', 'cluster', 'sessions'],
} as const;

/** `/health`: the process is alive. `/health/ready`: storage and cluster are reachable (503 otherwise). */
export const health = fp<{ xmpp: XmppServer }>(
  async (app: FastifyInstance, { xmpp }) => {
    app.get('/health', { schema: liveness }, async () => ({
      status: 'ok',
      uptime: Math.round((Date.now() - xmpp.startedAt) / 1000),
    }));
    app.get(
      '/health/ready',
      { schema: { response: { 200: readinessResponse, 503: readinessResponse } } },
      async (_request, reply) => {
        const { storage, cluster } = await xmpp.readiness();
        const ready = storage && cluster === 'ok' && !xmpp.isStopping;
        return reply.code(ready ? 200 : 503).send({
          status: xmpp.isStopping ? 'draining' : ready ? 'ready' : 'not-ready',
          storage: storage ? 'ok' : 'unreachable',
          cluster,
          sessions: xmpp.sessions.size,
        });
      },
    );
  },
  { name: 'strom-health' },
);
