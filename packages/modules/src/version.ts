import { readFileSync } from 'node:fs';
import { type AnyModule, defineModule, setting } from '@strom/core';
import { xml } from '@strom/xml';

export const NS_VERSION = 'jabber:iq:version';

/**
 * XEP-0092 software version of the server. The operating system is never reported (XEP-0092 §5):
 * it helps attackers more than anyone else.
 */
export const versionModule: AnyModule = defineModule({
  name: 'version',
  settings: {
    // Answer `service-unavailable` and advertise nothing, so scanners learn nothing.
    hideVersion: setting.bool('HIDE_VERSION', false, 'answer version queries with service-unavailable'),
  },
  setup(ctx, settings) {
    if (settings.hideVersion) return;
    const version = stromVersion();
    ctx.feature(NS_VERSION);
    ctx.iq('get', 'host', NS_VERSION, 'query', () =>
      xml('query', { xmlns: NS_VERSION }, xml('name', {}, 'Strom'), xml('version', {}, version)),
    );
  },
});

/**
 * The version in the repository's root package.json. This file sits at the same depth in `src/`
 * and `dist/` (packages/modules/<dir>/version.*), so one relative path serves both.
 */
export function stromVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      name?: unknown;
      version?: unknown;
    };
    if (manifest.name === 'strom' && typeof manifest.version === 'string') return manifest.version;
  } catch {
    // A deployment without the root manifest still answers; the version is just not known.
  }
  return 'unknown';
}
