/**
 * Interruption checks must cost next to nothing. Compares a bare `for await` over an async generator with
 * `runInline` of a job with a no-op body over the same generator, alternating the two in one process so that
 * JIT warm-up and machine noise hit both sides alike. Every registered adapter is consulted (the default).
 *
 *   npm run bench            (ITEMS=2000000 ROUNDS=9 to change the size)
 */
import { IterableJob, InterruptionAdapters, runInline } from '../src/index.js';
import { inTurn, median } from './support.js';

const ITEMS = Number(process.env.ITEMS ?? 2_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 9);

async function* numbers(from: number, to: number): AsyncGenerator<[number, number]> {
  for (let i = from; i < to; i++) yield [i, i];
}

let sink = 0;

class NoOp extends IterableJob<{ n: number }, number, number> {
  buildEnumerator(params: { n: number }, { cursor }: { cursor: number | undefined }) {
    return numbers(cursor === undefined ? 0 : cursor + 1, params.n);
  }
  async eachIteration(item: number) {
    sink += item;
  }
}

async function bare(): Promise<number> {
  const t = performance.now();
  for await (const [item] of numbers(0, ITEMS)) sink += item;
  return ITEMS / ((performance.now() - t) / 1000);
}

async function engine(): Promise<number> {
  const t = performance.now();
  const result = await runInline(NoOp, { n: ITEMS });
  if (result.state.iterations !== ITEMS) throw new Error(`expected ${ITEMS} iterations, got ${result.state.iterations}`);
  return ITEMS / ((performance.now() - t) / 1000);
}

const fmt = (n: number) => `${(n / 1e6).toFixed(2)}M items/s`;
console.log(`engine overhead: ${ITEMS} items, ${ROUNDS} alternating rounds, adapters consulted: ${InterruptionAdapters.list().join(', ')}`);
// One warm-up pair first, so both sides are compiled by the optimizing tier before anything is counted.
await bare();
await engine();
const { a: bareRates, b: engineRates } = await inTurn(ROUNDS, bare, engine, (round, b, e) =>
  console.log(`round ${round}: bare for-await ${fmt(b)}   runInline ${fmt(e)}   ratio ${(e / b).toFixed(2)}`),
);
const ratios = bareRates.map((b, i) => engineRates[i]! / b);
console.log(
  `median: bare for-await ${fmt(median(bareRates))}   runInline ${fmt(median(engineRates))}   ` +
    `median ratio ${median(ratios).toFixed(2)} (target >= 0.50)`,
);
if (sink < 0) console.log(sink);
