import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { IterationWorker, enqueue, getIterationState, listIterableJobs } from '../../src/bullmq/index.js';
import { IterableJob } from '../../src/index.js';
import { Sequence, closeRecorder } from '../fixtures/bullmq-jobs.js';
import { freshQueue, reap, startWorkerProcess, waitFor, type WorkerProcess } from '../support/queue.js';
import { startOwnRedis, type OwnRedis } from '../support/redis-server.js';
import { STATE_FIELD } from '../../src/store/redis-store.js';

after(() => closeRecorder());

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Short locks and stall checks, so that a dead or frozen worker's job is taken over in about a second. */
const FAST_STALLS = { lockDuration: 1000, stalledInterval: 500 };

type Ctx = { after(fn: () => unknown): void };

function worker(name: string, ctx: Ctx, options: Record<string, unknown> = {}): IterationWorker {
  const w = new IterationWorker(name, { jobs: [Sequence], handleSignals: false, ...options });
  w.on('error', () => undefined);
  ctx.after(() => w.close({ urgent: true }));
  return w;
}

/** `promise`, or a rejection naming `what` once `ms` have passed: no wait in these tests is open-ended. */
function within<T>(promise: Promise<T>, what: string, ms = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function outcome(w: IterationWorker, jobId: string): Promise<{ failed?: Error; job: Job }> {
  return within(
    new Promise((resolve) => {
      w.on('completed', (job) => job.id === jobId && resolve({ job }));
      w.on('failed', (job, error) => job?.id === jobId && resolve({ job: job!, failed: error }));
    }),
    `job ${jobId} to complete or fail`,
  );
}

/** A queue on a Redis server of the test's own, for tests that kill it or read its traffic. */
async function ownQueue(ctx: Ctx, label: string): Promise<{ own: OwnRedis; queue: Queue; name: string }> {
  const own = await startOwnRedis();
  ctx.after(() => own.destroy());
  const name = `ji-test-${label}-${randomUUID()}`;
  const queue = new Queue(name, { connection: { host: '127.0.0.1', port: own.port, maxRetriesPerRequest: null } });
  queue.on('error', () => undefined);
  ctx.after(() => queue.close());
  return { own, queue, name };
}

describe('untrusted job data', () => {
  const invalid: [string, (raw: string) => string | undefined][] = [
    ['no data field at all', () => undefined],
    ['data that is not JSON', () => '{"params": {"upTo": 5'],
    ['data that is an array', () => '[1,2,3]'],
    ['data without params', () => '{"upTo": 5}'],
    ['state: null', (raw) => JSON.stringify({ ...JSON.parse(raw), state: null })],
    ['a state of another job', (raw) => JSON.stringify({ ...JSON.parse(raw), state: { version: 1, jobName: 'other', status: 'interrupted', iterations: 2, timesInterrupted: 1, totalTimeMs: 1, cursor: 1 } })],
  ];
  for (const [what, corrupt] of invalid) {
    test(`a job with ${what} fails with ERR_INVALID_JOB_DATA, runs nothing and keeps its data for inspection`, async (ctx) => {
      const t = await freshQueue('bad-data', ctx);
      const job = await enqueue(t.queue, Sequence, { upTo: 5, record: t.record });
      const key = t.queue.toKey(job.id!);
      const bad = corrupt((await t.redis.hget(key, 'data'))!);
      if (bad === undefined) await t.redis.hdel(key, 'data');
      else await t.redis.hset(key, 'data', bad);
      const w = worker(t.name, ctx);
      const { failed } = await outcome(w, job.id!);
      assert.match(failed?.message ?? 'completed', new RegExp(`^ERR_INVALID_JOB_DATA: Job ${job.id} \\("sequence"\\)`));
      assert.equal(await t.redis.hget(key, 'data'), bad ?? null, 'the data is left as it was');
      assert.equal(await t.queue.getJobState(job.id!), 'failed');
      assert.equal((await getIterationState(t.queue, job.id!))?.attemptsMade, 1, 'no retries: it will not read better next time');
      assert.deepEqual(await t.items(), []);
      const listed = (await listIterableJobs(t.queue, { jobs: [Sequence] })).find((info) => info.id === job.id);
      assert.match(listed?.invalid ?? 'not listed as invalid', /^Job \d+ \("sequence"\) has stored data that is not a valid iterable job/);
    });
  }

  test('an extra key in the data of a job saved half-way is kept, and the job resumes where it was', async (ctx) => {
    const t = await freshQueue('extra-key', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 60, delayMs: 5, record: t.record });
    const first = worker(t.name, ctx, { checkpointIntervalMs: 0 });
    await waitFor('20 items', async () => (await t.items()).length >= 20);
    await first.close();
    const key = t.queue.toKey(job.id!);
    const data = { ...JSON.parse((await t.redis.hget(key, 'data'))!), traceId: 'abc' };
    await t.redis.hset(key, 'data', JSON.stringify(data));
    const second = worker(t.name, ctx);
    const { failed } = await outcome(second, job.id!);
    assert.equal(failed, undefined);
    assert.deepEqual(await t.items(), range(60), 'every item exactly once: nothing restarted, nothing skipped');
    assert.equal(JSON.parse((await t.redis.hget(key, 'data'))!).traceId, 'abc', 'the extra key is kept');
  });

  test('a saved cursor the job refuses fails the job with ERR_INVALID_CURSOR before any item', async (ctx) => {
    class Strict extends IterableJob<{ upTo: number }, number, number> {
      static override jobName = 'strict';
      static ran = 0;
      *buildEnumerator(params: { upTo: number }, { cursor }: { cursor: number | undefined }): Generator<[number, number]> {
        for (let i = cursor === undefined ? 0 : cursor + 1; i < params.upTo; i++) yield [i, i];
      }
      eachIteration() {
        Strict.ran++;
      }
      override validateCursor(cursor: unknown) {
        return Number.isSafeInteger(cursor) || `expected an integer, got ${JSON.stringify(cursor)}`;
      }
    }
    const t = await freshQueue('bad-cursor', ctx);
    const job = await t.queue.add('strict', {
      params: { upTo: 5 },
      state: { version: 1, jobName: 'strict', status: 'interrupted', iterations: 2, timesInterrupted: 1, totalTimeMs: 1, cursor: 'x' },
    });
    const w = new IterationWorker(t.name, { jobs: [Strict], handleSignals: false });
    ctx.after(() => w.close());
    const { failed } = await outcome(w, job.id!);
    assert.match(failed?.message ?? 'completed', /^ERR_INVALID_CURSOR: Job "strict" cannot resume from the saved cursor "x": expected an integer/);
    assert.equal(Strict.ran, 0);
  });

  test("params the job's validateParams refuses: enqueue throws and adds nothing; such a job added past it fails for good with ERR_INVALID_PARAMS", async (ctx) => {
    class Checked extends IterableJob<{ upTo: unknown }, number, number> {
      static override jobName = 'checked';
      static override jobOptions = { attempts: 3 };
      static ran = 0;
      *buildEnumerator(params: { upTo: unknown }, { cursor }: { cursor: number | undefined }): Generator<[number, number]> {
        for (let i = cursor === undefined ? 0 : cursor + 1; i < (params.upTo as number); i++) yield [i, i];
      }
      eachIteration() {
        Checked.ran++;
      }
      override validateParams({ upTo }: { upTo: unknown }) {
        return Number.isSafeInteger(upTo) || `upTo must be an integer; got ${JSON.stringify(upTo)}`;
      }
    }
    const t = await freshQueue('bad-params', ctx);
    await assert.rejects(enqueue(t.queue, Checked, { upTo: '5' }), /^InvalidParamsError: Params of job "checked" are refused: upTo must be an integer; got "5"$/m);
    assert.equal(await t.queue.count(), 0, 'nothing added');
    const job = await t.queue.add('checked', { params: { upTo: '5' } }, { attempts: 3 });
    const w = new IterationWorker(t.name, { jobs: [Checked], handleSignals: false });
    ctx.after(() => w.close());
    const { failed } = await outcome(w, job.id!);
    assert.match(failed?.message ?? 'completed', /^ERR_INVALID_PARAMS: Params of job "checked" are refused: upTo must be an integer; got "5"$/);
    assert.equal((await t.queue.getJob(job.id!))?.attemptsMade, 1, 'not retried: every retry would be refused the same way');
    assert.equal(Checked.ran, 0);
  });
});

describe('outcomes already saved', () => {
  test('a job whose completed state was saved before its worker died completes without running anything again', async (ctx) => {
    const t = await freshQueue('saved-outcome', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 5, record: t.record });
    const state = { version: 1, jobName: 'sequence', status: 'completed', iterations: 5, timesInterrupted: 0, totalTimeMs: 9, cursor: 4, startedAt: '2026-01-01T00:00:00.000Z', completedAt: '2026-01-01T00:00:01.000Z' };
    await t.redis.hset(t.queue.toKey(job.id!), STATE_FIELD, JSON.stringify(state));
    const w = worker(t.name, ctx);
    const { failed } = await outcome(w, job.id!);
    assert.equal(failed, undefined);
    assert.deepEqual(await t.items(), [], 'no item ran again');
    assert.deepEqual(await t.hooks(), [], 'neither onStart nor onComplete ran again');
    assert.equal((await getIterationState(t.queue, job.id!))?.state?.status, 'completed');
  });
});

describe('stalls, poison items and lost locks', () => {
  test('an item that crashes its worker every time fails the job after maxStalledCount stalls, however far past the last checkpoint it is', async (ctx) => {
    const t = await freshQueue('poison-far', ctx);
    const procs: WorkerProcess[] = [];
    ctx.after(() => procs.forEach(reap));
    // 20 quick items after the last checkpoint, then an item that kills its process.
    const job = await enqueue(t.queue, Sequence, { upTo: 100, crashAt: 20, record: t.record });
    const options = { ...FAST_STALLS, maxStalledCount: 3, checkpointIntervalMs: 60_000 };
    let runs = 0;
    const failed = async () => (await t.queue.getJobState(job.id!)) === 'failed';
    while (!(await failed())) {
      assert.ok(runs < 12, `still not failed after ${runs} crashes`);
      const proc = await startWorkerProcess(t.name, options);
      procs.push(proc);
      // Either the poison item kills this worker, or the worker fails the job instead of running it.
      const crashed = await Promise.race([proc.exited.then(() => true), waitFor('the job to fail', failed, 20_000).then(() => false)]);
      if (crashed) runs++;
      else reap(proc);
    }
    const info = await getIterationState(t.queue, job.id!);
    // The run after the first crash saves every item, so the cursor ends right before the poison item, and the
    // stalls are counted from there.
    assert.match(info?.failedReason ?? '', /^ERR_JOB_STALLED: .*stalled 4 times in a row without progress after cursor 19 \(maxStalledCount 3\)/);
    assert.ok(runs <= 5, `the poison item ran ${runs} times; at most maxStalledCount + 2`);
    assert.equal((await t.redis.lrange(`${t.record}:poison`, 0, -1)).length, runs);
    assert.equal(info?.state?.timesStalled, runs);
    assert.equal(info?.state?.status, 'failed');
  });

  test('a poison item does not take the jobs beside it down with it: they complete, only the poison job fails', async (ctx) => {
    const t = await freshQueue('poison-neighbours', ctx);
    const procs: WorkerProcess[] = [];
    ctx.after(() => procs.forEach(reap));
    const neighbour = await enqueue(t.queue, Sequence, { upTo: 300, delayMs: 5, record: t.record });
    const poison = await enqueue(t.queue, Sequence, { upTo: 100, crashAt: 3, record: `${t.record}:p` });
    const options = { ...FAST_STALLS, maxStalledCount: 3, concurrency: 2, checkpointIntervalMs: 200 };
    const settled = async () => {
      const states = await Promise.all([t.queue.getJobState(neighbour.id!), t.queue.getJobState(poison.id!)]);
      return states.every((s) => s === 'completed' || s === 'failed');
    };
    for (let run = 0; !(await settled()); run++) {
      assert.ok(run < 15, `not settled after ${run} worker processes`);
      const proc = await startWorkerProcess(t.name, options);
      procs.push(proc);
      const crashed = await Promise.race([proc.exited.then(() => true), waitFor('both jobs to settle', settled, 20_000).then(() => false)]);
      if (!crashed) reap(proc);
    }
    assert.equal(await t.queue.getJobState(neighbour.id!), 'completed');
    const [items, poisonInfo] = await Promise.all([t.items(), getIterationState(t.queue, poison.id!)]);
    assert.deepEqual([...new Set(items)].sort((a, b) => a - b), range(300), 'every item of the neighbour');
    assert.match(poisonInfo?.failedReason ?? '', /^ERR_JOB_STALLED: .* after cursor 2 /);
  });

  test('a worker frozen past its lock (SIGSTOP) loses the job: the new owner counts the stall, the old one stops at once and reports it', async (ctx) => {
    const t = await freshQueue('sigstop', ctx);
    const procs: WorkerProcess[] = [];
    ctx.after(() => procs.forEach(reap));
    const job = await enqueue(t.queue, Sequence, { upTo: 400, delayMs: 5, record: t.record });
    const frozen = await startWorkerProcess(t.name, { ...FAST_STALLS, checkpointIntervalMs: 100 });
    procs.push(frozen);
    await waitFor('50 items', async () => (await t.items()).length >= 50);
    frozen.child.kill('SIGSTOP');
    const atStop = (await t.items()).length;
    const taker = worker(t.name, ctx, { ...FAST_STALLS, checkpointIntervalMs: 100 });
    const stalled = new Promise<number | undefined>((resolve) => taker.on('stalledRun', (_job, state) => resolve(state.timesStalled)));
    const done = outcome(taker, job.id!);
    assert.equal(await within(stalled, 'the new owner to pick the job up'), 1, 'the new owner counts the stall');
    await waitFor('the new owner to make progress', async () => (await t.items()).length >= atStop + 30);
    frozen.child.kill('SIGCONT');
    await waitFor('the frozen worker to see its lock is gone', () => frozen.stdout().includes(`lockLost ${job.id}`), 10_000);
    const { failed } = await done;
    assert.equal(failed, undefined);
    const items = await t.items();
    assert.deepEqual([...new Set(items)].sort((a, b) => a - b), range(400), 'every item at least once');
    const info = await getIterationState(t.queue, job.id!);
    assert.equal(info?.state?.timesStalled, 1);
    assert.equal(info?.state?.iterations, 400);
    // Redone: what the frozen worker did since its last checkpoint (100 ms of 5 ms items), plus the item it was in
    // when it froze and at most one more after it woke up.
    const redone = items.length - 400;
    assert.ok(redone <= 30, `${redone} items done twice`);
    frozen.child.kill('SIGTERM');
    await frozen.exited;
  });
});

describe('checkpoints write the state alone', () => {
  test('params of 200 KB and a checkpoint per item: Redis receives the params once, not once per checkpoint', async (ctx) => {
    const { own, queue, name } = await ownQueue(ctx, 'big-params');
    const stats = new Redis(own.url);
    ctx.after(() => stats.quit());
    const inputBytes = async () => Number(/total_net_input_bytes:(\d+)/.exec(await stats.info('stats'))![1]);
    const blob = 'x'.repeat(200_000);
    const job = await enqueue(queue, Sequence, { upTo: 50, blob } as never);
    const before = await inputBytes();
    const w = worker(name, ctx, { connection: own.url, checkpointIntervalMs: 0 });
    const { failed } = await outcome(w, job.id!);
    assert.equal(failed, undefined);
    const sent = (await inputBytes()) - before;
    assert.ok(sent < 1_000_000, `the run sent ${sent} bytes to Redis for 50 checkpoints of 200 KB params`);
    assert.equal(JSON.parse((await stats.hget(queue.toKey(job.id!), 'data'))!).params.blob.length, 200_000);
  });
});

/** Takes Redis away, closes the worker, brings Redis back after `outageMs`; the close must finish soon after. */
async function closeDuringOutage(w: IterationWorker, own: OwnRedis, outageMs: number): Promise<void> {
  await own.kill();
  const closing = w.close();
  await sleep(outageMs);
  await own.start();
  await within(closing, 'the close to finish once Redis is back', 15_000);
}

describe('closing while Redis is away', () => {
  test('close() of an idle worker finishes once Redis is back from an outage that began before it', async (ctx) => {
    const { own, name } = await ownQueue(ctx, 'outage-idle');
    const w = worker(name, ctx, { connection: own.url });
    await w.waitUntilReady();
    await sleep(300);
    await closeDuringOutage(w, own, 2000);
  });

  test('close() hands a running job back once Redis returns, with its cursor', async (ctx) => {
    const { own, queue, name } = await ownQueue(ctx, 'outage-active');
    const t = await freshQueue('outage-active-record', ctx);
    const job = await enqueue(queue, Sequence, { upTo: 100_000, delayMs: 5, record: t.record });
    const w = worker(name, ctx, { connection: own.url, checkpointIntervalMs: 50, concurrency: 2 });
    await waitFor('20 items', async () => (await t.items()).length >= 20);
    await closeDuringOutage(w, own, 2000);
    const info = await getIterationState<number>(queue, job.id!);
    assert.equal(info?.queueState, 'waiting', 'handed back, not left active');
    assert.ok((info?.state?.iterations ?? 0) >= 20, `the cursor was saved: ${JSON.stringify(info?.state)}`);
  });

  test('close() resolves within its bound when Redis never comes back; the job resumes from its last checkpoint later', async (ctx) => {
    const { own, queue, name } = await ownQueue(ctx, 'outage-forever');
    const t = await freshQueue('outage-forever-record', ctx);
    const job = await enqueue(queue, Sequence, { upTo: 100_000, delayMs: 5, record: t.record });
    const w = worker(name, ctx, { connection: own.url, checkpointIntervalMs: 50, closeTimeoutMs: 1000, ...FAST_STALLS });
    const abandoned = new Promise<string>((resolve) => w.on('abandoned', (j) => resolve(j.id!)));
    await waitFor('20 items', async () => (await t.items()).length >= 20);
    await own.kill();
    const started = performance.now();
    const result = await Promise.race([w.close().then(() => 'closed'), sleep(10_000).then(() => 'still closing after 10 s')]);
    const tookMs = performance.now() - started;
    assert.equal(result, 'closed');
    assert.ok(tookMs < 4000, `close took ${Math.round(tookMs)} ms with closeTimeoutMs 1000`);
    assert.equal(await within(abandoned, 'the abandoned event'), job.id);
    await own.start();
    const next = worker(name, ctx, { connection: own.url, ...FAST_STALLS });
    const stalled = new Promise<number | undefined>((resolve) => next.on('stalledRun', (_job, state) => resolve(state.iterations)));
    const resumedAt = await Promise.race([stalled, sleep(15_000).then(() => -1)]);
    assert.ok(resumedAt !== undefined && resumedAt >= 10, `resumed from its last checkpoint (${resumedAt} items), not from zero`);
  });
});
