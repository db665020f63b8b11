import pino, { type Logger } from 'pino';

/**
 * Strom's logs carry no IP addresses and no message contents by default: requests are never
 * logged, and the redaction list covers the fields where such data could slip in.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'strom' },
    redact: {
      paths: [
        'ip',
        'ips',
        'remoteAddress',
        'req.ip',
        'req.remoteAddress',
        'req.headers["x-forwarded-for"]',
        'req.headers["x-real-ip"]',
        'stanza',
        'body',
        'password',
      ],
      censor: '[redacted]',
    },
    serializers: {
      req: (req: { method?: string; url?: string }) => ({ method: req.method, url: req.url }),
    },
  });
}

export type { Logger };
