import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests import workspace packages from their TypeScript sources, so a test run never depends on a stale build.
const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/** Protocol feature suites that log in through the harness's client, run over both transports. */
const TCP_SUITES = [
  'harness',
  'roster',
  'presence',
  'subscriptions',
  'messages',
  'offline',
  'vcard',
  'blocking',
  'last-activity',
  'pep',
  'bookmarks',
  'avatar-sync',
  'carbons',
];

export default defineConfig({
  resolve: {
    alias: [{ find: /^@strom\/([a-z-]+)$/, replacement: src('./packages/$1/src/index.ts') }],
  },
  test: {
    // Everything once over WebSocket; the protocol feature suites once more with clients on TCP
    // (RFC 6120 with STARTTLS), so both transports are held to the same behaviour.
    projects: [
      {
        extends: true,
        test: {
          name: 'websocket',
          include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'apps/*/test/**/*.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'tcp',
          include: TCP_SUITES.map((suite) => `apps/server/test/${suite}.test.ts`),
          env: { STROM_TEST_TRANSPORT: 'tcp' },
        },
      },
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    globalSetup: ['./test/global-setup.ts'],
  },
});
