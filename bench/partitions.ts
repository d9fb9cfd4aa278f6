/**
 * What partitions buy on one machine: the 1M-row UPDATE of bench/postgres-keyset.ts as a partitioned job in 4
 * partitions on 2 worker processes (2 jobs at once each), against the same job in 1 partition on the same 2
 * processes. Beside them, for scale, the hand-written keyset loop on 1 connection and the same loop split over 4
 * connections (4 equal ranges of the key, one process): the most a split can give on this machine.
 *
 * A partitioned run is timed from the enqueue (its split, `keyRanges`, included) to the parent's completion, and
 * checked to have updated every row exactly once. Each run starts from a freshly filled table (UNLOGGED,
 * `synchronous_commit = off`). Rounds alternate the order of the sides; the median rows/s of each side, the ratios
 * of the medians and the median of the ratios within each round are printed, with the split's own time.
 *
 *   npm run bench:partitions        (ROWS=1000000 ROUNDS=3 DATABASE_URL=... REDIS_URL=...)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { Queue } from 'bullmq';
import pg from 'pg';
import { enqueuePartitioned } from '../src/bullmq/index.js';
import { keyRanges } from '../src/postgres/index.js';
import { BATCH, CONNECTION, PartitionedBackfill, TABLE, UPDATE } from './partitions/job.js';
import { keysetTable, median } from './support.js';

const ROWS = Number(process.env.ROWS ?? 1_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const PROCESSES = 2;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = new URL(REDIS_URL);
const connection = { host: redis.hostname, port: Number(redis.port || 6379) };

const admin = new pg.Client(CONNECTION);
await admin.connect();

const { fresh: freshTable, checkEveryRowOnce } = keysetTable(admin, TABLE, ROWS);

// ------------------------------------------------------------------------------------------------------------------
// The hand-written loop, on `connections` connections in this process, each over its own equal slice of a.

async function loop(connections: number): Promise<number> {
  const max = (await admin.query<{ max: number }>(`SELECT max(a) AS max FROM ${TABLE}`)).rows[0]!.max;
  const clients = await Promise.all(
    Array.from({ length: connections }, async () => {
      const client = new pg.Client(CONNECTION);
      await client.connect();
      return client;
    }),
  );
  try {
    const started = performance.now();
    const step = Math.ceil((max + 1) / connections);
    await Promise.all(clients.map((client, i) => slice(client, i * step - 1, (i + 1) * step - 1)));
    return ROWS / ((performance.now() - started) / 1000);
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

/** Rows with from < a <= to, a batch at a time by (a, b). */
async function slice(client: pg.Client, from: number, to: number): Promise<void> {
  // (a, b) > (from, the largest int): every row with a > from.
  let last: [number, number] = [from, 2 ** 31 - 1];
  for (;;) {
    const { rows } = await client.query<{ a: number; b: number }>(
      `SELECT a, b FROM ${TABLE} WHERE (a, b) > ($1, $2) AND a <= $3 ORDER BY a, b LIMIT ${BATCH}`,
      [last[0], last[1], to],
    );
    if (rows.length === 0) return;
    await client.query(UPDATE, [rows.map((r) => r.a), rows.map((r) => r.b)]);
    const end = rows.at(-1)!;
    last = [end.a, end.b];
    if (rows.length < BATCH) return;
  }
}

// ------------------------------------------------------------------------------------------------------------------
// The partitioned job, on PROCESSES worker processes.

function startWorker(queue: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/partitions/worker.ts', queue, '2'], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      if (out.includes('ready\n')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`a worker process exited (${code}) before it was ready`)));
  });
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

async function partitioned(partitions: number): Promise<{ rate: number; splitMs: number }> {
  const queue = new Queue(`ji-bench-partitions-${randomUUID()}`, { connection });
  const workers = await Promise.all(Array.from({ length: PROCESSES }, () => startWorker(queue.name)));
  try {
    const started = performance.now();
    const { parent } = await enqueuePartitioned(queue, PartitionedBackfill, {}, partitions);
    const splitMs = performance.now() - started;
    const deadline = Date.now() + 600_000;
    for (;;) {
      const state = await queue.getJobState(parent.id!);
      if (state === 'completed') break;
      if (state === 'failed') throw new Error(`the partitioned job failed: ${(await queue.getJob(parent.id!))?.failedReason}`);
      if (Date.now() > deadline) throw new Error('the partitioned job did not complete within 10 minutes');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { rate: ROWS / ((performance.now() - started) / 1000), splitMs };
  } finally {
    await Promise.all(workers.map(stopWorker));
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

// ------------------------------------------------------------------------------------------------------------------

const fmt = (rate: number) => `${Math.round(rate).toLocaleString('en-US')} rows/s`;

const { rows: [version] } = await admin.query<{ v: string }>("SELECT current_setting('server_version') AS v");
console.log(
  `partitions: UPDATE ${ROWS.toLocaleString('en-US')} rows by key (a, b) in batches of ${BATCH}, ${ROUNDS} round(s); ` +
    `PostgreSQL ${version!.v}, ${cpus().length} cores (${cpus()[0]?.model.trim()}); workers: ${PROCESSES} processes x 2 jobs at once`,
);

type Side = 'loop1' | 'loop4' | 'part1' | 'part4';
const labels: Record<Side, string> = {
  loop1: 'loop, 1 connection',
  loop4: 'loop, 4 connections',
  part1: 'job, 1 partition',
  part4: 'job, 4 partitions',
};
const rates: Record<Side, number[]> = { loop1: [], loop4: [], part1: [], part4: [] };
const splits: number[] = [];
const runs: Record<Side, () => Promise<number>> = {
  loop1: () => loop(1),
  loop4: () => loop(4),
  part1: async () => (await partitioned(1)).rate,
  part4: async () => {
    const { rate, splitMs } = await partitioned(4);
    splits.push(splitMs);
    return rate;
  },
};

await freshTable();
// Warm-up of the split alone: the first keyRanges reads the whole index from disk.
{
  const warm = new pg.Pool({ ...CONNECTION, max: 1 });
  await keyRanges(warm, { table: TABLE, key: ['a', 'b'], partitions: 4 });
  await warm.end();
}

const order: Side[] = ['part1', 'part4', 'loop1', 'loop4'];
for (let round = 1; round <= ROUNDS; round++) {
  const sides = round % 2 ? order : [...order].reverse();
  for (const side of sides) {
    await freshTable();
    const rate = await runs[side]();
    await checkEveryRowOnce();
    rates[side].push(rate);
    console.log(`round ${round}: ${labels[side].padEnd(20)} ${fmt(rate)}${side === 'part4' ? `   (split: ${Math.round(splits.at(-1)!)} ms)` : ''}`);
  }
}
const m = (side: Side) => median(rates[side]);
/** The ratio of two sides within each round (run next to each other, so steadier on a busy machine), median. */
const inRounds = (a: Side, b: Side) => median(rates[a].map((rate, i) => rate / rates[b][i]!)).toFixed(2);
for (const side of order) console.log(`median: ${labels[side].padEnd(20)} ${fmt(m(side))}`);
console.log(`median split (keyRanges, 4 ranges of ${ROWS.toLocaleString('en-US')} rows): ${Math.round(median(splits))} ms`);
console.log(`loop:  4 connections / 1 connection = ${(m('loop4') / m('loop1')).toFixed(2)}   median within rounds ${inRounds('loop4', 'loop1')}`);
console.log(`job:   4 partitions / 1 partition   = ${(m('part4') / m('part1')).toFixed(2)}   median within rounds ${inRounds('part4', 'part1')}   target >= 1.30`);
console.log(`job, 1 partition / loop, 1 connection = ${(m('part1') / m('loop1')).toFixed(2)}`);
await admin.query(`DROP TABLE IF EXISTS ${TABLE}`);
await admin.end();
