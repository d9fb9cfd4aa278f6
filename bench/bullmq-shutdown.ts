/**
 * SIGTERM-to-exit of a worker process with JOBS active jobs of ITEM_MS items, for an IterationWorker (the jobs go
 * back to the queue with their cursors) next to plain BullMQ on the same workload (`worker.close()` waits for the
 * jobs to finish). Each side runs ROUNDS times; the SIGTERM is sent SIGNAL_AFTER_MS after all jobs are active.
 *
 *   npm run bench:bullmq:shutdown      (JOBS=50 ITEM_MS=10 ITEMS=300 ROUNDS=5)
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { enqueue, listIterableJobs } from '../src/bullmq/index.js';
import { Sequence } from '../test/fixtures/bullmq-jobs.js';
import { median } from './support.js';

const JOBS = Number(process.env.JOBS ?? 50);
const ITEM_MS = Number(process.env.ITEM_MS ?? 10);
const ITEMS = Number(process.env.ITEMS ?? 300);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const SIGNAL_AFTER_MS = Number(process.env.SIGNAL_AFTER_MS ?? 1000);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const REDIS_URL = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const connection = { host: REDIS_URL.hostname, port: Number(REDIS_URL.port || 6379) };

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Starts a worker process, waits for all jobs to be active, sends SIGTERM; returns ms from SIGTERM to exit. */
async function measure(args: string[], queue: Queue): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number>((resolve) => child.on('exit', () => resolve(performance.now())));
  await waitUntil('all jobs active', async () => (await queue.getActiveCount()) === JOBS);
  await sleep(SIGNAL_AFTER_MS);
  const sent = performance.now();
  child.kill('SIGTERM');
  return (await exited) - sent;
}

async function iterableRound(): Promise<{ ms: number; requeued: number; withCursor: number }> {
  const name = `ji-bench-shutdown-${randomUUID()}`;
  const queue = new Queue(name, { connection });
  for (let i = 0; i < JOBS; i++) await enqueue(queue, Sequence, { upTo: ITEMS, delayMs: ITEM_MS });
  const options = JSON.stringify({ concurrency: JOBS });
  const ms = await measure(['test/fixtures/bullmq-worker.ts', name, options], queue);
  const waiting = await listIterableJobs(queue, { states: ['waiting'] });
  const withCursor = waiting.filter((info) => typeof info.state?.cursor === 'number' && info.state.status === 'interrupted').length;
  const active = await queue.getActiveCount();
  if (active !== 0) throw new Error(`${active} jobs left active`);
  await queue.obliterate({ force: true });
  await queue.close();
  return { ms, requeued: waiting.length, withCursor };
}

async function plainRound(): Promise<number> {
  const name = `ji-bench-shutdown-plain-${randomUUID()}`;
  const queue = new Queue(name, { connection });
  await queue.addBulk(Array.from({ length: JOBS }, () => ({ name: 'loop', data: { items: ITEMS, itemMs: ITEM_MS } })));
  const ms = await measure(['bench/bullmq-plain-worker.ts', name, String(JOBS)], queue);
  await queue.obliterate({ force: true });
  await queue.close();
  return ms;
}

const iterable: number[] = [];
const plain: number[] = [];
let allBack = true;
for (let round = 0; round < ROUNDS; round++) {
  const r = await iterableRound();
  iterable.push(r.ms);
  if (r.requeued !== JOBS || r.withCursor !== JOBS) allBack = false;
  console.log(`  round ${round + 1}: IterationWorker exited ${r.ms.toFixed(0)} ms after SIGTERM; ${r.requeued}/${JOBS} jobs back in the queue, ${r.withCursor} with a cursor`);
}
for (let round = 0; round < Math.min(ROUNDS, 3); round++) {
  const ms = await plainRound();
  plain.push(ms);
  console.log(`  round ${round + 1}: plain BullMQ worker exited ${ms.toFixed(0)} ms after SIGTERM`);
}
const iterableMedian = median(iterable);
console.log(`${JOBS} active jobs of ${ITEMS} x ${ITEM_MS} ms items, SIGTERM ${SIGNAL_AFTER_MS} ms after all were active, node ${process.version}`);
console.log(`  IterationWorker: SIGTERM to exit median ${iterableMedian.toFixed(0)} ms, max ${Math.max(...iterable).toFixed(0)} ms (target: at most 150 ms, all ${JOBS} back in the queue) ${iterableMedian <= 150 && allBack ? 'PASS' : 'FAIL'}`);
console.log(`  plain BullMQ:    SIGTERM to exit median ${median(plain).toFixed(0)} ms (close() waits for every job to finish)`);
process.exitCode = iterableMedian <= 150 && allBack ? 0 : 1;
