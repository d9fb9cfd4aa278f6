/**
 * Worker memory over one long iterable job: a fresh object per item, a checkpoint every 50 ms, run by an
 * IterationWorker against real Redis. Memory is sampled (after a GC when --expose-gc is on) at the start, at
 * every quarter and at the end; a flat line means the run holds nothing per item.
 *
 *   npm run bench:bullmq:memory      (ITEMS=1000000)
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { IterationWorker, enqueue } from '../src/bullmq/index.js';
import { IterableJob } from '../src/index.js';

const ITEMS = Number(process.env.ITEMS ?? 1_000_000);
const REDIS_URL = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const connection = { host: REDIS_URL.hostname, port: Number(REDIS_URL.port || 6379), maxRetriesPerRequest: null };
const gc = (globalThis as { gc?: () => void }).gc;

interface Sample {
  at: string;
  rssMb: number;
  heapMb: number;
}
const samples: Sample[] = [];
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
function sample(at: string): void {
  gc?.();
  const m = process.memoryUsage();
  samples.push({ at, rssMb: mb(m.rss), heapMb: mb(m.heapUsed) });
}

let sink = 0;

class Rows extends IterableJob<{ items: number }, { id: number; name: string; tags: string[] }, number> {
  static override jobName = 'rows';
  async *buildEnumerator(params: { items: number }, { cursor }: { cursor: number | undefined }) {
    for (let i = cursor === undefined ? 0 : cursor + 1; i < params.items; i++) {
      yield [{ id: i, name: `row-${i}`, tags: ['a', 'b'] }, i] as [{ id: number; name: string; tags: string[] }, number];
    }
  }
  async eachIteration(row: { id: number; name: string; tags: string[] }) {
    sink += row.name.length + row.tags.length;
    if (row.id > 0 && row.id % (ITEMS / 4) === 0) sample(`${(row.id / ITEMS) * 100}%`);
  }
}

const name = `ji-bench-memory-${randomUUID()}`;
const queue = new Queue(name, { connection });
// Checkpoints every 50 ms so the run persists many times while it is measured.
const worker = new IterationWorker(name, { jobs: [Rows], connection, handleSignals: false, checkpointIntervalMs: 50 });
await worker.waitUntilReady();
sample('start');
const done = new Promise<void>((resolve) => worker.on('completed', () => resolve()));
const started = performance.now();
await enqueue(queue, Rows, { items: ITEMS });
await done;
const ms = performance.now() - started;
sample('end');
await worker.close();
await queue.obliterate({ force: true });
await queue.close();

console.log(`${ITEMS.toLocaleString('en-US')}-item job in ${(ms / 1000).toFixed(2)} s, node ${process.version}${gc ? ', sampled after gc()' : ''}`);
for (const s of samples) console.log(`  ${s.at.padEnd(5)}  rss ${String(s.rssMb).padStart(6)} MB   heap used ${String(s.heapMb).padStart(6)} MB`);
const heapGrowth = samples.at(-1)!.heapMb - samples[0]!.heapMb;
console.log(`  heap growth start to end: ${heapGrowth.toFixed(1)} MB`);
if (sink < 0) console.log(sink);
