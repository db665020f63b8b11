import type { FastifyInstance, FastifyRequest } from 'fastify';

/** XEP-0156 link relation for an RFC 7395 endpoint. */
export const REL_WEBSOCKET = 'urn:xmpp:alt-connections:websocket';
const NS_XRD = 'http://docs.oasis-open.org/ns/xri/xrd-1.0';

/** A host as it may appear in a URL authority: DNS name, IPv4 or bracketed IPv6, optional port. */
const HOST_PATTERN =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** Whether a Host / X-Forwarded-Host value is safe to put into a URL (anything else is refused). */
export function isValidHost(host: string | undefined): host is string {
  return host !== undefined && host.length <= 261 && HOST_PATTERN.test(host);
}

export interface PublicOrigin {
  /** What the browser connected with: `http` or `https`. */
  protocol: string;
  /** Host and optional port as the browser sees them. */
  host: string;
}

/**
 * The WebSocket URL clients should use. PUBLIC_URL wins (its path becomes a prefix); otherwise the
 * request's own origin, which Fastify derives from X-Forwarded-Proto/-Host only for trusted proxies.
 */
export function websocketUrl(
  options: { publicUrl: string | undefined; websocketPath: string },
  origin: PublicOrigin | undefined,
): string | undefined {
  if (options.publicUrl !== undefined) {
    const base = new URL(options.publicUrl);
    const scheme = base.protocol === 'https:' ? 'wss:' : 'ws:';
    const prefix = base.pathname.replace(/\/+$/, '');
    return `${scheme}//${base.host}${prefix}${options.websocketPath}`;
  }
  if (origin === undefined) return undefined;
  const scheme = origin.protocol === 'https' ? 'wss:' : 'ws:';
  return `${scheme}//${origin.host}${options.websocketPath}`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** RFC 6415 XRD document with the WebSocket link (XEP-0156 §3.3). */
export function hostMetaXml(wsUrl: string): string {
  return (
    `<?xml version="1.0" encoding="utf-8"?>\n` +
    `<XRD xmlns="${NS_XRD}">\n` +
    `  <Link rel="${REL_WEBSOCKET}" href="${escapeXml(wsUrl)}"/>\n` +
    `</XRD>\n`
  );
}

export interface HostMetaJson {
  links: Array<{ rel: string; href: string }>;
}

/** The same document in JRD form (RFC 6415 Appendix A). */
export function hostMetaJson(wsUrl: string): HostMetaJson {
  return { links: [{ rel: REL_WEBSOCKET, href: wsUrl }] };
}

const jrdSchema = {
  type: 'object',
  properties: {
    links: {
      type: 'array',
      items: {
        type: 'object',
        properties: { rel: { type: 'string' }, href: { type: 'string' } },
        required: ['rel', 'href'],
      },
    },
  },
  required: ['links'],
} as const;

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' } },
  required: ['error'],
} as const;

export interface HostMetaOptions {
  publicUrl: string | undefined;
  websocketPath: string;
}

/** The browser-visible origin of a request, or undefined when its Host header is unusable. */
export function requestOrigin(request: FastifyRequest): PublicOrigin | undefined {
  const host = request.host;
  if (!isValidHost(host)) return undefined;
  // A trusted proxy's X-Forwarded-Proto is taken as is by Fastify; only the two web schemes make sense.
  const protocol = request.protocol === 'https' ? 'https' : 'http';
  return { protocol, host };
}

/** `/.well-known/host-meta` and `/.well-known/host-meta.json`, readable from any origin (XEP-0156 §3.2). */
export async function registerHostMeta(app: FastifyInstance, options: HostMetaOptions): Promise<void> {
  const resolve = (request: FastifyRequest) =>
    websocketUrl(options, options.publicUrl === undefined ? requestOrigin(request) : undefined);
  // An answer derived from the request's host must not be reused by a cache for another host.
  const cacheControl = options.publicUrl === undefined ? 'no-cache' : 'public, max-age=3600';

  app.get('/.well-known/host-meta', async (request, reply) => {
    reply.header('access-control-allow-origin', '*').header('cache-control', cacheControl);
    const url = resolve(request);
    if (url === undefined) {
      return reply.code(400).type('text/plain; charset=utf-8').send('Invalid Host header\n');
    }
    return reply.type('application/xrd+xml; charset=utf-8').send(hostMetaXml(url));
  });

  app.get(
    '/.well-known/host-meta.json',
    { schema: { response: { 200: jrdSchema, 400: errorSchema } } },
    async (request, reply) => {
      reply.header('access-control-allow-origin', '*').header('cache-control', cacheControl);
      const url = resolve(request);
      if (url === undefined) return reply.code(400).send({ error: 'Invalid Host header' });
      return reply.type('application/json; charset=utf-8').send(hostMetaJson(url));
    },
  );
}
