/**
 * The same workloads on each backend BullMQ runs on, in one run: Redis and PostgreSQL side by side.
 *   - an iterable job over ITEMS no-op items (checkpoints every second), against PLAIN_ITEMS items as one plain
 *     BullMQ job each (concurrency 10);
 *   - SIGTERM to exit of a worker process with JOBS active iterable jobs of 10 ms items: how long the process takes
 *     to hand every job back with its cursor.
 *
 * Redis Cluster runs on a three-master cluster this script starts on free ports (and stops), with a `{ji}` prefix.
 *
 *   npm run bench:backends      (ITEMS=100000 PLAIN_ITEMS=5000 JOBS=20 ROUNDS=3; REDIS_URL, DATABASE_URL)
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Queue as RedisQueue, Worker as RedisWorker, createPostgresBackend, withBackend } from 'bullmq';
import type { Cluster } from 'ioredis';
import pg from 'pg';
import { IterationWorker, enqueue, listIterableJobs, type AnyQueue } from '../src/bullmq/index.js';
import { IterableJob } from '../src/index.js';
import { Sequence } from '../test/fixtures/bullmq-jobs.js';
import { startOwnCluster } from '../test/support/redis-cluster.js';
import { median, timeOneJobPerItem } from './support.js';

const ITEMS = Number(process.env.ITEMS ?? 100_000);
const PLAIN_ITEMS = Number(process.env.PLAIN_ITEMS ?? 5000);
const JOBS = Number(process.env.JOBS ?? 20);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA = `ji_bench_${randomBytes(4).toString('hex')}`;
const Pg = withBackend(createPostgresBackend);

interface Backend {
  name: string;
  /** What IterationWorker takes as `connection`. */
  connection: string | Cluster;
  /** The BullMQ prefix, when the backend needs one. */
  prefix?: string;
  /** What a worker process takes in its options to reach the backend. */
  processOptions: Record<string, unknown>;
  queue(name: string): AnyQueue;
  plainWorker(name: string, process: (job: { data: { i: number } }) => Promise<void>): { close(): Promise<void>; on(event: 'completed', fn: () => void): unknown; waitUntilReady(): Promise<unknown> };
}

const redisConnection = (() => {
  const url = new URL(REDIS_URL);
  return { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
})();
const pgConnection = { connectionString: PG_URL, schema: SCHEMA, migrate: true };

const BACKENDS: Backend[] = [
  {
    name: 'Redis',
    connection: REDIS_URL,
    processOptions: { connection: REDIS_URL },
    queue: (name) => new RedisQueue(name, { connection: redisConnection }),
    plainWorker: (name, fn) => new RedisWorker(name, fn, { connection: redisConnection, concurrency: 10 }),
  },
  {
    name: 'PostgreSQL',
    connection: `${PG_URL}?schema=${SCHEMA}`,
    processOptions: { connection: `${PG_URL}?schema=${SCHEMA}` },
    queue: (name) => new Pg.Queue(name, { connection: pgConnection }) as unknown as AnyQueue,
    plainWorker: (name, fn) => new Pg.Worker(name, fn, { connection: pgConnection, concurrency: 10 }),
  },
];

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

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function iterable(backend: Backend): Promise<number> {
  const name = `ji-bench-${randomUUID()}`;
  const queue = backend.queue(name);
  const worker = new IterationWorker(name, { jobs: [NoOpItems], connection: backend.connection, prefix: backend.prefix, handleSignals: false });
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

async function plain(backend: Backend): Promise<number> {
  const name = `ji-bench-plain-${randomUUID()}`;
  const queue = backend.queue(name);
  const worker = backend.plainWorker(name, async (job) => {
    sink += job.data.i;
  });
  return timeOneJobPerItem(queue, worker, PLAIN_ITEMS, 1000);
}

/** A worker process with JOBS active jobs; SIGTERM; ms to exit, and how many jobs went back with a cursor. */
async function shutdown(backend: Backend): Promise<{ ms: number; back: number }> {
  const name = `ji-bench-stop-${randomUUID()}`;
  const queue = backend.queue(name);
  for (let i = 0; i < JOBS; i++) await enqueue(queue, Sequence, { upTo: 100_000, delayMs: 10 });
  const options = JSON.stringify({ concurrency: JOBS, ...backend.processOptions, ...(backend.prefix ? { prefix: backend.prefix } : {}) });
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/bullmq-worker.ts', name, options], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<number>((resolve) => child.on('exit', () => resolve(performance.now())));
  await waitUntil('every job active', async () => (await queue.getActiveCount()) === JOBS);
  await sleep(1000);
  const sent = performance.now();
  child.kill('SIGTERM');
  const ms = (await exited) - sent;
  const waiting = await listIterableJobs(queue, { states: ['waiting'] });
  const back = waiting.filter((info) => info.state?.status === 'interrupted' && typeof info.state.cursor === 'number').length;
  await queue.obliterate({ force: true });
  await queue.close();
  return { ms, back };
}

const cluster = await startOwnCluster();
const clusterClient = cluster.client();
BACKENDS.push({
  name: 'Cluster',
  connection: clusterClient,
  prefix: '{ji}',
  processOptions: { clusterNodes: cluster.nodes },
  queue: (name) => new RedisQueue(name, { connection: clusterClient, prefix: '{ji}' }),
  plainWorker: (name, fn) => new RedisWorker(name, fn, { connection: clusterClient, prefix: '{ji}', concurrency: 10 }),
});

const rate = (n: number, ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')} items/s`;
const rows: string[] = [];
for (const backend of BACKENDS) {
  const iterableMs = await iterable(backend);
  const plainMs = await plain(backend);
  const stops = [];
  for (let round = 0; round < ROUNDS; round++) stops.push(await shutdown(backend));
  const allBack = stops.every((s) => s.back === JOBS);
  rows.push(
    `  ${backend.name.padEnd(11)} iterable ${rate(ITEMS, iterableMs).padStart(14)} | plain one job per item ${rate(PLAIN_ITEMS, plainMs).padStart(12)} ` +
      `(${(PLAIN_ITEMS / (plainMs / 1000) > 0 ? (ITEMS / iterableMs / (PLAIN_ITEMS / plainMs)).toFixed(0) : '?')}x) | SIGTERM to exit, ${JOBS} jobs: ` +
      `median ${median(stops.map((s) => s.ms)).toFixed(0)} ms, max ${Math.max(...stops.map((s) => s.ms)).toFixed(0)} ms, ${allBack ? 'every job back with its cursor' : 'NOT every job back'}`,
  );
}
console.log(`${ITEMS.toLocaleString('en-US')} no-op items in one iterable job; ${PLAIN_ITEMS.toLocaleString('en-US')} plain jobs; ${JOBS} jobs stopped, ${ROUNDS} rounds; node ${process.version}`);
for (const row of rows) console.log(row);
await clusterClient.quit();
await cluster.destroy();
const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
await admin.end();
void sink;
