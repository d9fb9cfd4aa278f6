/**
 * Per-job concurrency for slow items: the same job over items that each wait 20 ms (an HTTP call, a slow query),
 * with `concurrency` 1 against 16, alternating in one process. Ideal speed-up: 16x.
 *
 *   npm run bench:concurrency      (ITEMS=320 LATENCY_MS=20 CONCURRENCY=16 ROUNDS=3 to change it)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { IterableJob, fromArray, runInline } from '../src/index.js';
import { median } from './support.js';

const ITEMS = Number(process.env.ITEMS ?? 320);
const LATENCY_MS = Number(process.env.LATENCY_MS ?? 20);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const ROUNDS = Number(process.env.ROUNDS ?? 3);

const items = Array.from({ length: ITEMS }, (_, i) => i);

class Slow extends IterableJob<object, number, number> {
  buildEnumerator(_params: object, { cursor }: { cursor: number | undefined }) {
    return fromArray(items, { cursor });
  }
  async eachIteration() {
    await sleep(LATENCY_MS);
  }
}

async function itemsPerSecond(concurrency: number): Promise<number> {
  const t = performance.now();
  const result = await runInline(Slow, {}, { concurrency, adapters: [] });
  if (result.state.iterations !== ITEMS) throw new Error(`expected ${ITEMS} items, got ${result.state.iterations}`);
  return ITEMS / ((performance.now() - t) / 1000);
}

const serial: number[] = [];
const parallel: number[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  serial.push(await itemsPerSecond(1));
  parallel.push(await itemsPerSecond(CONCURRENCY));
  console.log(`round ${round}: concurrency 1 ${serial.at(-1)!.toFixed(1)} items/s, concurrency ${CONCURRENCY} ${parallel.at(-1)!.toFixed(1)} items/s`);
}
const ratio = median(parallel) / median(serial);
console.log(`\n${ITEMS} items of ${LATENCY_MS} ms, median of ${ROUNDS} rounds`);
console.log(`  concurrency 1:  ${median(serial).toFixed(1)} items/s (ideal ${(1000 / LATENCY_MS).toFixed(1)})`);
console.log(`  concurrency ${CONCURRENCY}: ${median(parallel).toFixed(1)} items/s (ideal ${((1000 / LATENCY_MS) * CONCURRENCY).toFixed(1)})`);
console.log(`  speed-up: ${ratio.toFixed(2)}x (ideal ${CONCURRENCY}x)`);
