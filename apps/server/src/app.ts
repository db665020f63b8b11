import { readFileSync } from 'node:fs';
import { createCluster, RedisThrottleStore } from '@strom/cluster';
import { XmppServer } from '@strom/core';
import { openStorage, type Storage } from '@strom/storage';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { AdminServer } from './admin.js';
import { type Config, c2sEnabled, storageOptions } from './config.js';
import { ConnectionLimits } from './connection-limits.js';
import { health } from './health.js';
import { createLogger, type Logger } from './logger.js';
import { TcpListener } from './tcp.js';
import { web } from './web/index.js';
import { xmppWebSocket } from './websocket.js';

export interface Strom {
  readonly config: Config;
  readonly http: FastifyInstance;
  readonly xmpp: XmppServer;
  readonly storage: Storage;
  readonly log: Logger;
  /** The port actually bound (useful with PORT=0). */
  port(): number;
  /** The TCP ports actually bound, when XMPP over TCP is on. */
  tcpPorts(): { port?: number; tlsPort?: number };
  /** Reads the TLS certificate files again (SIGHUP); new connections use them. */
  reloadCertificates(): void;
  /** Stops accepting, ends every stream (see-other-uri or system-shutdown), then closes storage. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Listen for `strom` CLI commands on the local admin socket (default true). */
  adminSocket?: boolean;
  logger?: Logger;
  /** An already opened storage (tests); closed by `stop()` like the one Strom opens itself. */
  storage?: Storage;
}

/**
 * The XMPP service a configuration describes, joined to its cluster (Redis or in-process), not yet
 * started. The server and the CLI's direct mode build it the same way.
 */
export function createXmppServer(config: Config, storage: Storage, log: Logger): XmppServer {
  const cluster = createCluster({
    redisUrl: config.redisUrl,
    nodeId: config.nodeId,
    keyPrefix: config.redisKeyPrefix,
    heartbeatMs: config.clusterHeartbeatMs,
    nodeTtlMs: config.clusterNodeTtlMs,
    // Survivors look for dead nodes as often as nodes beat (at most every 2 s), so short TTLs stay short.
    sweepMs: Math.min(2000, config.clusterHeartbeatMs),
    log: log.child({ component: 'cluster' }),
  });
  return new XmppServer({
    domain: config.domain,
    storage,
    cluster,
    log: log.child({ component: 'xmpp' }),
    limits: { maxStanzaBytes: config.maxStanzaBytes },
    modules: config.modules,
    env: config.env,
    authThrottle: {
      ...config.authThrottle,
      // With several nodes the counts live in Redis, so a client gains nothing by trying another node.
      ...(config.redisUrl
        ? { store: new RedisThrottleStore({ url: config.redisUrl, keyPrefix: config.redisKeyPrefix }) }
        : {}),
    },
  });
}

/** Builds and starts a Strom node from its configuration. */
export async function startStrom(config: Config, options: StartOptions = {}): Promise<Strom> {
  const log = options.logger ?? createLogger(config.logLevel);
  const storage = options.storage ?? (await openStorage(storageOptions(config)));
  const xmpp = createXmppServer(config, storage, log);
  try {
    await xmpp.start();
  } catch (err) {
    await storage.close();
    throw err;
  }

  const https =
    config.tlsCertFile && config.tlsKeyFile
      ? { cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile) }
      : null;
  const limits = new ConnectionLimits({
    maxConnections: config.maxConnections,
    maxPerAddress: config.maxConnectionsPerAddress,
    ratePerAddress: config.connectionRatePerAddress,
  });
  // Connections that never finish their request headers (half-open upgrades) are dropped with 408
  // after AUTH_TIMEOUT, as are TLS handshakes that never finish; Node checks a few times a timeout.
  const httpTimeouts = {
    headersTimeout: config.authTimeoutMs,
    requestTimeout: 0,
    connectionsCheckingInterval: Math.max(250, Math.min(config.authTimeoutMs / 4, 30_000)),
  };
  const http = Fastify({
    loggerInstance: log.child({ component: 'http' }),
    // Requests are never logged: their lines would carry client addresses.
    logController: new LogController({ disableRequestLogging: true }),
    // A WebSocket's upgrade request lives as long as the connection: no per-request child logger.
    childLoggerFactory: (logger) => logger,
    trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false,
    http: httpTimeouts,
    ...(https ? { https: { ...https, ...httpTimeouts, handshakeTimeout: config.authTimeoutMs } } : {}),
  }) as unknown as FastifyInstance;
  await http.register(health, { xmpp, token: config.healthToken });
  await http.register(web, { config });
  await http.register(xmppWebSocket, {
    xmpp,
    path: config.websocketPath,
    maxStanzaBytes: config.maxStanzaBytes,
    pingIntervalMs: config.pingIntervalMs,
    deadPeerTimeoutMs: config.deadPeerTimeoutMs,
    authTimeoutMs: config.authTimeoutMs,
    limits,
    log: log.child({ component: 'websocket' }),
    shutdownRedirectUrl: config.shutdownRedirectUrl,
  });

  const admin = options.adminSocket === false ? undefined : new AdminServer(config.adminSocket, xmpp, log);
  let tcp: TcpListener | undefined;
  try {
    if (c2sEnabled(config)) {
      tcp = new TcpListener({
        xmpp,
        host: config.host,
        port: config.c2sPort,
        tlsPort: config.c2sDirectTls ? config.c2sDirectTlsPort : undefined,
        certFile: config.xmppCertFile,
        keyFile: config.xmppKeyFile,
        requireTls: config.c2sRequireTls,
        keepaliveMs: config.pingIntervalMs,
        authTimeoutMs: config.authTimeoutMs,
        limits,
        log: log.child({ component: 'tcp' }),
      });
    }
    await http.listen({ host: config.host, port: config.port });
    await tcp?.listen();
    await admin?.listen();
  } catch (err) {
    await tcp?.close().catch(() => {});
    await http.close().catch(() => {});
    await xmpp.stop();
    await storage.close();
    throw err;
  }
  log.info({ domain: config.domain, port: (http.server.address() as { port: number }).port }, 'Strom is up');

  let stopping: Promise<void> | undefined;
  return {
    config,
    http,
    xmpp,
    storage,
    log,
    port: () => (http.server.address() as { port: number }).port,
    tcpPorts: () => tcp?.ports() ?? {},
    reloadCertificates: () => tcp?.reloadCertificates(),
    stop: () => {
      stopping ??= (async () => {
        await admin?.close();
        await tcp?.close();
        // Fastify's close runs the WebSocket plugin's preClose, which ends every stream properly
        // (TCP streams too: they are sessions of the same XMPP server).
        await http.close();
        await xmpp.stop();
        tcp?.destroyAll();
        await storage.close();
        log.info({}, 'Strom stopped');
      })();
      return stopping;
    },
  };
}
