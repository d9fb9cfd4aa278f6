/**
 * What a step costs per item: the same enumeration run as a plain job and as the iteration step of a step job
 * (between a plain step before it and one after), with a no-op body, the worst case: any real work per item makes
 * the difference smaller still. The two sides alternate in one process, so JIT warm-up and noise hit both alike.
 *
 *   npm run bench:steps      (ITEMS=1000000 ROUNDS=7 to change the size)
 */
import { IterableJob, StepJob, runInline, type IterableJobClass, type Step } from '../src/index.js';
import { inTurn, median } from './support.js';

const ITEMS = Number(process.env.ITEMS ?? 1_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 7);

function* numbers(from: number, to: number): Generator<[number, number]> {
  for (let i = from; i < to; i++) yield [i, i];
}

let sink = 0;

class Plain extends IterableJob<{ n: number }, number, number> {
  buildEnumerator(params: { n: number }, { cursor }: { cursor: number | undefined }) {
    return numbers(cursor === undefined ? 0 : cursor + 1, params.n);
  }
  eachIteration(item: number) {
    sink += item;
  }
}

const STEPS: Step<{ n: number }>[] = [
  { name: 'before', run: () => void sink++ },
  {
    name: 'items',
    buildEnumerator: (params, { cursor }: { cursor: number | undefined }) => numbers(cursor === undefined ? 0 : cursor + 1, params.n),
    eachIteration: (item: number) => void (sink += item),
  },
  { name: 'after', run: () => void sink++ },
];

class Stepped extends StepJob<{ n: number }> {
  static override steps = STEPS;
}

async function rate(JobClass: IterableJobClass, expected: number): Promise<number> {
  const t = performance.now();
  const result = await runInline(JobClass, { n: ITEMS }, { adapters: [] });
  if (result.state.iterations !== expected) throw new Error(`expected ${expected} iterations, got ${result.state.iterations}`);
  return ITEMS / ((performance.now() - t) / 1000);
}

const fmt = (n: number) => `${(n / 1e6).toFixed(2)}M items/s`;
// The step job's iterations are the items, the two plain steps and the iteration step's end.
const plain = () => rate(Plain, ITEMS);
const stepped = () => rate(Stepped, ITEMS + 3);
console.log(`steps overhead: ${ITEMS} no-op items, ${ROUNDS} alternating rounds, default checkpoint interval`);
await plain();
await stepped();
const { a: plainRates, b: steppedRates } = await inTurn(ROUNDS, plain, stepped, (round, p, s) =>
  console.log(`round ${round}: plain job ${fmt(p)}   step job ${fmt(s)}   ratio ${(s / p).toFixed(2)}   ${(1e9 / s - 1e9 / p).toFixed(0)} ns more per item`),
);
const p = median(plainRates);
const s = median(steppedRates);
const extraNs = 1e9 / s - 1e9 / p;
console.log(`median: plain job ${fmt(p)}   step job ${fmt(s)}   ratio ${(s / p).toFixed(2)}   ${extraNs.toFixed(0)} ns more per item`);
console.log(`against an item that takes 1 ms: ${((extraNs / 1e6) * 100).toFixed(2)}% more time per item`);
if (sink < 0) console.log(sink);
