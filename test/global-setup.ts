import net from 'node:net';

/**
 * Storage and cluster suites run against the real Postgres and Redis. When one of them is not
 * reachable the whole run stops here with a clear message instead of silently skipping suites.
 */
const services = [
  {
    name: 'PostgreSQL',
    url: process.env.STROM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  },
  { name: 'Redis', url: process.env.STROM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' },
];

function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export default async function setup(): Promise<void> {
  const missing: string[] = [];
  for (const service of services)
    if (!(await reachable(service.url))) missing.push(`${service.name} at ${service.url}`);
  if (missing.length > 0) {
    throw new Error(
      `Test services not reachable: ${missing.join(', ')}. Start them (see README, "Running the tests") ` +
        'or point STROM_TEST_DATABASE_URL / STROM_TEST_REDIS_URL at running instances.',
    );
  }
}
