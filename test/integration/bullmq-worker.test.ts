import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Job } from 'bullmq';
import {
  BULLMQ_ADAPTER,
  IterationWorker,
  enqueue,
  getIterationState,
  type IterationProgress,
} from '../../src/bullmq/index.js';
import { IterableJob, InterruptionAdapters, InvalidParamsError, fromArray, type JobState } from '../../src/index.js';
import { LockLostError } from '../../src/bullmq/index.js';
import { Sequence, Spin, ThrottledSequence, closeRecorder } from '../fixtures/bullmq-jobs.js';
import { freshQueue, waitFor } from '../support/queue.js';
import { TEST_TIMEOUT_MS } from '../support/process.js';

after(() => closeRecorder());

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function completion(worker: IterationWorker, count = 1): Promise<Job[]> {
  const done: Job[] = [];
  return new Promise((resolve) =>
    worker.on('completed', (job) => {
      done.push(job);
      if (done.length === count) resolve(done);
    }),
  );
}

describe('IterationWorker', () => {
  test('registers the bullmq adapter on import, next to the core adapters', () => {
    const names = InterruptionAdapters.list();
    assert.ok(names.includes(BULLMQ_ADAPTER));
    assert.ok(names.includes('worker-stop'));
    assert.ok(names.includes('max-runtime'));
  });

  test('enqueue names the job after its class and refuses params that are not JSON', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('enqueue', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 3 });
    assert.equal(job.name, 'sequence');
    assert.deepEqual(job.data, { params: { upTo: 3 } });
    await assert.rejects(enqueue(t.queue, Sequence, { upTo: 3, at: new Date() } as never), InvalidParamsError);
    await assert.rejects(enqueue(t.queue, Sequence, { upTo: 10n } as never), { code: 'ERR_INVALID_PARAMS' });
    assert.equal(await t.queue.count(), 1);
  });

  test('close() stops a running job after its current item and puts it back under the same id; the next worker finishes it exactly once', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('graceful', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 80, delayMs: 10, record: t.record });
    const first = new IterationWorker(t.name, { jobs: [Sequence], handleSignals: false });
    await waitFor('10 items', async () => (await t.items()).length >= 10);
    const started = performance.now();
    await first.close();
    const closeMs = performance.now() - started;
    assert.ok(closeMs < 200, `close took ${closeMs} ms; one item is 10 ms`);
    assert.equal(first.requeuedOnClose, 1);

    const done = await t.items();
    const info = await getIterationState<number>(t.queue, job.id!);
    assert.equal(info?.queueState, 'waiting');
    assert.equal(info?.status, 'interrupted');
    assert.equal(info?.state?.cursor, done.at(-1));
    assert.equal(info?.state?.iterations, done.length);
    assert.equal(info?.state?.timesInterrupted, 1);
    assert.equal(info?.state?.lastInterruption?.adapter, 'bullmq');
    assert.equal(info?.attemptsMade, 0, 'an interruption is not a failed attempt');
    const progress = info?.progress as IterationProgress;
    assert.equal(progress.cursor, done.at(-1));
    assert.equal(progress.total, 80);

    const second = new IterationWorker(t.name, { jobs: [Sequence], handleSignals: false });
    const [finished] = await completion(second);
    await second.close();
    assert.equal(finished!.id, job.id, 'same job id');
    assert.deepEqual(await t.items(), range(80), 'every item exactly once, in order');
    assert.deepEqual(await t.hooks(), ['onStart', 'onComplete']);
    const final = await getIterationState(t.queue, job.id!);
    assert.equal(final?.status, 'completed');
    assert.equal((final?.progress as IterationProgress).percentage, 100);
    assert.deepEqual(finished!.returnvalue, { iterations: 80, cursor: 79, totalTimeMs: final?.state?.totalTimeMs, timesInterrupted: 1 });
  });

  test('with concurrency 5, one close stops every job; none is lost or run twice', { timeout: TEST_TIMEOUT_MS }, async () => {
    const t = await freshQueue('concurrency');
    const lists = range(5).map((i) => `${t.record}:${i}`);
    try {
      const jobs = await Promise.all(lists.map((record) => enqueue(t.queue, Sequence, { upTo: 60, delayMs: 8, record })));
      const first = new IterationWorker(t.name, { jobs: [Sequence], concurrency: 5, handleSignals: false, checkpointIntervalMs: 100 });
      await waitFor('all 5 jobs running', async () => (await Promise.all(lists.map((l) => t.redis.llen(l)))).every((n) => n >= 3));
      const started = performance.now();
      await first.close();
      assert.ok(performance.now() - started < 300, 'all five stopped within about one item');
      assert.equal(first.requeuedOnClose, 5);
      assert.equal(await t.queue.getWaitingCount(), 5);
      for (const [i, job] of jobs.entries()) {
        const info = await getIterationState<number>(t.queue, job.id!);
        const done = (await t.redis.lrange(lists[i]!, 0, -1)).map(Number);
        assert.equal(info?.state?.cursor, done.at(-1), `job ${job.id} saved its last finished item`);
        assert.ok(done.length < 60);
      }

      const second = new IterationWorker(t.name, { jobs: [Sequence], concurrency: 5, handleSignals: false });
      const finished = await completion(second, 5);
      await second.close();
      assert.deepEqual(finished.map((j) => j.id).sort(), jobs.map((j) => j.id).sort());
      for (const list of lists) assert.deepEqual((await t.redis.lrange(list, 0, -1)).map(Number), range(60));
    } finally {
      await t.redis.del(...lists);
      await t.cleanup();
    }
  });

  test('an unknown job name fails that job with UnknownJobError and the worker goes on', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('unknown', ctx);
    const stray = await t.queue.add('no-such-job', { params: {} });
    const good = await enqueue(t.queue, Sequence, { upTo: 5, record: t.record });
    const worker = new IterationWorker(t.name, { jobs: [Sequence], handleSignals: false });
    const failed = new Promise<[Job | undefined, Error]>((resolve) => worker.on('failed', (job, error) => resolve([job, error])));
    const [done] = await completion(worker);
    const [failedJob, error] = await failed;
    await worker.close();
    assert.equal(failedJob?.id, stray.id);
    assert.equal(error.name, 'UnknownJobError');
    assert.equal((error as { code?: string }).code, 'ERR_UNKNOWN_JOB');
    assert.match((await t.queue.getJob(stray.id!))!.failedReason, /No iterable job is registered as "no-such-job".*known: sequence/);
    assert.equal(done!.id, good.id);
    assert.deepEqual(await t.items(), range(5));
  });

  test('an error in eachIteration uses BullMQ attempts, and the retry resumes from the last cursor', { timeout: TEST_TIMEOUT_MS }, async () => {
    const t = await freshQueue('retry');
    try {
      Sequence.failuresLeft = 1;
      const job = await enqueue(t.queue, Sequence, { upTo: 20, failAt: 12, record: t.record }, { attempts: 2 });
      const worker = new IterationWorker(t.name, { jobs: [Sequence], handleSignals: false, checkpointIntervalMs: 60_000 });
      const failedOnce = new Promise<Error>((resolve) => worker.on('failed', (_job, error) => resolve(error)));
      const [done] = await completion(worker);
      await worker.close();
      assert.equal((await failedOnce).message, 'failed at item 12');
      assert.deepEqual(await t.items(), range(20), 'items before the failure are not redone');
      assert.deepEqual(await t.hooks(), ['onStart', 'onComplete']);
      assert.equal(done!.id, job.id);
      assert.equal(done!.attemptsMade, 2);
      const info = await getIterationState(t.queue, job.id!);
      assert.equal(info?.state?.lastError, 'failed at item 12');
      assert.equal(info?.state?.iterations, 20);
      const { logs } = await t.queue.getJobLogs(job.id!);
      assert.deepEqual(logs, ['failed at attempt 1: failed at item 12; cursor 11 kept', 'resumed after cursor 11 (12 items done, interrupted 0 time(s))'], 'the job log tells the story');
    } finally {
      Sequence.failuresLeft = 0;
      await t.cleanup();
    }
  });

  test("BullMQ's own cancelJob aborts the job's signal and fails the attempt, with the cursor saved", { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('bull-cancel', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 1000, delayMs: 20, record: t.record });
    const worker = new IterationWorker(t.name, { jobs: [Sequence], handleSignals: false, checkpointIntervalMs: 60_000 });
    const failed = new Promise<[Job | undefined, Error]>((resolve) => worker.on('failed', (j, e) => resolve([j, e])));
    await waitFor('some progress', async () => (await t.items()).length >= 3);
    assert.equal(worker.bullWorker.cancelJob(job.id!, 'operator stop'), true);
    const [failedJob, error] = await failed;
    await worker.close();
    assert.equal(failedJob?.id, job.id);
    assert.match(error.message, /operator stop/);
    const done = await t.items();
    const info = await getIterationState<number>(t.queue, job.id!);
    assert.equal(info?.queueState, 'failed');
    assert.equal(info?.state?.cursor, done.at(-1), 'a retry would resume after the last finished item');
    assert.ok(done.length < 1000);
  });

  test('a worker that lost the lock cannot overwrite the newer cursor; its run stops without moving the job', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('fenced', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 5000, delayMs: 5, record: t.record });
    const worker = new IterationWorker(t.name, { jobs: [Sequence], handleSignals: false, checkpointIntervalMs: 20 });
    const lost = new Promise<[Job, LockLostError]>((resolve) => worker.on('lockLost', (j, e) => resolve([j, e])));
    await waitFor('some progress', async () => (await t.items()).length >= 5);

    // Another worker takes the job over and saves a newer cursor, as after a stall.
    const jobKey = t.queue.toKey(job.id!);
    const newer: JobState<number> = {
      version: 1,
      jobName: 'sequence',
      status: 'running',
      cursor: 4000,
      iterations: 4001,
      timesInterrupted: 0,
      totalTimeMs: 1,
    };
    await t.redis.set(`${jobKey}:lock`, 'another-worker-token', 'PX', 30_000);
    await t.redis.hset(jobKey, 'data', JSON.stringify({ params: job.data.params, state: newer }));

    const [lostJob, error] = await lost;
    assert.equal(lostJob.id, job.id);
    assert.equal(error.code, 'ERR_LOCK_LOST');
    const countAtStop = (await t.items()).length;
    await worker.close();
    await sleep(50);
    assert.equal((await t.items()).length, countAtStop, 'the run stopped');
    const stored = JSON.parse((await t.redis.hget(jobKey, 'data'))!) as { state: JobState<number> };
    assert.deepEqual(stored.state, newer, 'the newer state was not overwritten');
    assert.equal(await t.queue.getJobState(job.id!), 'active', 'the job was left to its new owner');
    assert.equal(await t.redis.get(`${jobKey}:lock`), 'another-worker-token');
  });

  test('a long synchronous no-op job keeps its lock renewed and never stalls', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('spin', ctx);
    const job = await enqueue(t.queue, Spin, { forMs: 2500 });
    const worker = new IterationWorker(t.name, {
      jobs: [Spin],
      handleSignals: false,
      lockDuration: 1000,
      stalledInterval: 300,
      // No checkpoint during the run, so only lock renewal keeps the job alive.
      checkpointIntervalMs: 60_000,
    });
    const stalled: string[] = [];
    worker.on('stalled', (id) => stalled.push(id));
    const [done] = await completion(worker);
    await worker.close();
    assert.deepEqual(stalled, []);
    assert.equal(done!.id, job.id);
    const hash = await t.redis.hgetall(t.queue.toKey(job.id!));
    assert.equal(hash.ats, '1', 'started once');
    assert.ok(!hash.stc || hash.stc === '0', `stalled counter is ${hash.stc}`);
    assert.ok((done!.returnvalue as { iterations: number }).iterations > 100_000);
  });

  test('close({ urgent: true }) does not wait for the item in flight, even during a graceful close; the job resumes after its last finished item', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('urgent', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 6, delayMs: 300, record: t.record });
    const worker = new IterationWorker(t.name, { jobs: [Sequence], handleSignals: false });
    await waitFor('two items', async () => (await t.items()).length >= 2);
    await sleep(50); // the third item is in flight now
    const graceful = worker.close();
    await sleep(30);
    const started = performance.now();
    await worker.close({ urgent: true });
    const urgentMs = performance.now() - started;
    await graceful;
    assert.ok(urgentMs < 150, `urgent close took ${urgentMs} ms with a 300 ms item in flight`);
    assert.equal(worker.requeuedOnClose, 1);

    const done = await t.items();
    const info = await getIterationState<number>(t.queue, job.id!);
    assert.equal(info?.queueState, 'waiting');
    assert.equal(info?.state?.cursor, done.at(-1));
    assert.equal(info?.state?.timesInterrupted, 1);
    assert.equal(info?.state?.lastInterruption?.reason, 'urgent stop');
    await sleep(350);
    assert.deepEqual(await t.items(), done, 'the aborted item did not complete behind our back');

    const second = new IterationWorker(t.name, { jobs: [Sequence], handleSignals: false });
    await completion(second);
    await second.close();
    assert.deepEqual(await t.items(), range(6));
  });

  test('progress carries cursor, iterations, percent and ETA, on the job and on the queue events stream', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('progress', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 30, delayMs: 10 });
    const worker = new IterationWorker(t.name, { jobs: [Sequence], handleSignals: false, checkpointIntervalMs: 50 });
    const seen: IterationProgress[] = [];
    worker.on('progress', (_job, progress) => seen.push(progress as IterationProgress));
    await completion(worker);
    await worker.close();
    assert.deepEqual([seen[0]?.status, seen[0]?.iterations, seen[0]?.total], ['running', 0, 30], 'the run is announced with its total before its first item');
    const mid = seen.find((p) => p.status === 'running' && p.iterations > 0);
    assert.ok(mid, 'a progress report while running');
    assert.equal(mid.total, 30);
    assert.equal(mid.cursor, mid.iterations - 1);
    assert.equal(mid.percentage, Math.round((mid.iterations / 30) * 10000) / 100);
    assert.equal(mid.progress, mid.percentage, 'a number named progress, which dashboards draw');
    assert.ok(seen.some((p) => typeof p.ratePerSecond === 'number' && p.ratePerSecond > 0), 'the rate beside it');
    assert.ok(typeof mid.etaMs === 'number' && mid.etaMs > 0);
    assert.equal(seen.at(-1)?.status, 'completed');

    const stream = await t.redis.xrange(t.queue.keys.events!, '-', '+');
    const progressEvents = stream
      .map(([, fields]) => Object.fromEntries(fields.flatMap((_, i) => (i % 2 ? [] : [[fields[i], fields[i + 1]]]))))
      .filter((e) => e.event === 'progress' && e.jobId === job.id);
    assert.ok(progressEvents.length >= 2);
    assert.equal(JSON.parse(progressEvents.at(-1)!.data!).iterations, 30);
  });

  test('a throttled job goes back delayed by retryAfterMs, not as a failed attempt, and finishes later under the same id, every item once', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('throttle', ctx);
    const job = await enqueue(t.queue, ThrottledSequence, { upTo: 20, record: t.record, throttleAfter: [5] } as never, { attempts: 1 });
    const worker = new IterationWorker(t.name, { jobs: [ThrottledSequence], handleSignals: false });
    ctx.after(() => worker.close());
    const interrupted = new Promise<{ info: { adapter: string; reason: string; retryAfterMs?: number; delayMs: number }; at: number }>((resolve) =>
      worker.once('interrupted', (_job, info) => resolve({ info, at: Date.now() })),
    );
    const done = completion(worker);
    const { info, at } = await interrupted;
    assert.deepEqual([info.adapter, info.reason, info.retryAfterMs, info.delayMs], ['replica-lag', 'replica lag', 1500, 1500]);
    await waitFor('the job back in the queue', async () => (await t.queue.getJobState(job.id!)) === 'delayed');
    const held = await t.queue.getJob(job.id!);
    assert.equal(held?.attemptsMade, 0, 'a throttle is not a failed attempt (attempts: 1 would have failed the job)');
    assert.deepEqual(await t.items(), range(5));
    const [finished] = await done;
    assert.equal(finished!.id, job.id);
    assert.ok(finished!.processedOn! - at >= 1400, `picked up again ${finished!.processedOn! - at} ms after the throttle; asked for 1500`);
    assert.deepEqual(await t.items(), range(20), 'every item exactly once');
    const state = (await getIterationState(t.queue, job.id!))?.state;
    assert.equal(state?.lastInterruption?.retryAfterMs, 1500);
    assert.deepEqual((await t.queue.getJobLogs(job.id!)).logs, [
      'throttled by replica-lag (replica lag) at cursor 4 after 5 items; back in 1500 ms',
      'resumed after cursor 4 (5 items done, interrupted 1 time(s))',
    ]);
  });

  test('a measured enumeration gives progress a total, a percent and an ETA without count()', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    class Measured extends IterableJob<object, number, number> {
      static override jobName = 'measured';
      buildEnumerator(_params: object, { cursor }: { cursor: number | undefined }) {
        return fromArray(range(40), { cursor });
      }
      async eachIteration() {
        await sleep(5);
      }
    }
    const t = await freshQueue('measured', ctx);
    await enqueue(t.queue, Measured, {});
    const worker = new IterationWorker(t.name, { jobs: [Measured], handleSignals: false, checkpointIntervalMs: 30 });
    const seen: IterationProgress[] = [];
    worker.on('progress', (_job, progress) => seen.push(progress as IterationProgress));
    await completion(worker);
    await worker.close();
    const mid = seen.find((p) => p.status === 'running' && p.iterations > 0);
    assert.ok(mid, 'a progress report while running');
    assert.deepEqual([mid.total, mid.done, mid.unit], [40, mid.iterations, 'items']);
    assert.equal(mid.percentage, Math.round((mid.iterations / 40) * 10000) / 100);
    // The rate, and so the ETA, counts from the first report that knew the extent.
    assert.ok(seen.some((p) => p.status === 'running' && typeof p.etaMs === 'number' && p.etaMs > 0), 'an ETA while running');
    assert.deepEqual([seen.at(-1)?.status, seen.at(-1)?.percentage], ['completed', 100]);
  });
});
