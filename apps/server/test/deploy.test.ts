import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loopbackNginxConf,
  nginxConfigTest,
  readShippedNginxConf,
  selfSignedCertificate,
} from './nginx-conf.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const DOCKERFILE = path.join(ROOT, 'Dockerfile');

/**
 * The deployment files, checked without a container engine: docker-compose (Debian's package)
 * validates the compose file, nginx (Debian's) validates the proxy configuration. Missing tools fail
 * the test: .ci/run installs both.
 */
describe('deployment files', () => {
  const compose = (...args: string[]) =>
    run('docker-compose', ['-f', COMPOSE_FILE, ...args], {
      cwd: ROOT,
      // Only the file's own defaults: a developer's shell must not change what is validated.
      env: { PATH: process.env.PATH },
    });

  it('docker-compose.yml is valid', async () => {
    const { stdout, stderr } = await compose('config', '-q');
    expect(stdout).toBe('');
    expect(stderr).toBe('');
    const services = (await compose('config', '--services')).stdout.trim().split('\n').sort();
    expect(services).toEqual(['nginx', 'postgres', 'redis', 'strom-a', 'strom-b']);
  });

  it('docker-compose.yml runs two nodes of one service behind nginx', async () => {
    const { stdout } = await compose('config');
    const nodeSection = (name: string) => {
      const start = stdout.indexOf(`\n  ${name}:\n`);
      expect(start, `service ${name}`).toBeGreaterThan(-1);
      const end = stdout.slice(start + 1).search(/\n {2}\S/);
      return stdout.slice(start, end === -1 ? undefined : start + 1 + end);
    };
    const [a, b] = [nodeSection('strom-a'), nodeSection('strom-b')];
    expect(a).toContain('NODE_ID: node-a');
    expect(b).toContain('NODE_ID: node-b');
    for (const node of [a, b]) {
      expect(node).toContain('XMPP_DOMAIN: localhost');
      expect(node).toContain('DATABASE_URL: postgres://strom:strom@postgres:5432/strom');
      expect(node).toContain('REDIS_URL: redis://redis:6379');
      expect(node).toContain('TRUSTED_PROXIES: 172.28.0.10');
      expect(node).toContain('SHUTDOWN_REDIRECT_URL: wss://localhost/xmpp-websocket');
      expect(node).toContain('PUBLIC_URL: https://localhost');
    }
    const nginx = nodeSection('nginx');
    expect(nginx).toContain('ipv4_address: 172.28.0.10');
    expect(nginx).toContain('/deploy/nginx.conf:/etc/nginx/nginx.conf:ro');
  });

  describe('deploy/nginx.conf', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'strom-nginx-t-'));
      await chmod(dir, 0o755);
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('passes nginx -t with its hosts and certificate paths pointed at this machine', async () => {
      const { certFile, keyFile } = await selfSignedCertificate(path.join(dir, 'certs'));
      const conf = loopbackNginxConf(await readShippedNginxConf(), {
        upstreams: [15281, 15282],
        httpPort: 18080,
        httpsPort: 18443,
        certFile,
        keyFile,
        prefix: dir,
      });
      const confFile = path.join(dir, 'nginx.conf');
      await writeFile(confFile, conf);
      const output = await nginxConfigTest(confFile, dir);
      expect(output).toContain('syntax is ok');
      expect(output).toContain('test is successful');
    });

    it('keeps WebSockets open beyond the ping interval and forwards what Strom trusts', async () => {
      const conf = await readShippedNginxConf();
      expect(conf).toMatch(/proxy_http_version 1\.1;/);
      expect(conf).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
      expect(conf).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
      expect(conf).toMatch(/proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/);
      expect(conf).toMatch(/proxy_set_header X-Forwarded-Proto \$scheme;/);
      expect(conf).toMatch(/proxy_set_header X-Forwarded-Host \$host;/);
      const readTimeout = /proxy_read_timeout (\d+)s;/.exec(conf);
      // PING_INTERVAL defaults to 25 s.
      expect(Number(readTimeout?.[1])).toBeGreaterThan(25);
    });
  });

  describe('Dockerfile', () => {
    let text: string;
    let stages: string[];
    beforeAll(async () => {
      text = (await readFile(DOCKERFILE, 'utf8')).replace(/\\\n/g, ' ');
      stages = text.split(/^FROM /m).slice(1);
    });

    it('builds in one stage and runs from a second with production dependencies only', () => {
      expect(stages).toHaveLength(2);
      const [build, runtime] = stages as [string, string];
      expect(build).toMatch(/AS build/);
      expect(build).toMatch(/npm ci .*&& npm run build/);
      expect(runtime).toMatch(/COPY --from=build /);
      expect(runtime).toMatch(/npm ci --omit=dev/);
      // The migrations ship with the image: Strom applies them at start.
      expect(build).toContain('packages/storage/drizzle');
      expect(existsSync(path.join(ROOT, 'packages/storage/drizzle/meta/_journal.json'))).toBe(true);
    });

    it('runs as an unprivileged user, listens on all interfaces and checks its own health', () => {
      const runtime = stages[1]!;
      expect(runtime).toMatch(/^USER node$/m);
      expect(runtime).toMatch(/HOST=0\.0\.0\.0/);
      expect(runtime).toMatch(/^EXPOSE 5280 5222 5223$/m);
      expect(runtime).toMatch(/^HEALTHCHECK .*CMD \["node", "-e", ".*\/health/m);
      expect(runtime).toMatch(/^CMD \["node", "apps\/server\/dist\/cli\.js", "serve"\]$/m);
      // The entry point it names is what the build produces.
      expect(existsSync(path.join(ROOT, 'apps/server/dist/cli.js'))).toBe(true);
    });

    it('is built from sources only (.dockerignore keeps local state out)', async () => {
      const ignored = (await readFile(path.join(ROOT, '.dockerignore'), 'utf8')).split('\n');
      for (const entry of ['**/node_modules', '**/dist', '.env', 'data', '.git'])
        expect(ignored).toContain(entry);
    });
  });
});
