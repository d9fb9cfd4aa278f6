/**
 * What a keyset enumerator costs against the loop one would write by hand. Both sides UPDATE every row of a table
 * with a composite key (a, b), 1000 rows per statement, reading each batch with the same row-value keyset SELECT:
 *
 * - loop: one connection, SELECT a batch, UPDATE it, repeat;
 * - job: `runInline` of a job whose enumerator is `postgresBatches` and whose `eachIteration` runs the same UPDATE,
 *   on one connection too (a pg.Client);
 * - job + prefetch: the same job on a pool of two connections, reading the next batch while the current one is
 *   updated.
 *
 * Rounds alternate loop, job, loop, job + prefetch (a job run and the loop run next to it form a pair, the loop
 * first in odd rounds); each run starts from a freshly filled table (UNLOGGED, and `synchronous_commit = off` on
 * every connection, so WAL flushes do not swamp the difference) and is checked to have updated every row exactly
 * once. Prints every run, then the median rows/s of each side, the ratio of the medians and the median ratio within
 * pairs (steadier on a busy machine), and the CPU time per row spent in this process.
 *
 *   npm run bench:postgres         (ROWS=1000000 ROUNDS=5 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test)
 */
import { cpus } from 'node:os';
import pg from 'pg';
import { IterableJob, runInline } from '../src/index.js';
import { postgresBatches, type PostgresCursor } from '../src/postgres/index.js';
import { keysetTable, median } from './support.js';

const URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROWS = Number(process.env.ROWS ?? 1_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const BATCH = 1000;
const TABLE = 'ji_bench_keyset';
const CONNECTION = { connectionString: URL, options: '-c synchronous_commit=off', connectionTimeoutMillis: 10_000 };

const UPDATE = `UPDATE ${TABLE} AS t SET v = t.v + 1 FROM unnest($1::int[], $2::int[]) AS k(a, b) WHERE t.a = k.a AND t.b = k.b`;
const FIRST = `SELECT a, b FROM ${TABLE} ORDER BY a, b LIMIT ${BATCH}`;
const NEXT = `SELECT a, b FROM ${TABLE} WHERE (a, b) > ($1, $2) ORDER BY a, b LIMIT ${BATCH}`;

interface Key {
  a: number;
  b: number;
}

const admin = new pg.Client(CONNECTION);
await admin.connect();

const { fresh: freshTable, checkEveryRowOnce } = keysetTable(admin, TABLE, ROWS);

function update(db: pg.Client | pg.Pool, rows: Key[]) {
  return db.query(UPDATE, [rows.map((r) => r.a), rows.map((r) => r.b)]);
}

/** The hand-written loop. `limit` stops it after that many batches (for the warm-up). */
async function loop(limit = Infinity): Promise<number> {
  const client = new pg.Client(CONNECTION);
  await client.connect();
  try {
    const started = performance.now();
    let done = 0;
    let last: Key | undefined;
    for (let batches = 0; batches < limit; batches++) {
      const { rows } = await client.query<Key>(last ? { text: NEXT, values: [last.a, last.b] } : { text: FIRST });
      if (rows.length === 0) break;
      await update(client, rows);
      done += rows.length;
      last = rows.at(-1)!;
      if (rows.length < BATCH) break;
    }
    return done / ((performance.now() - started) / 1000);
  } finally {
    await client.end();
  }
}

let db: pg.Client | pg.Pool;
let prefetch = false;

class Backfill extends IterableJob<Record<string, never>, Key[], PostgresCursor> {
  static override jobName = 'bench-backfill';
  buildEnumerator(_params: Record<string, never>, { cursor }: { cursor: PostgresCursor | undefined }) {
    return postgresBatches<Key>(db, { table: TABLE, key: ['a', 'b'], columns: ['a', 'b'], batchSize: BATCH, prefetch, cursor });
  }
  async eachIteration(rows: Key[]) {
    await update(db, rows);
  }
}

async function job(withPrefetch: boolean, maxIterations?: number): Promise<number> {
  prefetch = withPrefetch;
  if (withPrefetch) {
    db = new pg.Pool({ ...CONNECTION, max: 2 });
  } else {
    db = new pg.Client(CONNECTION);
    await db.connect();
  }
  try {
    const started = performance.now();
    const result = await runInline(Backfill, {}, maxIterations === undefined ? {} : { maxIterations });
    const rows = maxIterations === undefined ? ROWS : result.state.iterations * BATCH;
    if (maxIterations === undefined && result.status !== 'completed') throw new Error(`the job ended ${result.status}`);
    return rows / ((performance.now() - started) / 1000);
  } finally {
    await db.end();
  }
}

const fmt = (rate: number) => `${Math.round(rate).toLocaleString('en-US')} rows/s`;

const { rows: [version] } = await admin.query<{ v: string }>("SELECT current_setting('server_version') AS v");
console.log(
  `postgres keyset: UPDATE ${ROWS.toLocaleString('en-US')} rows by key (a, b) in batches of ${BATCH}, ${ROUNDS} round(s); ` +
    `PostgreSQL ${version!.v}, ${cpus().length} cores (${cpus()[0]?.model.trim()})`,
);
await freshTable();
// Warm-up: JIT, pg's statement paths and the table's pages, on every side, before anything is counted.
await loop(100);
await job(false, 100);
await job(true, 100);

const rates = { loop: [] as number[], job: [] as number[], prefetch: [] as number[] };
const pairRatios = { job: [] as number[], prefetch: [] as number[] };
const cpu = { loop: [] as number[], job: [] as number[], prefetch: [] as number[] };
const labels = { loop: 'hand-written loop', job: 'job', prefetch: 'job + prefetch' };
const runs = { loop: () => loop(), job: () => job(false), prefetch: () => job(true) };

/** One run on a fresh table, checked; returns rows/s and records this process's CPU time per row. */
async function measure(side: keyof typeof rates, round: number): Promise<number> {
  await freshTable();
  const before = process.cpuUsage();
  const rate = await runs[side]();
  const used = process.cpuUsage(before);
  await checkEveryRowOnce();
  rates[side].push(rate);
  cpu[side].push((used.user + used.system) / ROWS);
  console.log(`round ${round}: ${labels[side].padEnd(18)} ${fmt(rate)}`);
  return rate;
}

for (let round = 1; round <= ROUNDS; round++) {
  // Each job run is paired with a loop run next to it, the loop first in odd rounds and second in even ones, so
  // neither side always follows the other.
  for (const side of ['job', 'prefetch'] as const) {
    const first = round % 2 ? 'loop' : side;
    const a = await measure(first, round);
    const b = await measure(first === 'loop' ? side : 'loop', round);
    pairRatios[side].push(first === 'loop' ? b / a : a / b);
  }
}
const loopRate = median(rates.loop);
const us = (side: keyof typeof cpu) => `${median(cpu[side]).toFixed(2)} us CPU/row in Node`;
console.log(`median: hand-written loop ${fmt(loopRate)} (${us('loop')})`);
for (const side of ['job', 'prefetch'] as const) {
  console.log(
    `median: ${labels[side].padEnd(17)} ${fmt(median(rates[side]))}   ratio ${(median(rates[side]) / loopRate).toFixed(2)}` +
      `   median ratio within pairs ${median(pairRatios[side]).toFixed(2)} (${us(side)})${side === 'job' ? '   target >= 0.95' : ''}`,
  );
}
await admin.query(`DROP TABLE IF EXISTS ${TABLE}`);
await admin.end();
