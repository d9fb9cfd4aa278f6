import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Job } from 'bullmq';
import { IterationWorker, enqueue, getIterationState } from '../../src/bullmq/index.js';
import { STATE_FIELD } from '../../src/store/redis-store.js';
import { Sequence, closeRecorder } from '../fixtures/bullmq-jobs.js';
import { freshQueue, reap, startWorkerProcess, waitFor, type WorkerProcess } from '../support/queue.js';
import { TEST_TIMEOUT_MS } from '../support/process.js';

after(() => closeRecorder());

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Short locks and stall checks so that a killed worker's job is recovered in about a second. */
const CRASH_OPTIONS = { lockDuration: 1000, stalledInterval: 500 };

function finishInProcess(queueName: string, options: Record<string, unknown> = {}): Promise<Job> {
  const worker = new IterationWorker(queueName, { jobs: [Sequence], handleSignals: false, ...options });
  return new Promise<Job>((resolve, reject) => {
    worker.on('completed', (job) => void worker.close().then(() => resolve(job), reject));
    worker.on('failed', (job, error) => void worker.close().then(() => reject(new Error(`job ${job?.id} failed: ${error.message}`))));
  });
}

function duplicates(items: number[]): number {
  return items.length - new Set(items).size;
}

describe('worker processes', () => {
  test('SIGTERM: the process exits within about one item, the job is back in the queue with its cursor, and a second worker finishes it exactly once', { timeout: TEST_TIMEOUT_MS }, async () => {
    const t = await freshQueue('sigterm');
    let proc: WorkerProcess | undefined;
    try {
      const job = await enqueue(t.queue, Sequence, { upTo: 60, delayMs: 20, record: t.record });
      proc = await startWorkerProcess(t.name);
      await waitFor('20 items', async () => (await t.items()).length >= 20);
      const sent = performance.now();
      proc.child.kill('SIGTERM');
      const exit = await proc.exited;
      const exitMs = exit.at - sent;
      assert.equal(exit.code, 0, proc.stderr());
      assert.ok(exitMs < 400, `exited ${exitMs} ms after SIGTERM; one item is 20 ms`);
      assert.match(proc.stdout(), new RegExp(`interrupted ${job.id} `));

      const done = await t.items();
      const info = await getIterationState<number>(t.queue, job.id!);
      assert.equal(info?.queueState, 'waiting');
      assert.equal(info?.state?.cursor, done.at(-1));
      assert.equal(info?.state?.iterations, done.length);
      assert.equal(info?.state?.timesInterrupted, 1);
      assert.equal(info?.attemptsMade, 0);

      const finished = await finishInProcess(t.name);
      assert.equal(finished.id, job.id);
      assert.deepEqual(await t.items(), range(60), 'every item exactly once');
    } finally {
      reap(proc);
      await t.cleanup();
    }
  });

  test('kill -9: stalled-job recovery hands the job to another worker, which resumes from the last checkpoint', { timeout: TEST_TIMEOUT_MS }, async () => {
    const t = await freshQueue('sigkill');
    let proc: WorkerProcess | undefined;
    const checkpointIntervalMs = 200;
    const itemMs = 10;
    try {
      const job = await enqueue(t.queue, Sequence, { upTo: 150, delayMs: itemMs, record: t.record });
      proc = await startWorkerProcess(t.name, { ...CRASH_OPTIONS, checkpointIntervalMs });
      await waitFor('50 items', async () => (await t.items()).length >= 50);
      proc.child.kill('SIGKILL');
      await proc.exited;
      const beforeCrash = await t.items();
      const saved = (await getIterationState<number>(t.queue, job.id!))?.state;
      assert.equal(saved?.status, 'running', 'the crashed run left its last checkpoint');
      assert.ok(saved!.cursor! >= 20, `a checkpoint was saved while running (cursor ${saved?.cursor})`);

      const finished = await finishInProcess(t.name, CRASH_OPTIONS);
      assert.equal(finished.id, job.id);
      const items = await t.items();
      assert.deepEqual([...new Set(items)].sort((a, b) => a - b), range(150), 'every item at least once');
      // Redone work is what ran after the last checkpoint: at most one interval of items (plus the one in flight).
      const bound = Math.ceil(checkpointIntervalMs / itemMs) + 1;
      assert.ok(duplicates(items) <= bound, `${duplicates(items)} items redone; bound ${bound}`);
      assert.equal(duplicates(items), beforeCrash.length - (saved!.cursor! + 1), 'exactly the items after the saved cursor were redone');
    } finally {
      reap(proc);
      await t.cleanup();
    }
  });

  test('a job that makes progress survives repeated crashes, even with maxStalledCount 1', { timeout: TEST_TIMEOUT_MS }, async () => {
    const t = await freshQueue('crashes');
    const procs: WorkerProcess[] = [];
    const options = { ...CRASH_OPTIONS, checkpointIntervalMs: 50, maxStalledCount: 1 };
    try {
      const job = await enqueue(t.queue, Sequence, { upTo: 200, delayMs: 5, record: t.record });
      for (const atLeast of [30, 90]) {
        const proc = await startWorkerProcess(t.name, options);
        procs.push(proc);
        await waitFor(`${atLeast} items`, async () => new Set(await t.items()).size >= atLeast, 20_000);
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
      const finished = await finishInProcess(t.name, options);
      assert.equal(finished.id, job.id);
      assert.deepEqual([...new Set(await t.items())].sort((a, b) => a - b), range(200));
      const hash = await t.redis.hgetall(t.queue.toKey(job.id!));
      assert.equal(hash.ats, '3', 'started by three workers');
      assert.equal(hash.defa, undefined, 'never marked as stalled too often');
    } finally {
      procs.forEach(reap);
      await t.cleanup();
    }
  });

  test('a job that crashes its worker without making progress still fails after maxStalledCount stalls', { timeout: TEST_TIMEOUT_MS }, async () => {
    const t = await freshQueue('poison');
    const procs: WorkerProcess[] = [];
    const options = { ...CRASH_OPTIONS, maxStalledCount: 1 };
    try {
      // Its first item never finishes, so no run ever saves progress.
      const job = await enqueue(t.queue, Sequence, { upTo: 10, delayMs: 600_000, record: t.record });
      for (let crash = 1; crash <= 2; crash++) {
        const proc = await startWorkerProcess(t.name, options);
        procs.push(proc);
        // Killed once the run has claimed the job (its state says running, with the stalls before it counted): a
        // worker killed between BullMQ's fetch and the claim is counted by BullMQ's own stall counter instead.
        await waitFor(`run ${crash} to claim the job`, async () => {
          const [ats, raw] = await t.redis.hmget(t.queue.toKey(job.id!), 'ats', STATE_FIELD);
          const state = raw ? (JSON.parse(raw) as { status?: string; timesStalled?: number }) : undefined;
          return ats === String(crash) && state?.status === 'running' && (state.timesStalled ?? 0) === crash - 1;
        }, 20_000);
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
      await assert.rejects(finishInProcess(t.name, options), /failed: ERR_JOB_STALLED: Job \d+ \("sequence"\) stalled 2 times in a row without progress before its first item/);
      const info = await getIterationState(t.queue, job.id!);
      assert.equal(info?.queueState, 'failed');
      assert.equal(info?.state?.timesStalled, 2);
      assert.equal(info?.state?.status, 'failed');
      assert.deepEqual(await t.items(), []);
    } finally {
      procs.forEach(reap);
      await t.cleanup();
    }
  });
});
