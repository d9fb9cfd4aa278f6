import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createPostgresBackend, withBackend, type Job } from 'bullmq';
import {
  IterationWorker,
  cancelJob,
  enqueue,
  getIterationState,
  listIterableJobs,
  pauseJob,
  resumeJob,
  retryJob,
  type IterationProgress,
} from '../../src/bullmq/index.js';
import { IterableJob } from '../../src/index.js';
import { PostgresJobStore, STATE_TABLE, type PostgresQueueLike } from '../../src/store/postgres-store.js';
import { newPool, PG_TIMEOUTS, PG_URL, uniqueName } from '../support/postgres.js';
import { waitFor } from '../support/queue.js';
import { TEST_TIMEOUT_MS } from '../support/process.js';

const { Queue, QueueEvents } = withBackend(createPostgresBackend);
type PgQueue = InstanceType<typeof Queue>;

// Nothing on this path may reach Redis: anything that tried would fail on this closed port, and every socket this
// process opens is noted, so an attempt that fails quietly is still seen.
const savedRedisUrl = process.env.REDIS_URL;
const connectedPorts = new Set<number>();
const connect = net.Socket.prototype.connect;
before(() => {
  process.env.REDIS_URL = 'redis://127.0.0.1:1';
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const first = args[0] as { port?: unknown } | unknown[] | number | string;
    const options = Array.isArray(first) ? first[0] : first;
    const port = typeof options === 'object' && options !== null ? (options as { port?: unknown }).port : options;
    if (port !== undefined && Number.isFinite(Number(port))) connectedPorts.add(Number(port));
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof connect;
});
after(() => {
  net.Socket.prototype.connect = connect;
  if (savedRedisUrl === undefined) delete process.env.REDIS_URL;
  else process.env.REDIS_URL = savedRedisUrl;
});

const admin = newPool({ max: 2 });
after(() => admin.end());

/** Every item each run processed, by the `record` key in its params; the jobs run in this process. */
const records = new Map<string, number[]>();
const hooks = new Map<string, string[]>();

interface CountParams {
  upTo: number;
  delayMs?: number;
  record: string;
  /** Throws at this item the first time it is reached. */
  failAt?: number;
}

const failedOnce = new Set<string>();

class Count extends IterableJob<CountParams, number, number> {
  static override jobName = 'pg-count';

  *buildEnumerator(params: CountParams, { cursor }: { cursor: number | undefined }): Generator<[number, number]> {
    for (let i = cursor === undefined ? 0 : cursor + 1; i < params.upTo; i++) yield [i, i];
  }

  async eachIteration(item: number, params: CountParams, { signal }: { signal: AbortSignal }) {
    if (params.delayMs) await sleep(params.delayMs, undefined, { signal }).catch(() => undefined);
    if (signal.aborted) throw signal.reason;
    if (params.failAt === item && !failedOnce.has(params.record)) {
      failedOnce.add(params.record);
      throw new Error(`failed at item ${item}`);
    }
    records.get(params.record)?.push(item) ?? records.set(params.record, [item]);
  }

  override async onCancel(params: CountParams) {
    hooks.get(params.record)?.push('onCancel') ?? hooks.set(params.record, ['onCancel']);
  }

  override count(params: CountParams) {
    return params.upTo;
  }
}

/** A schema of its own for one test, dropped when the test ends; and a queue on it. */
async function freshSchema(ctx: TestContext) {
  const schema = uniqueName('bull');
  const connection = { connectionString: PG_URL, schema, migrate: true, max: 4, ...PG_TIMEOUTS };
  const queue: PgQueue = new Queue(`ji-pg-${randomUUID()}`, { connection });
  const workers: IterationWorker[] = [];
  const record = randomUUID();
  ctx.after(async () => {
    await Promise.all(workers.map((worker) => worker.close({ urgent: true }).catch(() => undefined)));
    await queue.close().catch(() => undefined);
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });
  return {
    schema,
    connection,
    queue,
    record,
    items: () => [...(records.get(record) ?? [])],
    hooks: () => [...(hooks.get(record) ?? [])],
    worker(options: Partial<ConstructorParameters<typeof IterationWorker>[1]> = {}) {
      const worker = new IterationWorker(queue.name, { jobs: [Count], connection, handleSignals: false, ...options });
      workers.push(worker);
      return worker;
    },
  };
}

function completion(worker: IterationWorker): Promise<Job> {
  return new Promise((resolve) => worker.once('completed', (job: Job) => resolve(job)));
}

function failure(worker: IterationWorker): Promise<[Job, Error]> {
  return new Promise((resolve) => worker.once('failed', (job: Job | undefined, error: Error) => resolve([job!, error])));
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('IterationWorker on BullMQ\'s PostgreSQL backend', () => {
  test('an iterable job runs to completion, every item exactly once, with its state and progress in PostgreSQL', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshSchema(ctx);
    const events = new QueueEvents(t.queue.name, { connection: t.connection });
    ctx.after(() => events.close());
    const published: IterationProgress[] = [];
    events.on('progress', ({ data }) => void published.push(data as unknown as IterationProgress));
    await events.waitUntilReady();
    const job = await enqueue(t.queue, Count, { upTo: 25, record: t.record });
    assert.deepEqual(job.data, { params: { upTo: 25, record: t.record } });
    const worker = t.worker({ checkpointIntervalMs: 0 });
    const done = await completion(worker);
    assert.equal(done.id, job.id);
    await worker.close();
    assert.deepEqual(t.items(), range(25));
    // Checkpoints publish progress on BullMQ's event stream, as its own updateProgress does.
    await waitFor('the last progress event', () => published.at(-1)?.cursor === 24, 10_000);

    const info = await getIterationState<number>(t.queue, job.id!);
    assert.equal(info?.queueState, 'completed');
    assert.equal(info?.status, 'completed');
    assert.equal(info?.state?.cursor, 24);
    assert.equal(info?.state?.iterations, 25);
    assert.equal((info?.progress as IterationProgress).total, 25);
    const { rows } = await admin.query(`SELECT state FROM "${t.schema}".${STATE_TABLE} WHERE queue = $1 AND job_id = $2`, [t.queue.name, job.id]);
    assert.equal(JSON.parse(rows[0].state).cursor, 24, 'the saved state is a row of its own table');
    const listed = await listIterableJobs(t.queue);
    assert.deepEqual(listed.map((entry) => [entry.id, entry.status]), [[job.id, 'completed']]);
  });

  test('a postgres:// URL is enough for a worker; ?schema= picks BullMQ\'s schema, which is migrated on connect', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshSchema(ctx);
    const url = new URL(PG_URL);
    url.searchParams.set('schema', t.schema);
    const worker = t.worker({ connection: url.toString() });
    await worker.waitUntilReady();
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'job'`, [t.schema]);
    assert.equal(rows[0].n, 1, "BullMQ's tables are in the schema the URL names");
    const job = await enqueue(t.queue, Count, { upTo: 5, record: t.record });
    assert.equal((await completion(worker)).id, job.id);
    assert.deepEqual(t.items(), range(5));
  });

  test('close() mid-run hands the job back with its cursor; a second worker resumes it and no item runs twice', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshSchema(ctx);
    const job = await enqueue(t.queue, Count, { upTo: 60, delayMs: 10, record: t.record });
    const first = t.worker();
    await waitFor('10 items', async () => t.items().length >= 10, 20_000);
    await first.close();
    assert.equal(first.requeuedOnClose, 1);

    const before = t.items();
    const info = await getIterationState<number>(t.queue, job.id!);
    assert.equal(info?.queueState, 'waiting');
    assert.equal(info?.status, 'interrupted');
    assert.equal(info?.state?.cursor, before.at(-1));
    assert.equal(info?.state?.timesInterrupted, 1);
    assert.equal((info?.progress as IterationProgress).cursor, before.at(-1));

    const second = t.worker();
    const done = await completion(second);
    await second.close();
    assert.equal(done.id, job.id, 'same job id');
    assert.deepEqual(t.items(), range(60), 'every item exactly once, in order');
  });

  test('cancel stops a running job at its next item; pause parks it and resume brings it back', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshSchema(ctx);
    const worker = t.worker({ controlPollIntervalMs: 50 });

    const paused = await enqueue(t.queue, Count, { upTo: 1000, delayMs: 5, record: t.record });
    await waitFor('the job running', async () => t.items().length >= 5, 20_000);
    assert.equal((await pauseJob(t.queue, paused.id!)).effect, 'requested');
    await waitFor('the job parked', async () => (await getIterationState(t.queue, paused.id!))?.status === 'paused', 20_000);
    const atPause = t.items().length;
    await sleep(200);
    assert.equal(t.items().length, atPause, 'a parked job does not run');
    assert.equal((await resumeJob(t.queue, paused.id!)).effect, 'applied');
    await waitFor('the job running again', async () => t.items().length > atPause + 5, 20_000);

    const failed = failure(worker);
    assert.equal((await cancelJob(t.queue, paused.id!)).effect, 'requested');
    const [job, error] = await failed;
    assert.equal(job.id, paused.id);
    assert.equal((error as { code?: string }).code, 'ERR_JOB_CANCELLED');
    assert.deepEqual(t.hooks(), ['onCancel']);
    const items = t.items();
    assert.deepEqual(items, range(items.length), 'no item repeated across the pause');
    const info = await getIterationState(t.queue, paused.id!);
    assert.equal(info?.status, 'cancelled');
  });

  test('retryJob puts a failed job back to resume after its saved cursor', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshSchema(ctx);
    const worker = t.worker({ checkpointIntervalMs: 0 });
    const failing = failure(worker);
    const job = await enqueue(t.queue, Count, { upTo: 20, failAt: 12, record: t.record }, { attempts: 1 });
    await failing;
    assert.equal((await getIterationState(t.queue, job.id!))?.status, 'failed');
    const done = completion(worker);
    const retried = await retryJob(t.queue, job.id!);
    assert.equal(retried.effect, 'applied');
    assert.equal(retried.cursor, 11);
    assert.equal((await done).id, job.id);
    assert.deepEqual(t.items(), range(20), 'the items before the failure are not run again');
  });

  test('a checkpoint by a token that does not hold the job writes nothing', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshSchema(ctx);
    const job = await enqueue(t.queue, Count, { upTo: 1000, delayMs: 5, record: t.record });
    const worker = t.worker({ checkpointIntervalMs: 0 });
    await waitFor('a checkpoint', async () => (await getIterationState(t.queue, job.id!))?.state?.cursor !== undefined, 20_000);

    const store = new PostgresJobStore(t.queue.getBackend() as unknown as PostgresQueueLike);
    const write = { state: JSON.stringify({ forged: true }), progress: JSON.stringify({ forged: true }), clearControl: false };
    assert.deepEqual(await store.checkpoint(job.id!, 'not-the-token', write), { owned: false, control: undefined });
    assert.equal(await store.holdsLock(job.id!, 'not-the-token'), false);
    const { rows } = await admin.query(`SELECT lock_token FROM "${t.schema}".job WHERE queue = $1 AND id = $2`, [t.queue.name, job.id]);
    const token = rows[0].lock_token as string;
    assert.equal(await store.holdsLock(job.id!, token), true);

    // The job is taken back as stalled would take it: its token cleared and then given to someone else.
    await admin.query(`UPDATE "${t.schema}".job SET lock_token = 'taken-over' WHERE queue = $1 AND id = $2`, [t.queue.name, job.id]);
    const lost = new Promise<void>((resolve) => worker.once('lockLost', () => resolve()));
    assert.deepEqual(await store.checkpoint(job.id!, token, write), { owned: false, control: undefined });
    await Promise.race([lost, sleep(10_000).then(() => assert.fail('the worker never saw its lock lost'))]);
    assert.equal(worker.lostLocks, 1);
    const info = await getIterationState(t.queue, job.id!);
    assert.notEqual((info?.state as unknown as { forged?: boolean }).forged, true, 'the forged state was never written');
    assert.notDeepEqual(info?.progress, { forged: true });
    // Give the job back to nobody, so the worker's close is not held up by a job it no longer owns.
    await admin.query(`DELETE FROM "${t.schema}".job WHERE queue = $1 AND id = $2`, [t.queue.name, job.id]);
    const { rows: left } = await admin.query(`SELECT count(*)::int AS n FROM "${t.schema}".${STATE_TABLE}`);
    assert.equal(left[0].n, 0, 'the state row goes with its job');
  });

  test('pool options without a connectionString run on PostgreSQL with backend: createPostgresBackend; another backend and a malformed URL are refused, the password hidden', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshSchema(ctx);
    const url = new URL(PG_URL);
    const options = { host: url.hostname, port: Number(url.port || 5432), user: decodeURIComponent(url.username), database: url.pathname.slice(1), schema: t.schema, ...PG_TIMEOUTS };
    const job = await enqueue(t.queue, Count, { upTo: 5, record: t.record });
    const worker = t.worker({ connection: options as never, backend: createPostgresBackend });
    assert.equal((await completion(worker)).id, job.id);
    assert.deepEqual(t.items(), range(5));
    assert.throws(() => new IterationWorker('q', { jobs: [Count], connection: options as never, backend: (() => undefined) as never, handleSignals: false }), /"backend".*createPostgresBackend/);
    assert.throws(
      () => new IterationWorker('q', { jobs: [Count], connection: 'postgres://app:s3cret@db host/app', handleSignals: false }),
      (error: Error) => /a postgres:\/\/ or postgresql:\/\/ URL/.test(error.message) && !/s3cret/.test(error.message + JSON.stringify(error) + String((error as { value?: unknown }).value)),
    );
  });

  test('a job taken back as stalled by BullMQ\'s own sweep is lost to the worker that ran it and resumed from its last checkpoint', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshSchema(ctx);
    const job = await enqueue(t.queue, Count, { upTo: 200, delayMs: 5, record: t.record });
    const first = t.worker({ checkpointIntervalMs: 0 });
    await waitFor('a few items', async () => t.items().length >= 10, 20_000);
    const lost = new Promise<void>((resolve) => first.once('lockLost', () => resolve()));

    // What the stalled checker does to a job whose lock expired, through BullMQ's own function: marked on one pass,
    // taken back to waiting (token cleared) on the next. Only the expiry is forced.
    // One transaction: the row stays locked from the forced expiry to the take-back, so a lock renewal by the worker
    // cannot slip in between (it waits, then finds its token gone).
    const queueName = t.queue.name;
    const client = await admin.connect();
    let rows: Array<{ id: string }>;
    try {
      await client.query('BEGIN');
      await client.query(`UPDATE "${t.schema}".job SET locked_until_ms = 0, stalled_marked = true WHERE queue = $1 AND id = $2`, [queueName, job.id]);
      ({ rows } = await client.query(`SELECT "${t.schema}".move_stalled_jobs_to_wait($1, 3, $2, 0) AS id`, [queueName, Date.now() + 60_000]));
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
    assert.deepEqual(rows.map((row) => row.id), [job.id]);
    // Whichever worker takes the job next (the first one, once it has let its lost run go, or a second) resumes it.
    const second = t.worker();
    const done = Promise.race([completion(first), completion(second)]);
    await Promise.race([lost, sleep(10_000).then(() => assert.fail('the first worker never saw its lock lost'))]);
    assert.equal(first.lostLocks, 1);
    assert.equal((await done).id, job.id);

    const items = t.items();
    assert.deepEqual([...new Set(items)].sort((a, b) => a - b), range(200), 'every item ran');
    assert.ok(items.length - 200 <= 1, `at most the item in flight at the takeover runs twice; ${items.length - 200} did`);
    const info = await getIterationState(t.queue, job.id!);
    assert.equal(info?.status, 'completed');
    assert.equal(info?.state?.timesStalled, 1, 'the takeover is counted as a stall');
  });

  test('a control request on a job that does not exist is refused and leaves no row', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshSchema(ctx);
    await t.queue.waitUntilReady();
    await assert.rejects(cancelJob(t.queue, 'missing'), { code: 'ERR_JOB_NOT_FOUND' });
    const store = new PostgresJobStore(t.queue.getBackend() as unknown as PostgresQueueLike);
    assert.deepEqual(await store.setControl('missing', 'cancel'), { exists: false, previous: undefined });
    assert.equal(await store.replaceState('missing', '{}'), false);
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${t.schema}".${STATE_TABLE}`);
    assert.equal(rows[0].n, 0);
  });

  test('no socket was opened to anything but PostgreSQL', () => {
    const pgPort = Number(new URL(PG_URL).port || 5432);
    assert.ok(connectedPorts.has(pgPort), 'the sockets are seen at all');
    assert.deepEqual([...connectedPorts].filter((port) => port !== pgPort), []);
  });
});
