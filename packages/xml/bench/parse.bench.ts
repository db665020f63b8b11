/**
 * Parse throughput of a typical one-to-one chat message through the shared frame parser.
 * Run with `npx tsx packages/xml/bench/parse.bench.ts`; prints numbers, asserts nothing.
 */
import { parseFrame, serialize } from '../src/index.js';

const CHAT_MESSAGE =
  "<message xmlns='jabber:client' to='juliet@capulet.lit/balcony' from='romeo@montague.lit/orchard' " +
  "type='chat' id='ktx72v49'><body>Art thou not Romeo, and a Montague?</body>" +
  "<active xmlns='http://jabber.org/protocol/chatstates'/></message>";

/** Best of several rounds, so that a busy machine disturbs the figure less. */
function measure(label: string, run: () => void): void {
  for (let i = 0; i < 20_000; i++) run(); // let the JIT settle
  const rounds = 10;
  const iterations = 20_000;
  let bestNs = Number.POSITIVE_INFINITY;
  for (let round = 0; round < rounds; round++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) run();
    bestNs = Math.min(bestNs, Number(process.hrtime.bigint() - started));
  }
  const perSecond = Math.round((iterations * 1e9) / bestNs);
  console.log(
    `${label}: ${perSecond.toLocaleString('en-US')} /s (${(bestNs / iterations / 1000).toFixed(2)} µs each)`,
  );
}

console.log(`chat message: ${Buffer.byteLength(CHAT_MESSAGE)} bytes`);
measure('parseFrame', () => parseFrame(CHAT_MESSAGE));
const parsed = parseFrame(CHAT_MESSAGE);
measure('serialize', () => serialize(parsed));
