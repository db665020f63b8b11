import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, moduleSettings } from './config.js';

describe('configuration', () => {
  it('has defaults a newcomer can run with', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      domain: 'localhost',
      host: '127.0.0.1',
      port: 5280,
      websocketPath: '/xmpp-websocket',
      databaseUrl: undefined,
      redisUrl: undefined,
      registration: 'open',
      maxStanzaBytes: 262144,
      pingIntervalMs: 25_000,
      logLevel: 'info',
    });
    expect(config.dataDir).toMatch(/data$/);
  });

  it('reads every setting from the environment', () => {
    const config = loadConfig({
      XMPP_DOMAIN: 'Chat.Example.ORG',
      PORT: '443',
      DATABASE_URL: 'postgres://u@db/strom',
      REDIS_URL: 'redis://cache:6379',
      TRUSTED_PROXIES: '10.0.0.1, 10.1.0.0/16',
      REGISTRATION: 'closed',
      LOG_LEVEL: 'warn',
      MAX_ROSTER_ITEMS: '50',
      OFFLINE_QUOTA: '20',
      MAX_VCARD_SIZE: '4096',
      HIDE_VERSION: 'yes',
    });
    expect(moduleSettings(config)).toMatchObject({
      register: { registration: 'closed' },
      roster: { maxRosterItems: 50 },
      offline: { quota: 20 },
      vcard: { maxVCardBytes: 4096 },
      version: { hideVersion: true },
    });
    expect(config.domain).toBe('chat.example.org');
    expect(config.port).toBe(443);
    expect(config.trustedProxies).toEqual(['10.0.0.1', '10.1.0.0/16']);
    expect(config.registration).toBe('closed');
  });

  it('names every bad value in one clear error', () => {
    const attempt = () =>
      loadConfig({
        PORT: 'eighty',
        LOG_LEVEL: 'loud',
        DATABASE_URL: 'mysql://x',
        XMPP_DOMAIN: 'not a domain',
      });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/PORT must be an integer/);
    expect(attempt).toThrow(/LOG_LEVEL must be one of/);
    expect(attempt).toThrow(/DATABASE_URL must be a postgres: or postgresql: URL/);
    expect(attempt).toThrow(/XMPP_DOMAIN must be a DNS domain name/);
  });

  it('requires TLS certificate and key together', () => {
    expect(() => loadConfig({ TLS_CERT_FILE: '/tmp/cert.pem' })).toThrow(/set together/);
  });

  it('reads the login throttle in seconds, with trusted addresses, and names bad values', () => {
    expect(loadConfig({}).authThrottle).toMatchObject({
      freeAttempts: 3,
      baseDelayMs: 1000,
      maxDelayMs: 60_000,
      windowMs: 900_000,
      addressFailures: 20,
      addressWindowMs: 60_000,
      addressBlockMs: 300_000,
    });
    const config = loadConfig({
      AUTH_THROTTLE_ADDRESS_FAILURES: '50',
      AUTH_THROTTLE_ADDRESS_BLOCK: '3600',
      AUTH_THROTTLE_EXEMPT: '127.0.0.1, 10.0.0.0/8',
    });
    expect(config.authThrottle).toMatchObject({ addressFailures: 50, addressBlockMs: 3_600_000 });
    expect(config.authThrottle.exempt.has('10.9.8.7')).toBe(true);
    expect(config.authThrottle.exempt.has('192.0.2.1')).toBe(false);
    const attempt = () => loadConfig({ AUTH_THROTTLE_EXEMPT: 'office', AUTH_THROTTLE_ADDRESS_FAILURES: '0' });
    expect(attempt).toThrow(/AUTH_THROTTLE_EXEMPT must list IP addresses or CIDR ranges/);
    expect(attempt).toThrow(/AUTH_THROTTLE_ADDRESS_FAILURES must be an integer from 1/);
  });
});
