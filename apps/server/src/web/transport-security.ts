import type { FastifyRequest } from 'fastify';

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/**
 * Whether a WebSocket opened the way this request came in would count as secure: TLS (directly
 * or at a trusted proxy), or a direct loopback connection. The same rule as the WebSocket
 * endpoint's, so the page offers exactly what the stream will (in-band registration needs it).
 */
export function isSecureRequest(request: FastifyRequest): boolean {
  if (request.protocol === 'https') return true;
  return isLoopback(request.socket.remoteAddress) && request.headers['x-forwarded-for'] === undefined;
}
