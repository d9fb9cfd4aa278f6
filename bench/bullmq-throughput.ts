/**
 * One iterable job over N no-op items next to the same N items as N plain BullMQ jobs (addBulk + Worker with
 * concurrency 10), on the same Redis, in one run. Both sides are timed from the first add to the last completion.
 *
 *   npm run bench:bullmq:throughput      (ITEMS=200000 to change the size; REDIS_URL to point elsewhere)
 */
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { IterationWorker, enqueue } from '../src/bullmq/index.js';
import { IterableJob } from '../src/index.js';
import { timeOneJobPerItem } from './support.js';

const ITEMS = Number(process.env.ITEMS ?? 200_000);
const REDIS_URL = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const connection = { host: REDIS_URL.hostname, port: Number(REDIS_URL.port || 6379), maxRetriesPerRequest: null };

let sink = 0;

class NoOpItems extends IterableJob<{ items: number }, number, number> {
  static override jobName = 'no-op-items';
  *buildEnumerator(params: { items: number }, { cursor }: { cursor: number | undefined }): Generator<[number, number]> {
    for (let i = cursor === undefined ? 0 : cursor + 1; i < params.items; i++) yield [i, i];
  }
  eachIteration(item: number) {
    sink += item;
  }
}

async function iterable(): Promise<number> {
  const name = `ji-bench-iterable-${randomUUID()}`;
  const queue = new Queue(name, { connection });
  const worker = new IterationWorker(name, { jobs: [NoOpItems], connection, handleSignals: false });
  await worker.waitUntilReady();
  const done = new Promise<unknown>((resolve) => worker.on('completed', (_job, result) => resolve(result)));
  const started = performance.now();
  await enqueue(queue, NoOpItems, { items: ITEMS });
  const result = (await done) as { iterations: number };
  const ms = performance.now() - started;
  if (result.iterations !== ITEMS) throw new Error(`expected ${ITEMS} iterations, got ${result.iterations}`);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return ms;
}

async function plain(): Promise<number> {
  const name = `ji-bench-plain-${randomUUID()}`;
  const queue = new Queue(name, { connection });
  const worker = new Worker(
    name,
    async (job) => {
      sink += job.data.i as number;
    },
    { connection, concurrency: 10 },
  );
  return timeOneJobPerItem(queue, worker, ITEMS, 5000);
}

const iterableMs = await iterable();
const plainMs = await plain();
const ratio = plainMs / iterableMs;
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s (${Math.round(ITEMS / (ms / 1000)).toLocaleString('en-US')} items/s)`;
console.log(`${ITEMS.toLocaleString('en-US')} no-op items, Redis ${REDIS_URL.host}, node ${process.version}`);
console.log(`  one iterable job (IterationWorker):        ${fmt(iterableMs)}`);
console.log(`  ${ITEMS.toLocaleString('en-US')} plain BullMQ jobs (concurrency 10): ${fmt(plainMs)}`);
console.log(`  iterable job is ${ratio.toFixed(0)}x faster (target: at least 50x) ${ratio >= 50 ? 'PASS' : 'FAIL'}`);
if (sink < 0) console.log(sink);
process.exitCode = ratio >= 50 ? 0 : 1;
