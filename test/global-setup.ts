import { describeUnreachable, unreachableServices } from '../scripts/test-prerequisites.mjs';

/**
 * Storage and cluster suites run against the real Postgres and Redis. When one of them is not
 * reachable the whole run stops here with a clear message instead of silently skipping suites.
 * The check is the one `npm test` runs first (scripts/test-prerequisites.mjs), so a plain
 * `npx vitest run` stops the same way.
 */
export default async function setup(): Promise<void> {
  const missing = await unreachableServices();
  if (missing.length > 0) {
    throw new Error(
      `Test services not reachable: ${describeUnreachable(missing)}. Start them (see README, "Running the tests") ` +
        'or point STROM_TEST_DATABASE_URL / STROM_TEST_REDIS_URL at running instances.',
    );
  }
}
