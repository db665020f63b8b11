import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { isSecureRequest } from '../transport-security.js';
import {
  assetsFolder,
  clientBase,
  clientInitScript,
  clientPageHtml,
  contentSecurityPolicy,
  SECURITY_HEADERS,
} from './client-page.js';
import { ConverseAssets } from './converse-assets.js';
import { originResolver, registerHostMeta } from './host-meta.js';

export { contentSecurityPolicy, converseSettings, relativeUrl } from './client-page.js';
export { ConverseAssets, IMMUTABLE_CACHE, locateConverse, preferredEncoding } from './converse-assets.js';
export {
  hostMetaJson,
  hostMetaXml,
  isValidHost,
  REL_WEBSOCKET,
  websocketUrl,
} from './host-meta.js';

export type WebConfig = Pick<
  Config,
  'domain' | 'websocketPath' | 'publicUrl' | 'webClient' | 'webClientPath' | 'registration' | 'trustedProxies'
>;

/** A generated text file with a content hash as its ETag, revalidated on every use. */
interface GeneratedFile {
  body: string;
  etag: string;
  contentType: string;
}

function generated(body: string, contentType: string): GeneratedFile {
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 22);
  return { body, etag: `"${hash}"`, contentType };
}

function sendGenerated(
  request: FastifyRequest,
  reply: FastifyReply,
  file: GeneratedFile,
  cacheControl = 'no-cache',
): FastifyReply {
  reply.headers(SECURITY_HEADERS).header('cache-control', cacheControl).header('etag', file.etag);
  if (request.headers['if-none-match']?.split(',').some((tag) => tag.trim() === file.etag)) {
    return reply.code(304).send();
  }
  return reply.type(file.contentType).send(file.body);
}

/**
 * Web chat and connection discovery: XEP-0156 host-meta always, and unless WEB_CLIENT=false,
 * Converse.js at WEB_CLIENT_PATH with its assets from the pinned npm package.
 */
export const web = fp<{ config: WebConfig }>(
  async (app: FastifyInstance, { config }) => {
    const names = {
      publicUrl: config.publicUrl,
      websocketPath: config.websocketPath,
      domain: config.domain,
      trustedProxies: config.trustedProxies,
    };
    await registerHostMeta(app, names);
    if (!config.webClient) return;
    const origin = originResolver(names);

    const assets = await ConverseAssets.load();
    const base = clientBase(config.webClientPath);
    const page = generated(clientPageHtml(assets.version), 'text/html; charset=utf-8');
    const script = (registration: WebConfig['registration']) =>
      generated(
        clientInitScript({ ...config, registration }, assets.version),
        'text/javascript; charset=utf-8',
      );
    // Strom offers registration only on secure streams; a form that the stream then refuses
    // would leave Converse retrying, so it is shown only where it will work.
    const withRegistration = script(config.registration);
    const withoutRegistration = script('closed');

    if (base !== config.webClientPath) {
      // Relative, so a proxy's path prefix survives: /chat → chat/ → /chat/ (or /prefix/chat/).
      const lastSegment = config.webClientPath.slice(config.webClientPath.lastIndexOf('/') + 1);
      app.get(config.webClientPath, async (_request, reply) =>
        reply.headers(SECURITY_HEADERS).redirect(`${lastSegment}/`, 302),
      );
    }
    app.get(base, async (request, reply) => {
      // Only configured names go into the policy, never an arbitrary Host header.
      reply.header('content-security-policy', contentSecurityPolicy(origin(request)?.host));
      return sendGenerated(request, reply, page);
    });
    app.get(`${base}converse-init.js`, async (request, reply) => {
      const init = isSecureRequest(request) ? withRegistration : withoutRegistration;
      // The answer depends on how the request arrived, so shared caches must not keep it.
      return sendGenerated(request, reply, init, 'private, no-cache');
    });
    app.get<{ Params: { '*': string } }>(
      `${base}${assetsFolder(assets.version)}*`,
      async (request, reply) => {
        reply.headers(SECURITY_HEADERS);
        return assets.serve(request, reply, request.params['*']);
      },
    );
  },
  { name: 'strom-web' },
);
