import { type ProvisionResult, provisionAccounts } from './provision.js';
import type { RunContext } from './scenario.js';

/** Creates the accounts a scenario needs (per --provision), with progress on stderr. */
export async function prepareAccounts(ctx: RunContext, names: string[]): Promise<ProvisionResult> {
  const { options, progress } = ctx;
  if (options.provision === 'none') return { method: 'none', created: 0, existing: names.length, seconds: 0 };
  let done = 0;
  progress.phase('provisioning', () => `${done}/${names.length} accounts`);
  try {
    const result = await provisionAccounts(names, {
      method: options.provision,
      url: options.ws,
      domain: options.domain,
      password: options.password,
      concurrency: Math.min(options.concurrency, 20),
      timeoutMs: options.timeout * 1000,
      adminSocket: options.adminSocket,
      onProgress: (n) => {
        done = n;
      },
    });
    progress.log(
      `accounts ready (${result.method}): ${result.created} created, ${result.existing} already there (${result.seconds.toFixed(1)} s)`,
    );
    return result;
  } finally {
    progress.end();
  }
}

/** The endpoint of the i-th session: alternating between the nodes when a second one is given. */
export function alternatingUrl(ctx: RunContext): (index: number) => string {
  const { ws, ws2 } = ctx.options;
  return (index) => (ws2 !== undefined && index % 2 === 1 ? ws2 : ws);
}
