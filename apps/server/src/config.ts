import path from 'node:path';
import { type AddressList, type AnyModule, bindModule, resolveSettings, setting } from '@strom/core';
import { defaultModules } from '@strom/modules';
import type { StorageOptions } from '@strom/storage';

/**
 * The server's own settings, with their environment variables; `.env.example` documents the same
 * list. Modules declare and read their own settings (`settings` in each module) from `env`.
 */
export interface Config {
  /** The environment the configuration was read from; modules take their settings from it. */
  env: Env;
  /** The modules to load. */
  modules: AnyModule[];
  domain: string;
  host: string;
  port: number;
  websocketPath: string;
  dataDir: string;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  redisUrl: string | undefined;
  redisKeyPrefix: string;
  nodeId: string | undefined;
  /** How often a node renews its liveness key in Redis. */
  clusterHeartbeatMs: number;
  /**
   * How long a node's liveness key lives without renewal. A node that dies leaves the directory
   * within this TTL plus one sweep (the sweep runs every min(heartbeat, 2 s)): 12 s with the defaults.
   */
  clusterNodeTtlMs: number;
  trustedProxies: string[];
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Whether the web page offers account creation (the register module reads the same variable). */
  registration: 'open' | 'closed';
  maxStanzaBytes: number;
  pingIntervalMs: number;
  deadPeerTimeoutMs: number;
  /**
   * Time a connection has to log in (authenticate and bind) from when it connects, or from its last
   * in-band registration request; also the time allowed for an HTTP request's headers and a TLS
   * handshake, so upgrades that never complete are dropped too.
   */
  authTimeoutMs: number;
  /** Open client connections on this node, WebSocket and TCP together (0: no limit). */
  maxConnections: number;
  /** Open client connections from one address (an IPv6 /64); 0: no limit. */
  maxConnectionsPerAddress: number;
  /** New client connections per second from one address (an IPv6 /64); 0: no limit. */
  connectionRatePerAddress: number;
  shutdownRedirectUrl: string | undefined;
  adminSocket: string;
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  /** Certificate for XMPP's own TLS (TCP clients, later servers); defaults to TLS_CERT_FILE/TLS_KEY_FILE. */
  xmppCertFile: string | undefined;
  xmppKeyFile: string | undefined;
  /** XMPP over TCP for native clients: on, off, or on when a certificate is configured. */
  c2s: 'on' | 'off' | 'auto';
  /** RFC 6120 port with STARTTLS. */
  c2sPort: number;
  /** XEP-0368 direct TLS port. */
  c2sDirectTlsPort: number;
  c2sDirectTls: boolean;
  /** Native clients must encrypt before anything else (STARTTLS required). */
  c2sRequireTls: boolean;
  publicUrl: string | undefined;
  webClient: boolean;
  webClientPath: string;
  /** Shows `/health/ready` details to callers that are not local (`Authorization: Bearer …`). */
  healthToken: string | undefined;
  /** Failed-login throttling (`AUTH_THROTTLE_*`); shared through Redis when `REDIS_URL` is set. */
  authThrottle: AuthThrottleConfig;
}

export interface AuthThrottleConfig {
  /** Failures of one account from one address before its logins from there are delayed. */
  freeAttempts: number;
  /** Delay after the first failure beyond the free ones; it doubles with each further failure. */
  baseDelayMs: number;
  /** Longest delay for one account from one address. */
  maxDelayMs: number;
  /** How long an account's failures from one address are remembered after the latest. */
  windowMs: number;
  /** Failures from one address, for any accounts, within `addressWindowMs` that block it. */
  addressFailures: number;
  addressWindowMs: number;
  /** How long a blocked address is refused. */
  addressBlockMs: number;
  /** Addresses and ranges the per-address limit does not apply to. */
  exempt: AddressList;
}

/** `AUTH_THROTTLE_*`: read like module settings, so bad values are reported the same way. */
const AUTH_THROTTLE_SETTINGS = {
  freeAttempts: setting.int('AUTH_THROTTLE_FREE_ATTEMPTS', 3, 0, 1000),
  baseDelay: setting.int('AUTH_THROTTLE_BASE_DELAY', 1, 1, 3600),
  maxDelay: setting.int('AUTH_THROTTLE_MAX_DELAY', 60, 1, 86_400),
  window: setting.int('AUTH_THROTTLE_WINDOW', 900, 1, 86_400),
  addressFailures: setting.int('AUTH_THROTTLE_ADDRESS_FAILURES', 20, 1, 1_000_000),
  addressWindow: setting.int('AUTH_THROTTLE_ADDRESS_WINDOW', 60, 1, 86_400),
  addressBlock: setting.int('AUTH_THROTTLE_ADDRESS_BLOCK', 300, 1, 86_400),
  exempt: setting.addresses('AUTH_THROTTLE_EXEMPT'),
};

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Reads and validates the configuration; any bad value is reported by name with what is expected. */
export function loadConfig(env: Env = process.env, modules: AnyModule[] = defaultModules()): Config {
  const errors: string[] = [];
  const str = (name: string, fallback: string): string => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? fallback : value;
  };
  const optional = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = optional(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      errors.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const raw = optional(name);
    if (raw === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      errors.push(`${name} must be one of ${allowed.join(', ')} (got "${raw}")`);
      return fallback;
    }
    return raw as T;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = optional(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    errors.push(`${name} must be true or false (got "${raw}")`);
    return fallback;
  };
  const url = (name: string, protocols: string[]): string | undefined => {
    const raw = optional(name);
    if (raw === undefined) return undefined;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) throw new Error();
      return raw;
    } catch {
      errors.push(`${name} must be a ${protocols.join(' or ')} URL`);
      return undefined;
    }
  };
  const urlPath = (name: string, fallback: string): string => {
    const value = str(name, fallback);
    if (!/^\/[A-Za-z0-9._~\-/]*$/.test(value)) {
      errors.push(`${name} must be a URL path starting with "/" (got "${value}")`);
      return fallback;
    }
    return value;
  };

  const domain = str('XMPP_DOMAIN', 'localhost').toLowerCase();
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(domain)) {
    errors.push(`XMPP_DOMAIN must be a DNS domain name (got "${domain}")`);
  }
  const dataDir = path.resolve(str('DATA_DIR', './data'));
  const trustedProxies = (optional('TRUSTED_PROXIES') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const proxy of trustedProxies) {
    if (
      !/^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(proxy) &&
      !['loopback', 'linklocal', 'uniquelocal'].includes(proxy)
    ) {
      errors.push(`TRUSTED_PROXIES entries must be IP addresses or CIDR ranges (got "${proxy}")`);
    }
  }
  const tlsCertFile = optional('TLS_CERT_FILE');
  const tlsKeyFile = optional('TLS_KEY_FILE');
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) {
    errors.push('TLS_CERT_FILE and TLS_KEY_FILE must be set together');
  }
  if ((optional('XMPP_CERT_FILE') === undefined) !== (optional('XMPP_KEY_FILE') === undefined)) {
    errors.push('XMPP_CERT_FILE and XMPP_KEY_FILE must be set together');
  }
  const pingIntervalMs = int('PING_INTERVAL', 25, 1, 3600) * 1000;
  const clusterHeartbeatMs = int('CLUSTER_HEARTBEAT_MS', 3000, 50, 60_000);
  const clusterNodeTtlMs = int('CLUSTER_NODE_TTL_MS', 10_000, 100, 600_000);
  // A TTL shorter than two heartbeats lets one late heartbeat declare a healthy node dead.
  if (clusterNodeTtlMs < 2 * clusterHeartbeatMs) {
    errors.push(
      `CLUSTER_NODE_TTL_MS must be at least twice CLUSTER_HEARTBEAT_MS (got ${clusterNodeTtlMs} and ${clusterHeartbeatMs})`,
    );
  }

  const throttle = resolveSettings(AUTH_THROTTLE_SETTINGS, env, errors);

  // Module settings are checked here too, so every bad value is reported at once, before start.
  // Two modules may read one variable: each bad value is named once.
  const moduleErrors: string[] = [];
  // The bind module is one of the server's own stream modules (MAX_SESSIONS_PER_ACCOUNT).
  for (const module of [bindModule, ...modules]) resolveSettings(module.settings ?? {}, env, moduleErrors);
  for (const error of new Set(moduleErrors)) errors.push(error);

  const config: Config = {
    env: { ...env },
    modules,
    domain,
    host: str('HOST', '127.0.0.1'),
    port: int('PORT', 5280, 0, 65535),
    websocketPath: urlPath('WEBSOCKET_PATH', '/xmpp-websocket'),
    dataDir,
    databaseUrl: url('DATABASE_URL', ['postgres:', 'postgresql:']),
    databasePoolSize: int('DATABASE_POOL_SIZE', 10, 1, 1000),
    redisUrl: url('REDIS_URL', ['redis:', 'rediss:']),
    redisKeyPrefix: str('REDIS_KEY_PREFIX', 'strom:'),
    nodeId: optional('NODE_ID'),
    clusterHeartbeatMs,
    clusterNodeTtlMs,
    trustedProxies,
    logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    registration: oneOf('REGISTRATION', ['open', 'closed'] as const, 'open'),
    maxStanzaBytes: int('MAX_STANZA_SIZE', 262_144, 1024, 16 * 1024 * 1024),
    pingIntervalMs,
    deadPeerTimeoutMs: int('DEAD_PEER_TIMEOUT', 30, 1, 3600) * 1000,
    authTimeoutMs: int('AUTH_TIMEOUT', 30, 1, 3600) * 1000,
    // Generous per address: a university or company NAT puts thousands of honest users behind one.
    maxConnections: int('MAX_CONNECTIONS', 50_000, 0, 10_000_000),
    maxConnectionsPerAddress: int('MAX_CONNECTIONS_PER_ADDRESS', 1000, 0, 10_000_000),
    connectionRatePerAddress: int('CONNECTION_RATE_PER_ADDRESS', 50, 0, 1_000_000),
    shutdownRedirectUrl: url('SHUTDOWN_REDIRECT_URL', ['ws:', 'wss:']),
    adminSocket: path.resolve(str('ADMIN_SOCKET', path.join(dataDir, 'admin.sock'))),
    tlsCertFile,
    tlsKeyFile,
    xmppCertFile: optional('XMPP_CERT_FILE') ?? tlsCertFile,
    xmppKeyFile: optional('XMPP_KEY_FILE') ?? tlsKeyFile,
    c2s: oneOf('C2S', ['on', 'off', 'auto'] as const, 'auto'),
    c2sPort: int('C2S_PORT', 5222, 0, 65535),
    c2sDirectTlsPort: int('C2S_DIRECT_TLS_PORT', 5223, 0, 65535),
    c2sDirectTls: bool('C2S_DIRECT_TLS', true),
    c2sRequireTls: bool('C2S_REQUIRE_TLS', true),
    publicUrl: url('PUBLIC_URL', ['http:', 'https:']),
    webClient: bool('WEB_CLIENT', true),
    webClientPath: urlPath('WEB_CLIENT_PATH', '/'),
    healthToken: optional('HEALTH_TOKEN'),
    authThrottle: {
      freeAttempts: throttle.freeAttempts,
      baseDelayMs: throttle.baseDelay * 1000,
      maxDelayMs: throttle.maxDelay * 1000,
      windowMs: throttle.window * 1000,
      addressFailures: throttle.addressFailures,
      addressWindowMs: throttle.addressWindow * 1000,
      addressBlockMs: throttle.addressBlock * 1000,
      exempt: throttle.exempt,
    },
  };
  if (errors.length > 0) throw new ConfigError(`Invalid configuration:\n  - ${errors.join('\n  - ')}`);
  return config;
}

/** Loads KEY=VALUE lines from a .env file into the environment, never overriding what is already set. */
export async function loadDotEnv(file: string, env: Env = process.env): Promise<void> {
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return;
  }
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*([A-Z_][A-Z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match) continue;
    const [, key, rawValue] = match;
    const value = rawValue!.replace(/^(['"])(.*)\1$/, '$2');
    if (env[key!] === undefined) env[key!] = value;
  }
}

/** Whether the configuration asks for XMPP over TCP. */
export function c2sEnabled(config: Config): boolean {
  if (config.c2s === 'auto') return config.xmppCertFile !== undefined && config.xmppKeyFile !== undefined;
  return config.c2s === 'on';
}

/** Each module's settings as the configuration resolves them, by module name. */
export function moduleSettings(config: Config): Record<string, Record<string, unknown>> {
  const result: Record<string, Record<string, unknown>> = {};
  for (const module of config.modules) {
    if (module.settings === undefined || Object.keys(module.settings).length === 0) continue;
    result[module.name] = resolveSettings(module.settings, config.env, []);
  }
  return result;
}

/** Where the configuration keeps its data; the server, `strom migrate` and the CLI open the same. */
export function storageOptions(config: Config): StorageOptions {
  return { databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.databasePoolSize };
}
