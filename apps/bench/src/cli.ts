#!/usr/bin/env node
import { helpText, parseArgs, UsageError } from './args.js';
import { runBench } from './bench.js';
import { formatNumber, renderTable } from './format.js';
import { SCENARIOS } from './scenarios/index.js';

async function main(argv: string[]): Promise<number> {
  const options = parseArgs(argv);
  if (options.help || options.scenario === '') {
    console.log(helpText(SCENARIOS));
    return options.help ? 0 : 2;
  }
  const result = await runBench(options);
  if (options.json) {
    const { rows: _rows, ...rest } = result;
    process.stdout.write(`${JSON.stringify(rest, null, 2)}\n`);
  } else {
    const title = `${result.scenario} against ${result.target.ws}${result.target.ws2 ? ` + ${result.target.ws2}` : ''}`;
    process.stdout.write(
      renderTable(title, [
        ...result.rows,
        {
          label: 'tool CPU, whole run',
          value: `${formatNumber(result.tool.cpuSeconds)} s in ${formatNumber(result.seconds, 1)} s`,
        },
      ]),
    );
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`error: ${err.message}\n(see --help)`);
      process.exit(2);
    }
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
