import type { FastifyRequest } from 'fastify';

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/**
 * Whether a connection made the way this request came in counts as secure: TLS (directly or at a
 * trusted proxy), or a direct loopback connection — loopback only when no proxy forwarded it from
 * elsewhere. The WebSocket endpoint (SASL PLAIN, registration) and the web page (whether to offer
 * registration) share this one rule.
 */
export function isSecureRequest(request: FastifyRequest): boolean {
  if (request.protocol === 'https') return true;
  return isLoopback(request.socket.remoteAddress) && request.headers['x-forwarded-for'] === undefined;
}
