import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Job } from 'bullmq';
import { CONTROL_FIELD } from '../../src/store/redis-store.js';
import {
  IterationWorker,
  cancelJob,
  enqueue,
  getIterationState,
  listIterableJobs,
  pauseJob,
  resumeJob,
  retryJob,
} from '../../src/bullmq/index.js';
import { STATE_FIELD } from '../../src/store/redis-store.js';
import { JobNotFoundError } from '../../src/bullmq/index.js';
import { Sequence, closeRecorder } from '../fixtures/bullmq-jobs.js';
import { freshQueue, waitFor } from '../support/queue.js';
import { TEST_TIMEOUT_MS } from '../support/process.js';

after(() => closeRecorder());

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function worker(queue: string) {
  return new IterationWorker(queue, { jobs: [Sequence], handleSignals: false, checkpointIntervalMs: 50, controlPollIntervalMs: 50 });
}

function failure(w: IterationWorker): Promise<[Job | undefined, Error]> {
  return new Promise((resolve) => w.on('failed', (job, error) => resolve([job, error])));
}

describe('control from any process', () => {
  test('cancelJob stops a running job at its next checkpoint, runs onCancel, and fails it as cancelled without retries', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('cancel-running', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 1000, delayMs: 5, record: t.record }, { attempts: 3 });
    const w = worker(t.name);
    const failed = failure(w);
    await waitFor('progress', async () => (await t.items()).length >= 5);
    const result = await cancelJob(t.queue, job.id!);
    assert.deepEqual(result, { jobId: job.id, queueState: 'active', effect: 'requested' });
    const [failedJob, error] = await failed;
    assert.equal(failedJob?.id, job.id);
    assert.equal(error.name, 'UnrecoverableError');
    assert.equal((error as { code?: string }).code, 'ERR_JOB_CANCELLED');
    await sleep(100);
    await w.close();

    const info = await getIterationState<number>(t.queue, job.id!);
    assert.equal(info?.queueState, 'failed');
    assert.equal(info?.status, 'cancelled');
    assert.equal(info?.state?.status, 'cancelled');
    assert.equal(info?.failedReason, `ERR_JOB_CANCELLED: Job "sequence" (id ${job.id}) was cancelled.`);
    assert.equal(info?.attemptsMade, 1, 'not retried');
    assert.equal(info?.control, undefined, 'the request is cleared once acted on');
    const done = await t.items();
    assert.ok(done.length < 1000);
    assert.equal(info?.state?.cursor, done.at(-1));
    assert.deepEqual(await t.hooks(), ['onStart', 'onCancel']);
  });

  test('cancelJob on a waiting job: the worker that picks it up cancels it before any item', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('cancel-waiting', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 10, record: t.record });
    assert.deepEqual(await cancelJob(t.queue, job.id!), { jobId: job.id, queueState: 'waiting', effect: 'requested' });
    assert.equal((await getIterationState(t.queue, job.id!))?.status, 'cancelling');
    const w = worker(t.name);
    const [failedJob] = await failure(w);
    await w.close();
    assert.equal(failedJob?.id, job.id);
    assert.deepEqual(await t.items(), []);
    assert.deepEqual(await t.hooks(), ['onCancel']);
    assert.equal((await getIterationState(t.queue, job.id!))?.status, 'cancelled');
    assert.deepEqual(await cancelJob(t.queue, job.id!), { jobId: job.id, queueState: 'failed', effect: 'none' });
  });

  test('pauseJob parks a running job with its cursor; resumeJob puts it back and it finishes every item once', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('pause-running', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 60, delayMs: 5, record: t.record });
    const w = worker(t.name);
    const parked = new Promise<Job>((resolve) => w.on('parked', (j) => resolve(j)));
    await waitFor('progress', async () => (await t.items()).length >= 5);
    assert.equal((await pauseJob(t.queue, job.id!)).effect, 'requested');
    assert.equal((await parked).id, job.id);

    const info = await getIterationState<number>(t.queue, job.id!);
    assert.equal(info?.queueState, 'delayed');
    assert.equal(info?.status, 'paused');
    const atPause = await t.items();
    assert.equal(info?.state?.cursor, atPause.at(-1));
    await sleep(200);
    assert.deepEqual(await t.items(), atPause, 'a parked job is not picked up');

    const completed = new Promise<Job>((resolve) => w.on('completed', (j) => resolve(j)));
    assert.deepEqual(await resumeJob(t.queue, job.id!), { jobId: job.id, queueState: 'delayed', effect: 'applied' });
    assert.equal((await completed).id, job.id);
    await w.close();
    assert.deepEqual(await t.items(), range(60));
    assert.equal((await getIterationState(t.queue, job.id!))?.status, 'completed');
  });

  test('a paused waiting job is parked when picked up, and runs from the start once resumed', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('pause-waiting', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 10, record: t.record });
    assert.equal((await pauseJob(t.queue, job.id!)).effect, 'requested');
    assert.equal((await getIterationState(t.queue, job.id!))?.status, 'pausing');
    const w = worker(t.name);
    await new Promise((resolve) => w.on('parked', resolve));
    assert.equal((await getIterationState(t.queue, job.id!))?.status, 'paused');
    assert.deepEqual(await t.items(), []);
    const completed = new Promise((resolve) => w.on('completed', resolve));
    await resumeJob(t.queue, job.id!);
    await completed;
    await w.close();
    assert.deepEqual(await t.items(), range(10));
  });

  test('listIterableJobs reports cursor, status and progress across states; control calls on a missing job throw', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('list', ctx);
    const done = await enqueue(t.queue, Sequence, { upTo: 3 });
    const w = worker(t.name);
    await new Promise((resolve) => w.on('completed', resolve));
    await w.close();
    const waiting = await enqueue(t.queue, Sequence, { upTo: 3 });
    const paused = await enqueue(t.queue, Sequence, { upTo: 3 }, { delay: 60_000 });
    await pauseJob(t.queue, paused.id!);
    await t.queue.add('plain-bullmq-job', { some: 'thing' });

    const listed = await listIterableJobs(t.queue);
    const byId = new Map(listed.map((info) => [info.id, info]));
    assert.equal(listed.length, 3, 'the plain BullMQ job is not listed');
    assert.equal(byId.get(done.id!)?.status, 'completed');
    assert.equal(byId.get(done.id!)?.state?.iterations, 3);
    assert.equal(byId.get(done.id!)?.state?.cursor, 2);
    assert.equal(byId.get(waiting.id!)?.status, 'pending');
    assert.equal(byId.get(paused.id!)?.status, 'paused');
    assert.equal(byId.get(paused.id!)?.control, 'pause');
    assert.equal(await t.redis.hget(t.queue.toKey(paused.id!), CONTROL_FIELD), 'pause');
    assert.deepEqual((await listIterableJobs(t.queue, { states: ['waiting'] })).map((i) => i.id), [waiting.id]);

    assert.equal(await getIterationState(t.queue, 'nope'), undefined);
    await assert.rejects(cancelJob(t.queue, 'nope'), JobNotFoundError);
    await assert.rejects(pauseJob(t.queue, 'nope'), { code: 'ERR_JOB_NOT_FOUND' });
    await assert.rejects(resumeJob(t.queue, 'nope'), { code: 'ERR_JOB_NOT_FOUND' });
    assert.equal(await t.redis.exists(t.queue.toKey('nope')), 0, 'no stray hash for a missing job');
  });

  test('retryJob puts a failed job back to resume after its saved cursor, with fresh attempts and a fresh count of stalls; other jobs are left alone', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('retry-job', ctx);
    Sequence.failuresLeft = 1;
    ctx.after(() => void (Sequence.failuresLeft = 0));
    const job = await enqueue(t.queue, Sequence, { upTo: 30, failAt: 12, record: t.record }, { attempts: 1 });
    const first = worker(t.name);
    const failed = failure(first);
    await failed;
    await first.close();
    assert.equal(await t.queue.getJobState(job.id!), 'failed');
    // As a poison item leaves it: stalls counted past the limit. A retry asked for by a person starts that count again.
    const info = await getIterationState(t.queue, job.id!);
    await t.redis.hset(t.queue.toKey(job.id!), STATE_FIELD, JSON.stringify({ ...info!.state, stallsWithoutProgress: 4, timesStalled: 4 }));

    const result = await retryJob(t.queue, job.id!);
    assert.deepEqual(result, { jobId: job.id, queueState: 'failed', effect: 'applied', cursor: 11 });
    const retried = await getIterationState(t.queue, job.id!);
    assert.equal(retried?.state?.stallsWithoutProgress, 0);
    assert.equal(retried?.state?.timesStalled, 4, 'the history stays');
    assert.ok(['waiting', 'active'].includes(retried!.queueState));

    const second = worker(t.name);
    const done = new Promise<Job>((resolve) => second.on('completed', (j) => resolve(j)));
    const finished = await done;
    await second.close();
    assert.equal(finished.id, job.id);
    assert.deepEqual(await t.items(), range(30), 'items 0..11 were not run again');
    assert.deepEqual(await retryJob(t.queue, job.id!), { jobId: job.id, queueState: 'completed', effect: 'none' });
    await assert.rejects(retryJob(t.queue, 'no-such-job'), JobNotFoundError);
  });

  test('a cancelled job is not retried', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('retry-cancelled', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 5, record: t.record });
    await cancelJob(t.queue, job.id!);
    const w = worker(t.name);
    await failure(w);
    await w.close();
    const result = await retryJob(t.queue, job.id!);
    assert.equal(result.effect, 'none');
    assert.match(result.reason ?? '', /cancelled; a cancelled job is not retried/);
    assert.equal(await t.queue.getJobState(job.id!), 'failed');
  });

  test('enqueue applies the class\'s static jobOptions unless the call says otherwise, and refuses attempts below 1', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('job-options', ctx);
    class Retried extends Sequence {
      static override jobName = 'retried';
      static override jobOptions = { attempts: 5, backoff: { type: 'exponential' as const, delay: 250 } };
    }
    const defaults = await enqueue(t.queue, Retried, { upTo: 1 });
    assert.equal(defaults.opts.attempts, 5);
    assert.deepEqual(defaults.opts.backoff, { type: 'exponential', delay: 250 });
    const own = await enqueue(t.queue, Retried, { upTo: 1 }, { attempts: 2 });
    assert.equal(own.opts.attempts, 2);
    await assert.rejects(enqueue(t.queue, Retried, { upTo: 1 }, { attempts: 0 }), { code: 'ERR_INVALID_OPTION' });
  });
});
