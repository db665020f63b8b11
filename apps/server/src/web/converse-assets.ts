import { createReadStream, readFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, gzip, constants as zlib } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  // WebAssembly.instantiateStreaming insists on this exact type.
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.gif': 'image/gif',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ttf': 'font/ttf',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
};
const COMPRESSIBLE = new Set(['.js', '.mjs', '.css', '.json', '.map', '.wasm', '.svg', '.ico', '.ttf']);
/** Small files gain nothing from compression but a cache entry. */
const MIN_COMPRESS_BYTES = 1024;

/** The whole dist folder is immutable for a pinned version, so browsers may keep it for a year. */
export const IMMUTABLE_CACHE = 'public, max-age=31536000, immutable';

type Encoding = 'br' | 'gzip';

interface AssetFile {
  absolute: string;
  contentType: string;
  size: number;
  etag: string;
  compressible: boolean;
}

/** Where the installed converse.js package keeps its browser build, and its version. */
export function locateConverse(): { distDir: string; version: string } {
  const require = createRequire(import.meta.url);
  // The package's export map opens only dist/*, not package.json.
  const distDir = path.dirname(require.resolve('converse.js/dist/converse.min.js'));
  const pkg = JSON.parse(readFileSync(path.join(distDir, '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return { distDir, version: pkg.version };
}

/** Picks the best encoding the client accepts (RFC 9110 §12.5.3); `q=0` excludes one. */
export function preferredEncoding(acceptEncoding: string | undefined): Encoding | undefined {
  if (!acceptEncoding) return undefined;
  const accepted = new Set<string>();
  for (const part of acceptEncoding.split(',')) {
    const [token, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (q !== undefined && Number(q.slice(2)) === 0) continue;
    if (token) accepted.add(token);
  }
  if (accepted.has('br')) return 'br';
  if (accepted.has('gzip')) return 'gzip';
  return undefined;
}

/**
 * Converse's dist folder served from node_modules: only files that existed at startup are served
 * (so no path from a URL ever reaches the file system), compressed once on first request and
 * kept in memory, with strong ETags per encoding.
 */
export class ConverseAssets {
  private readonly compressed = new Map<string, Promise<Buffer>>();

  private constructor(
    readonly version: string,
    private readonly files: ReadonlyMap<string, AssetFile>,
  ) {}

  static async load(location = locateConverse()): Promise<ConverseAssets> {
    const files = new Map<string, AssetFile>();
    const entries = await readdir(location.distDir, { recursive: true, withFileTypes: true });
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const absolute = path.join(entry.parentPath, entry.name);
      const extension = path.extname(entry.name).toLowerCase();
      const contentType = CONTENT_TYPES[extension];
      if (contentType === undefined) continue;
      const info = await stat(absolute);
      const relative = path.relative(location.distDir, absolute).split(path.sep).join('/');
      files.set(relative, {
        absolute,
        contentType,
        size: info.size,
        etag: `${location.version}-${info.size.toString(36)}-${Math.floor(info.mtimeMs).toString(36)}`,
        compressible: COMPRESSIBLE.has(extension) && info.size >= MIN_COMPRESS_BYTES,
      });
    }
    return new ConverseAssets(location.version, files);
  }

  has(relativePath: string): boolean {
    return this.files.has(relativePath);
  }

  /** Answers a GET/HEAD for `relativePath` inside dist (404 when it is not one of the files). */
  async serve(request: FastifyRequest, reply: FastifyReply, relativePath: string): Promise<FastifyReply> {
    const file = this.files.get(relativePath);
    if (file === undefined) {
      return reply.code(404).type('text/plain; charset=utf-8').send('Not found\n');
    }
    const encoding = file.compressible ? preferredEncoding(request.headers['accept-encoding']) : undefined;
    const etag = `"${file.etag}${encoding ? `-${encoding}` : ''}"`;
    reply
      .header('cache-control', IMMUTABLE_CACHE)
      .header('etag', etag)
      .header('x-content-type-options', 'nosniff')
      .type(file.contentType);
    if (file.compressible) reply.header('vary', 'Accept-Encoding');
    if (matchesEtag(request.headers['if-none-match'], etag)) return reply.code(304).send();

    if (encoding === undefined) {
      // Fastify's HEAD route drains the stream and keeps this length.
      reply.header('content-length', file.size);
      return reply.send(createReadStream(file.absolute));
    }
    const body = await this.compressedBody(relativePath, file, encoding);
    reply.header('content-encoding', encoding).header('content-length', body.length);
    return reply.send(body);
  }

  private compressedBody(relativePath: string, file: AssetFile, encoding: Encoding): Promise<Buffer> {
    const key = `${encoding}:${relativePath}`;
    let body = this.compressed.get(key);
    if (body === undefined) {
      body = readFile(file.absolute).then((raw) =>
        encoding === 'br'
          ? brotli(raw, {
              params: {
                // Quality 9 compresses nearly as well as 11 at a fraction of the CPU time.
                [zlib.BROTLI_PARAM_QUALITY]: 9,
                [zlib.BROTLI_PARAM_SIZE_HINT]: raw.length,
              },
            })
          : gzipAsync(raw, { level: 9 }),
      );
      // A failed read must not poison the cache for later requests.
      body.catch(() => this.compressed.delete(key));
      this.compressed.set(key, body);
    }
    return body;
  }
}

function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
