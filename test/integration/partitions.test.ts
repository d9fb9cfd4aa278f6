import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { createPostgresBackend, withBackend, type Job } from 'bullmq';
import { IterableJob, InvalidJobError } from '../../src/index.js';
import {
  IterationWorker,
  cancelJob,
  enqueuePartitioned,
  getIterationState,
  listIterableJobs,
  pauseJob,
  resumeJob,
  retryJob,
  type IterationJobInfo,
  type IterationProgress,
} from '../../src/bullmq/index.js';
import { keyRanges, postgresBatches, type PostgresCursor, type PostgresKeyRange } from '../../src/postgres/index.js';
import { REDIS_URL } from '../fixtures/bullmq-jobs.js';
import { RedisJobStore } from '../../src/store/redis-store.js';
import { exitedWithin, runCli, startCli, TEST_TIMEOUT_MS } from '../support/process.js';
import { newPool, PG_TIMEOUTS, PG_URL, tableFor, uniqueName } from '../support/postgres.js';
import { freshQueue, waitFor } from '../support/queue.js';

const pool = newPool({ max: 8 });
after(() => pool.end());

/** Rows whose key (a, b) is skewed: nine in ten share a = 'aaa', the rest spread over md5 text. */
function skewedTable(rows: number) {
  return (name: string) =>
    `CREATE TABLE ${name} (a text NOT NULL, b int NOT NULL, v int NOT NULL DEFAULT 0, PRIMARY KEY (a, b));
     INSERT INTO ${name} (a, b) SELECT CASE WHEN i % 10 = 0 THEN md5(i::text) ELSE 'aaa' END, i FROM generate_series(1, ${rows}) AS i;
     ANALYZE ${name};`;
}

interface Params {
  table: string;
  range?: PostgresKeyRange;
  /** Milliseconds to wait in each batch, so a test can act while partitions run. */
  delayMs?: number;
  /** The key b whose batch fails on its first try. */
  failOnceAt?: number;
}

/** Keys b of batches that already failed once (the workers run in this process). */
const failedOnce = new Set<number>();

/** Adds 1 to v of every row, a batch at a time; a row updated twice shows as v = 2. */
class Backfill extends IterableJob<Params, { a: string; b: number }[], PostgresCursor> {
  static override jobName = 'partitioned-backfill';
  static override async partition(params: Params, partitions: number): Promise<Params[]> {
    const ranges = await keyRanges(pool, { table: params.table, key: ['a', 'b'], partitions });
    return ranges.map((range) => ({ ...params, range }));
  }
  override validateParams(params: Params) {
    return typeof params?.table === 'string' || 'table must be a table name';
  }
  buildEnumerator(params: Params, { cursor }: { cursor: PostgresCursor | undefined }) {
    return postgresBatches<{ a: string; b: number }>(pool, { table: params.table, key: ['a', 'b'], columns: ['a', 'b'], batchSize: 100, range: params.range, cursor });
  }
  async eachIteration(rows: { a: string; b: number }[], params: Params) {
    if (params.delayMs) await sleep(params.delayMs);
    if (params.failOnceAt !== undefined && rows.some((row) => row.b === params.failOnceAt) && !failedOnce.has(params.failOnceAt)) {
      failedOnce.add(params.failOnceAt);
      throw new Error(`batch with b = ${params.failOnceAt} fails once`);
    }
    await pool.query(`UPDATE ${params.table} SET v = v + 1 WHERE (a, b) IN (SELECT * FROM unnest($1::text[], $2::int[]))`, [rows.map((r) => r.a), rows.map((r) => r.b)]);
  }
}

function workers(queue: string, n = 2): IterationWorker[] {
  return Array.from(
    { length: n },
    () => new IterationWorker(queue, { jobs: [Backfill], connection: REDIS_URL, handleSignals: false, concurrency: 2, checkpointIntervalMs: 0, controlPollIntervalMs: 50 }),
  );
}

async function closeAll(list: IterationWorker[]): Promise<void> {
  await Promise.all(list.map((w) => w.close()));
}

async function rowCounts(table: string): Promise<{ n: number; once: number }> {
  const { rows } = await pool.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE v = 1)::int AS once FROM ${table}`);
  return rows[0];
}

function completion(list: IterationWorker[], jobId: string): Promise<Job> {
  return new Promise((resolve) => {
    for (const w of list) w.on('completed', (job: Job) => job.id === jobId && resolve(job));
  });
}

/** `promise`, or a failure naming `what` after `ms`; the timer does not outlive it. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function progressOf(info: IterationJobInfo | undefined): Partial<IterationProgress> {
  return (info?.progress ?? {}) as Partial<IterationProgress>;
}

describe('keyRanges', () => {
  test('cuts a skewed text key into near-equal ranges that cover every row once', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const table = await tableFor(ctx, pool, 'kr_skew', skewedTable(10_000));
    for (const sample of [false, 50] as const) {
      const ranges = await keyRanges(pool, { table, key: ['a', 'b'], partitions: 4, sample });
      assert.equal(ranges.length, 4);
      assert.equal(ranges[0]!.from, undefined, 'the first range is open below');
      assert.equal(ranges[3]!.to, undefined, 'the last range is open above');
      const sizes: number[] = [];
      for (const range of ranges) {
        let n = 0;
        for await (const [rows] of postgresBatches(pool, { table, key: ['a', 'b'], columns: ['b'], range, cursor: undefined, batchSize: 1000 })) n += rows.length;
        sizes.push(n);
      }
      assert.equal(sizes.reduce((x, y) => x + y), 10_000, `sample ${sample}: ${sizes}`);
      // Exact: 2500 each; a half sample lands within a few percent.
      const slack = sample === false ? 1 : 250;
      for (const size of sizes) assert.ok(Math.abs(size - 2500) <= slack, `sample ${sample}: ${sizes}`);
    }
    // Many partitions: every row is numbered once instead of one read per boundary.
    const many = await keyRanges(pool, { table, key: ['a', 'b'], partitions: 20, sample: false });
    assert.equal(many.length, 20);
    for (const range of many) {
      let n = 0;
      for await (const [rows] of postgresBatches(pool, { table, key: ['a', 'b'], columns: ['b'], range, cursor: undefined, batchSize: 1000 })) n += rows.length;
      assert.equal(n, 500, JSON.stringify(range));
    }
  });

  test('cuts timestamps, gives fewer ranges for fewer rows, and one open range for an empty table', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const times = await tableFor(
      ctx,
      pool,
      'kr_time',
      (name) => `CREATE TABLE ${name} (at timestamptz PRIMARY KEY);
        INSERT INTO ${name} SELECT timestamptz '2024-01-01' + (i * i) * interval '1 second' FROM generate_series(1, 1000) AS i;`,
    );
    const ranges = await keyRanges(pool, { table: times, key: 'at', partitions: 3 });
    assert.equal(ranges.length, 3);
    assert.equal(typeof ranges[0]!.to![0], 'string');
    let total = 0;
    for (const range of ranges) {
      const { rows } = await pool.query(
        `SELECT count(*)::int AS n FROM ${times} WHERE ($1::timestamptz IS NULL OR at > $1) AND ($2::timestamptz IS NULL OR at <= $2)`,
        [range.from?.[0] ?? null, range.to?.[0] ?? null],
      );
      assert.ok(Math.abs(rows[0].n - 333) <= 1, JSON.stringify(rows));
      total += rows[0].n;
    }
    assert.equal(total, 1000);

    const tiny = await tableFor(ctx, pool, 'kr_tiny', (name) => `CREATE TABLE ${name} (id int PRIMARY KEY); INSERT INTO ${name} VALUES (1), (2);`);
    assert.deepEqual(await keyRanges(pool, { table: tiny, partitions: 4 }), [{ to: [1] }, { from: [1] }]);
    await pool.query(`DELETE FROM ${tiny}`);
    assert.deepEqual(await keyRanges(pool, { table: tiny, partitions: 4 }), [{}]);
  });

  test('a range reads only its rows, resumes inside it, and counts only them for progress', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const table = await tableFor(ctx, pool, 'kr_range', (name) => `CREATE TABLE ${name} (id int PRIMARY KEY); INSERT INTO ${name} SELECT generate_series(1, 100); ANALYZE ${name};`);
    const read = async (range: PostgresKeyRange, cursor: PostgresCursor | undefined) => {
      const ids: unknown[] = [];
      const enumeration = postgresBatches<{ id: number }>(pool, { table, range, cursor, batchSize: 7, count: 'exact' });
      for await (const [rows] of enumeration) ids.push(...rows.map((r) => r.id));
      return { ids, extent: enumeration.extent(undefined, 0) };
    };
    const { ids } = await read({ from: [10], to: [20] }, undefined);
    assert.deepEqual(ids, [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    assert.deepEqual((await read({ from: [10], to: [20] }, [15])).ids, [16, 17, 18, 19, 20]);
    assert.deepEqual((await read({ to: [3] }, undefined)).ids, [1, 2, 3]);
    assert.deepEqual((await read({ from: [97] }, undefined)).ids, [98, 99, 100]);
    const counted = postgresBatches(pool, { table, range: { from: [10], to: [40] }, cursor: undefined, batchSize: 100, count: 'exact' });
    for await (const _ of counted) {
      // The total arrives beside the first batch.
      await waitFor('the total', () => counted.extent(undefined, 0) !== undefined, 5000);
    }
    assert.equal(counted.extent(undefined, 1)?.total, 30);
  });
});

describe('partitioned jobs', () => {
  test('4 partitions run on 2 workers: every row once, the parent completes with the sums', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('partitions-run', ctx);
    const table = await tableFor(ctx, pool, 'part_run', skewedTable(4000));
    const { parent, partitions } = await enqueuePartitioned(t.queue, Backfill, { table }, 4);
    assert.equal(partitions.length, 4);
    assert.deepEqual(partitions.map((p) => p.id), [1, 2, 3, 4].map((i) => `${parent.id}-p${i}`));
    assert.deepEqual(partitions.map((p) => p.data.params.range !== undefined), [true, true, true, true]);
    assert.equal((await getIterationState(t.queue, parent.id!))?.queueState, 'waiting-children');

    const list = workers(t.name);
    ctx.after(() => closeAll(list));
    const ran = new Map<string, IterationWorker>();
    list.forEach((w) => w.on('active', (job: Job) => ran.set(job.id!, w)));
    const done = await within(completion(list, parent.id!), 45_000, 'the parent to complete');
    assert.deepEqual(done.returnvalue, { iterations: 40, cursor: null, totalTimeMs: done.returnvalue.totalTimeMs, timesInterrupted: 0, partitions: 4 });
    assert.deepEqual(await rowCounts(table), { n: 4000, once: 4000 });
    assert.equal(new Set(partitions.map((p) => ran.get(p.id!))).size, 2, 'both workers ran partitions');

    const info = await getIterationState(t.queue, parent.id!);
    assert.equal(info?.status, 'completed');
    assert.deepEqual(info?.params, { table });
    assert.deepEqual(info?.partitions?.map((p) => [p.status, p.partition?.index, p.partition?.parentId]), [0, 1, 2, 3].map((i) => ['completed', i, parent.id]));
    const progress = progressOf(info);
    assert.equal(progress.iterations, 40);
    assert.equal(progress.done, 4000);
    assert.deepEqual(progress.partitions, { count: 4, completed: 4 });
    // Each partition did about a quarter: the split follows the rows, not the key's values.
    for (const p of info!.partitions!) assert.equal(progressOf(p).done, 1000);

    const listed = await listIterableJobs(t.queue);
    const listedParent = listed.find((job) => job.id === parent.id);
    assert.equal(listedParent?.status, 'completed');
    assert.equal(listedParent?.partitions?.length, 4);
    assert.equal(listed.filter((job) => job.partition?.parentId === parent.id).length, 4);
  });

  test('progress on the parent is the sum while partitions run; pause and resume reach every partition', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('partitions-pause', ctx);
    const table = await tableFor(ctx, pool, 'part_pause', skewedTable(4000));
    const { parent, partitions } = await enqueuePartitioned(t.queue, Backfill, { table, delayMs: 30 }, 4);
    const list = workers(t.name);
    ctx.after(() => closeAll(list));
    const running = await waitFor('partitions at work', async () => {
      const info = await getIterationState(t.queue, parent.id!);
      return (info?.partitions ?? []).filter((p) => p.status === 'running').length === 4 && progressOf(info).iterations! >= 4 ? info : undefined;
    });
    assert.equal(running.status, 'running');
    const sum = running.partitions!.reduce((n, p) => n + (progressOf(p).iterations ?? 0), 0);
    assert.equal(progressOf(running).iterations, sum);

    const paused = await pauseJob(t.queue, parent.id!);
    assert.equal(paused.effect, 'requested');
    assert.equal(paused.partitions?.length, 4);
    await waitFor('every partition parked', async () => (await getIterationState(t.queue, parent.id!))?.status === 'paused', 15_000);
    const atPause = progressOf(await getIterationState(t.queue, parent.id!)).iterations!;
    await sleep(300);
    assert.equal(progressOf(await getIterationState(t.queue, parent.id!)).iterations, atPause, 'nothing runs while paused');
    assert.ok(atPause < 40);

    const done = completion(list, parent.id!);
    assert.equal((await resumeJob(t.queue, parent.id!)).effect, 'applied');
    await within(done, 45_000, 'the parent to complete after resume');
    assert.deepEqual(await rowCounts(table), { n: 4000, once: 4000 });
    const info = await getIterationState(t.queue, parent.id!);
    assert.deepEqual(info?.partitions?.map((p) => p.status), ['completed', 'completed', 'completed', 'completed']);
    assert.ok(partitions.length === 4);
  });

  test('cancel on the parent cancels every partition, and the parent ends cancelled', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('partitions-cancel', ctx);
    const table = await tableFor(ctx, pool, 'part_cancel', skewedTable(4000));
    // Six partitions on four slots: two are still waiting when the cancel comes.
    const { parent } = await enqueuePartitioned(t.queue, Backfill, { table, delayMs: 30 }, 6);
    const list = workers(t.name);
    ctx.after(() => closeAll(list));
    const failed: string[] = [];
    list.forEach((w) => w.on('failed', (job: Job | undefined) => job && failed.push(job.id!)));
    await waitFor('some progress', async () => (progressOf(await getIterationState(t.queue, parent.id!)).iterations ?? 0) >= 4);

    const result = await cancelJob(t.queue, parent.id!);
    assert.equal(result.queueState, 'waiting-children');
    assert.equal(result.effect, 'requested');
    assert.equal(result.partitions?.length, 6);
    assert.equal((await getIterationState(t.queue, parent.id!))?.status, 'cancelling');

    const info = await waitFor('the parent to end', async () => {
      const now = await getIterationState(t.queue, parent.id!);
      return now?.queueState === 'failed' ? now : undefined;
    });
    assert.equal(info.status, 'cancelled');
    assert.match(info.failedReason ?? '', /^ERR_JOB_CANCELLED/);
    assert.deepEqual(info.partitions?.map((p) => p.status), Array(6).fill('cancelled'));
    const { n, once } = await rowCounts(table);
    assert.ok(once < n, 'stopped before the end');
    const { rows } = await pool.query(`SELECT count(*)::int AS twice FROM ${table} WHERE v > 1`);
    assert.equal(rows[0].twice, 0);
    assert.ok(failed.includes(parent.id!));
    const retried = await retryJob(t.queue, parent.id!);
    assert.equal(retried.effect, 'none', 'a cancelled job is not retried');
  });

  test('a partition whose batch fails once retries alone, from its own cursor', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('partitions-retry', ctx);
    const table = await tableFor(ctx, pool, 'part_retry', skewedTable(4000));
    // b = 3501 is one 'aaa' row among the last thousand in key order, so one partition meets it.
    const failOnceAt = 3501;
    const { parent, partitions } = await enqueuePartitioned(t.queue, Backfill, { table, failOnceAt }, 4, { attempts: 2, backoff: 0 });
    const list = workers(t.name);
    ctx.after(() => closeAll(list));
    const failures: string[] = [];
    list.forEach((w) => w.on('failed', (job: Job | undefined) => job && failures.push(job.id!)));
    const done = await within(completion(list, parent.id!), 45_000, 'the parent to complete');
    assert.equal(failures.length, 1, `one failure: ${failures}`);
    const failing = failures[0]!;
    assert.ok(partitions.some((p) => p.id === failing));
    assert.deepEqual(await rowCounts(table), { n: 4000, once: 4000 }, 'the retry resumed after its cursor: no row twice');

    const info = await getIterationState(t.queue, parent.id!);
    const attempts = new Map(info!.partitions!.map((p) => [p.id, p.attemptsMade]));
    const others = info!.partitions!.filter((p) => p.id !== failing).map((p) => attempts.get(p.id));
    assert.ok(others.every((a) => a === others[0]), `the others ran once each: ${[...attempts]}`);
    assert.equal(attempts.get(failing), others[0]! + 1, 'the failing partition ran once more');
    const state = info!.partitions!.find((p) => p.id === failing)!.state!;
    assert.ok(state.iterations >= 10, 'it kept the items done before the failure');
    assert.equal(done.returnvalue.iterations, 40);
  });

  test('a partition that fails for good holds the parent; retryJob on the parent resumes it alone and the parent completes', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('partitions-hold', ctx);
    const table = await tableFor(ctx, pool, 'part_hold', skewedTable(4000));
    const { parent } = await enqueuePartitioned(t.queue, Backfill, { table, failOnceAt: 1501 }, 4, { attempts: 1 });
    const list = workers(t.name);
    ctx.after(() => closeAll(list));
    const held = await waitFor('the other partitions done, one failed', async () => {
      const info = await getIterationState(t.queue, parent.id!);
      const statuses = (info?.partitions ?? []).map((p) => p.status).sort();
      return statuses.join() === 'completed,completed,completed,failed' ? info : undefined;
    }, 30_000);
    assert.equal(held.status, 'failed');
    assert.equal(held.queueState, 'waiting-children');
    const failing = held.partitions!.find((p) => p.status === 'failed')!;
    const cursor = failing.state!.cursor;
    assert.ok(cursor !== undefined, 'it failed after some batches, with its cursor saved');

    const done = completion(list, parent.id!);
    const retried = await retryJob(t.queue, parent.id!);
    assert.equal(retried.effect, 'applied');
    assert.deepEqual(retried.partitions?.filter((p) => p.effect === 'applied').map((p) => [p.jobId, p.cursor]), [[failing.id, cursor]]);
    await within(done, 45_000, 'the parent to complete after the retry');
    assert.deepEqual(await rowCounts(table), { n: 4000, once: 4000 });
    assert.equal((await getIterationState(t.queue, parent.id!))?.status, 'completed');
  });

  test('a partition that fails for good while its parent is being cancelled leaves the flow, so the parent ends cancelled instead of waiting for ever', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('partitions-cancel-fail', ctx);
    const table = await tableFor(ctx, pool, 'part_cancel_fail', skewedTable(4000));
    const { parent } = await enqueuePartitioned(t.queue, Backfill, { table, failOnceAt: 2503 }, 4, { attempts: 1 });
    // The cancel is asked of the parent before its fan-out reaches the partition about to fail: the partition never
    // sees it, and fails on its own.
    assert.equal((await new RedisJobStore(t.queue).setControl(parent.id!, 'cancel')).exists, true);
    const list = workers(t.name);
    ctx.after(() => closeAll(list));
    const ended = await waitFor('the parent to end', async () => ((await t.queue.getJobState(parent.id!)) === 'failed' ? t.queue.getJob(parent.id!) : undefined), 30_000);
    assert.match(ended!.failedReason, /ERR_JOB_CANCELLED/);
  });

  test('enqueuePartitioned refuses a class without partition() and checks every partition', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('partitions-refuse', ctx);
    class Whole extends IterableJob<Params, number, number> {
      static override jobName = 'whole';
      buildEnumerator() {
        return [];
      }
      eachIteration() {}
    }
    await assert.rejects(enqueuePartitioned(t.queue, Whole, { table: 'x' }, 2), InvalidJobError);
    class Bad extends Backfill {
      static override jobName = 'bad-split';
      static override async partition(): Promise<Params[]> {
        return [{ table: 'x' }, { nope: 1 } as unknown as Params];
      }
    }
    await assert.rejects(enqueuePartitioned(t.queue, Bad, { table: 'x' }, 2), { code: 'ERR_INVALID_PARAMS' });
    await assert.rejects(enqueuePartitioned(t.queue, Backfill, { table: 'x' }, 0), { code: 'ERR_INVALID_OPTION' });
    assert.equal(await t.queue.count(), 0, 'nothing was added');
  });
});

describe('the command line', () => {
  test('enqueue --partitions runs the parts on two worker processes; status shows the parent with its partitions', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('partitions-cli', ctx);
    const dir = mkdtempSync(join(tmpdir(), 'ji-partitions-'));
    ctx.after(() => rmSync(dir, { recursive: true, force: true }));
    const log = join(dir, 'items.log');
    const MODULE = 'test/fixtures/partition-jobs.mjs';
    const enqueued = await runCli(['enqueue', MODULE, '--queue', t.name, '--params', JSON.stringify({ upTo: 120, delayMs: 150, log }), '--partitions', '4']);
    assert.equal(enqueued.code, 0, enqueued.stderr);
    const parentId = enqueued.stdout.trim();
    assert.match(enqueued.stderr, new RegExp(`in 4 partition\\(s\\): ${parentId}-p1, ${parentId}-p2, ${parentId}-p3, ${parentId}-p4`));

    const worker = startCli(['work', MODULE, '--queue', t.name, '--processes', '2', '--concurrency', '2', '--quiet']);
    ctx.after(async () => {
      if (worker.child.exitCode === null) worker.child.kill('SIGTERM');
      await exitedWithin(worker, 30_000, 'job-iteration work');
    });
    const running = await waitFor('partitions running', async () => {
      const info = await getIterationState(t.queue, parentId);
      return info?.status === 'running' && (progressOf(info).iterations ?? 0) >= 8 ? info : undefined;
    }, 30_000);
    assert.ok(running);
    const table = await runCli(['status', '--queue', t.name]);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.split('\n');
    const at = lines.findIndex((line) => line.trimStart().startsWith(`${parentId} `));
    assert.ok(at >= 0, table.stdout);
    assert.match(lines[at]!, /split-numbers\s+running\s+waiting-children\s+\d+\/120/);
    // Its partitions follow it, indented.
    for (let i = 1; i <= 4; i++) assert.ok(lines[at + i]!.startsWith(`    ${parentId}-p${i} `), lines[at + i]);

    await waitFor('the parent to complete', async () => (await getIterationState(t.queue, parentId))?.status === 'completed', 30_000);
    const one = await runCli(['status', parentId, '--queue', t.name]);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^items\s+120 of 120 \(100%\)$/m);
    assert.match(one.stdout, /^partitions: 4 \(4 completed\)$/m);
    for (let i = 1; i <= 4; i++) assert.match(one.stdout, new RegExp(`^  ${parentId}-p${i}  completed  items 30 \\(100%\\)`, 'm'));

    const entries = readFileSync(log, 'utf8').trim().split('\n').map((line) => line.split(' '));
    assert.deepEqual(entries.map(([item]) => Number(item)).sort((a, b) => a - b), Array.from({ length: 120 }, (_, i) => i), 'every item once');
    assert.equal(new Set(entries.map(([, pid]) => pid)).size, 2, 'both worker processes took partitions');

    const refused = await runCli(['enqueue', 'test/fixtures/cli-jobs.mjs', '--job', 'numbers', '--queue', t.name, '--params', '{"upTo":3}', '--partitions', '2']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /has no static partition/);
  });
});

/** Items 0..upTo-1, or the slice from..to-1 of a partition; each done item is recorded under `record`. */
interface SliceParams {
  upTo: number;
  record: string;
  from?: number;
  to?: number;
}
const sliceRecords = new Map<string, number[]>();

class Slices extends IterableJob<SliceParams, number, number> {
  static override jobName = 'slices';
  static override partition(params: SliceParams, k: number): SliceParams[] {
    const size = Math.ceil(params.upTo / k);
    return Array.from({ length: Math.ceil(params.upTo / size) }, (_, i) => ({ ...params, from: i * size, to: Math.min(params.upTo, (i + 1) * size) }));
  }
  *buildEnumerator({ upTo, from = 0, to = upTo }: SliceParams, { cursor }: { cursor: number | undefined }): Generator<[number, number]> {
    for (let i = cursor === undefined ? from : cursor + 1; i < to; i++) yield [i, i];
  }
  async eachIteration(item: number, params: SliceParams) {
    await sleep(2);
    sliceRecords.get(params.record)?.push(item) ?? sliceRecords.set(params.record, [item]);
  }
  override count({ upTo, from = 0, to = upTo }: SliceParams) {
    return to - from;
  }
}

/** A queue on BullMQ's PostgreSQL backend in a schema of its own, and two workers on it; all gone after the test. */
function pgQueue(ctx: { after(fn: () => Promise<void>): void }) {
  const { Queue } = withBackend(createPostgresBackend);
  const schema = uniqueName('bull');
  const connection = { connectionString: PG_URL, schema, migrate: true, max: 4, ...PG_TIMEOUTS };
  const queue = new Queue(`ji-pg-partitions-${randomUUID()}`, { connection });
  const list = [0, 1].map(
    () => new IterationWorker(queue.name, { jobs: [Slices], connection, handleSignals: false, concurrency: 2, checkpointIntervalMs: 0, controlPollIntervalMs: 50 }),
  );
  ctx.after(async () => {
    await closeAll(list);
    await queue.close().catch(() => undefined);
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });
  return { queue, list };
}

describe("on BullMQ's PostgreSQL backend", () => {
  test('cancel on the parent cancels every partition and the parent', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const { queue } = pgQueue(ctx);
    const record = randomUUID();
    const { parent } = await enqueuePartitioned(queue, Slices, { upTo: 30_000, record }, 3);
    await waitFor('some progress', async () => (progressOf(await getIterationState(queue, parent.id!)).iterations ?? 0) >= 10, 30_000);
    assert.equal((await cancelJob(queue, parent.id!)).effect, 'requested');
    const info = await waitFor('the parent to end', async () => {
      const now = await getIterationState(queue, parent.id!);
      return now?.queueState === 'failed' ? now : undefined;
    }, 30_000);
    assert.equal(info.status, 'cancelled');
    assert.deepEqual(info.partitions?.map((p) => p.status), ['cancelled', 'cancelled', 'cancelled']);
    assert.ok(sliceRecords.get(record)!.length < 30_000);
  });

  test('a partitioned job runs its partitions on two workers and completes with their sums', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const { queue, list } = pgQueue(ctx);
    const record = randomUUID();
    const { parent, partitions } = await enqueuePartitioned(queue, Slices, { upTo: 90, record }, 3);
    assert.equal(partitions.length, 3);
    const done = await within(completion(list, parent.id!), 45_000, 'the parent to complete');
    assert.equal(done.returnvalue.iterations, 90);
    assert.deepEqual([...sliceRecords.get(record)!].sort((a, b) => a - b), Array.from({ length: 90 }, (_, i) => i));
    const info = await getIterationState(queue, parent.id!);
    assert.equal(info?.status, 'completed');
    assert.deepEqual(progressOf(info).partitions, { count: 3, completed: 3 });
    assert.equal(progressOf(info).iterations, 90);
    assert.equal(progressOf(info).total, 90);
  });
});
