import { isIP } from 'node:net';
import { AddressList } from '@strom/core';
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
  /** XMPP_DOMAIN: a Host header naming it is believed, and it is the answer when nothing else is. */
  domain: string;
  /** TRUSTED_PROXIES: only their X-Forwarded-Host is believed. */
  trustedProxies: readonly string[];
}

/** proxy-addr's names for address ranges, which TRUSTED_PROXIES accepts too. */
const PROXY_RANGES: Record<string, string> = {
  loopback: '127.0.0.0/8,::1/128',
  linklocal: '169.254.0.0/16,fe80::/10',
  uniquelocal: '10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7',
};

/** Whether the connection itself comes from one of the trusted proxies. */
export function proxyMatcher(trustedProxies: readonly string[]): (address: string | undefined) => boolean {
  const parsed = AddressList.parse(trustedProxies.map((entry) => PROXY_RANGES[entry] ?? entry).join(','));
  const list = 'list' in parsed ? parsed.list : AddressList.EMPTY;
  return (address) => list.has(address);
}

/**
 * Where browsers reach this server, built only from names the operator configured, never from
 * whatever `Host` a request carries: PUBLIC_URL when set; else the X-Forwarded-Host of a trusted
 * proxy; else the request's Host when it names XMPP_DOMAIN or the very address and port the
 * connection reached; else XMPP_DOMAIN itself. Undefined when the Host header is not even a host.
 */
export function originResolver(
  options: HostMetaOptions,
): (request: FastifyRequest) => PublicOrigin | undefined {
  const trusted = proxyMatcher(options.trustedProxies);
  const domain = options.domain.toLowerCase();
  const configured = options.publicUrl === undefined ? undefined : new URL(options.publicUrl);
  return (request) => {
    if (configured) return { protocol: configured.protocol.replace(/:$/, ''), host: configured.host };
    // A trusted proxy's X-Forwarded-Proto is taken as is by Fastify; only the two web schemes make sense.
    const protocol = request.protocol === 'https' ? 'https' : 'http';
    const socket = request.socket;
    if (request.headers['x-forwarded-host'] !== undefined && trusted(socket?.remoteAddress)) {
      // Fastify's request.host is the proxy's X-Forwarded-Host here.
      return isValidHost(request.host) ? { protocol, host: request.host } : undefined;
    }
    const host = request.headers.host;
    if (!isValidHost(host)) return undefined;
    const { name, port } = splitHost(host);
    const local = socket?.localAddress?.replace(/^::ffff:(?=\d+\.)/, '');
    const reachedHere = port === undefined || port === String(socket?.localPort);
    if (reachedHere && (name === domain || (local !== undefined && isIP(name) !== 0 && name === local))) {
      return { protocol, host };
    }
    return { protocol, host: domain };
  };
}

/** A Host value's name (lower case, IPv6 without brackets) and port. */
function splitHost(host: string): { name: string; port: string | undefined } {
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host.toLowerCase());
  const raw = match?.[1] ?? host.toLowerCase();
  return { name: raw.replace(/^\[|\]$/g, ''), port: match?.[2] };
}

/** `/.well-known/host-meta` and `/.well-known/host-meta.json`, readable from any origin (XEP-0156 §3.2). */
export async function registerHostMeta(app: FastifyInstance, options: HostMetaOptions): Promise<void> {
  const origin = originResolver(options);
  const resolve = (request: FastifyRequest) =>
    websocketUrl(options, options.publicUrl === undefined ? origin(request) : undefined);
  // An answer that depends on the request's host must not be reused by a cache for another host.
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
