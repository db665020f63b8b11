import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The nginx configuration shipped in the repository (what docker-compose.yml mounts). */
export const NGINX_CONF = fileURLToPath(new URL('../../../deploy/nginx.conf', import.meta.url));

export interface LoopbackSetup {
  /** Ports of the Strom nodes, in place of the compose service names. */
  upstreams: number[];
  httpPort: number;
  httpsPort: number;
  certFile: string;
  keyFile: string;
  /** nginx's prefix directory: temporary files go below it. */
  prefix: string;
}

/**
 * The shipped nginx.conf with only its environment swapped for this machine: loopback listeners,
 * loopback upstreams and a test certificate. Everything else (headers, timeouts, balancing) is
 * what a deployment gets. Fails when an expected line is missing, so the test follows the file.
 */
export function loopbackNginxConf(source: string, setup: LoopbackSetup): string {
  let conf = source;
  const replace = (pattern: RegExp, replacement: string | ((...args: string[]) => string)) => {
    if (!pattern.test(conf)) throw new Error(`deploy/nginx.conf no longer has ${pattern}`);
    conf = conf.replace(pattern, replacement as string);
  };
  const servers = [...conf.matchAll(/^(\s*)server strom-[\w-]+:5280([^;]*);\n/gm)];
  if (servers.length === 0) throw new Error('deploy/nginx.conf has no strom-* upstream servers');
  const [indent, params] = [servers[0]![1]!, servers[0]![2]!];
  const loopback = setup.upstreams.map((port) => `${indent}server 127.0.0.1:${port}${params};\n`).join('');
  conf = conf.replace(servers[0]![0], loopback);
  for (const server of servers.slice(1)) conf = conf.replace(server[0], '');
  replace(/listen 443 ssl;/, `listen 127.0.0.1:${setup.httpsPort} ssl;`);
  replace(/listen 80;/, `listen 127.0.0.1:${setup.httpPort};`);
  replace(/\/etc\/nginx\/certs\/fullchain\.pem/, setup.certFile);
  replace(/\/etc\/nginx\/certs\/privkey\.pem/, setup.keyFile);
  // Debian's build keeps temporary files under /var/lib/nginx; keep them in the test's own prefix.
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `  ${kind}_temp_path ${path.join(setup.prefix, `${kind}_temp`)};`)
    .join('\n');
  replace(/^http \{$/m, `http {\n${temp}`);
  return conf;
}

export async function readShippedNginxConf(): Promise<string> {
  return readFile(NGINX_CONF, 'utf8');
}

/** A self-signed certificate for 127.0.0.1 and localhost, made with Debian's openssl. */
export async function selfSignedCertificate(dir: string): Promise<{ certFile: string; keyFile: string }> {
  await mkdir(dir, { recursive: true });
  const certFile = path.join(dir, 'fullchain.pem');
  const keyFile = path.join(dir, 'privkey.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
  return { certFile, keyFile };
}

/** nginx's command line for a configuration under `prefix`: errors to stderr, the pid file in the prefix. */
function nginxArgs(confFile: string, prefix: string, directives = ''): string[] {
  return [
    '-p',
    prefix,
    '-c',
    confFile,
    '-e',
    'stderr',
    '-g',
    `${directives}pid ${path.join(prefix, 'nginx.pid')};`,
  ];
}

/** `nginx -t`: resolves with its output, rejects with it when the configuration is invalid. */
export async function nginxConfigTest(confFile: string, prefix: string): Promise<string> {
  const { stdout, stderr } = await run('nginx', ['-t', ...nginxArgs(confFile, prefix)]);
  return stdout + stderr;
}

export interface RunningNginx {
  readonly process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** nginx in the foreground with the given configuration; resolves once it accepts connections. */
export async function startNginx(confFile: string, prefix: string, port: number): Promise<RunningNginx> {
  const child = spawn('nginx', nginxArgs(confFile, prefix, 'daemon off; '), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnFailed = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject(new Error(`could not run nginx: ${error.message}`)));
    void exited.then(() => reject(new Error(`nginx exited at start:\n${output}`)));
  });
  // Only the race below reads it; once nginx is up, its later exit is expected.
  spawnFailed.catch(() => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await Promise.race([accepts(port), spawnFailed]);
    if (up) break;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port}:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    process: child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
