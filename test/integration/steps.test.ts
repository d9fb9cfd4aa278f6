import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test, type TestContext } from 'node:test';
import type { Job } from 'bullmq';
import { IterationWorker, enqueue, getIterationState, type IterationProgress, type IterationWorkerOptions } from '../../src/bullmq/index.js';
import type { StepCursor, StepPosition } from '../../src/index.js';
import { createDashboard } from '../../src/dashboard/index.js';
import { Steps, createRecordTable, fullRecord, recorded, type StepsParams } from '../fixtures/step-jobs.js';
import { backendFor, type BackendKind } from '../support/backends.js';
import { newPool, uniqueName } from '../support/postgres.js';
import { TEST_TIMEOUT_MS } from '../support/process.js';
import { waitFor } from '../support/queue.js';

const admin = newPool({ max: 3 });
after(() => admin.end());

/** Resumed after an error once it made progress, instead of failing an attempt. */
class Resuming extends Steps {
  static override jobName = 'steps-resuming';
  static override resumeErrorsAfterProgress = true;
}

/** `Steps` deployed again with its first step renamed. */
class Renamed extends Steps {
  static override jobName = 'steps';
  static override steps = [{ ...Steps.steps[0]!, name: 'setup' }, ...Steps.steps.slice(1)];
}

/** Resumed at most twice; its own budget interrupts it every 100 ms. */
class Limited extends Steps {
  static override jobName = 'steps-limited';
  static override maxResumptions = 2;
  static override maxJobRuntimeMs = 100;
}

async function setUp(kind: BackendKind, ctx: TestContext) {
  const { queue, connection } = await backendFor(kind, ctx, admin);
  const newTable = async () => {
    const table = uniqueName('steps_record');
    await createRecordTable(admin, table);
    ctx.after(() => admin.query(`DROP TABLE IF EXISTS ${table}`));
    return table;
  };
  const table = await newTable();
  const workers: IterationWorker[] = [];
  ctx.after(() => Promise.all(workers.map((worker) => worker.close({ urgent: true }).catch(() => undefined))));
  return {
    queue,
    table,
    entries: () => recorded(admin, table),
    /** Another table, for a job whose record must not mix with the first one's. */
    newTable,
    worker(options: Partial<IterationWorkerOptions> = {}) {
      const worker = new IterationWorker(queue.name, { jobs: [Steps, Resuming, Limited], connection: connection as IterationWorkerOptions['connection'], handleSignals: false, ...options });
      workers.push(worker);
      return worker;
    },
  };
}

/** How job `id` ends on `worker`: completed or failed, within 30 s. */
function settled(worker: IterationWorker, id: string): Promise<{ job: Job; outcome: 'completed' | 'failed'; error?: Error }> {
  return new Promise((resolve, reject) => {
    const done = (outcome: { job: Job; outcome: 'completed' | 'failed'; error?: Error }) => {
      clearTimeout(timer);
      worker.off('completed', onCompleted);
      worker.off('failed', onFailed);
      resolve(outcome);
    };
    const onCompleted = (job: Job) => job.id === id && done({ job, outcome: 'completed' });
    const onFailed = (job: Job | undefined, error: Error) => job?.id === id && done({ job, outcome: 'failed', error });
    const timer = setTimeout(() => {
      worker.off('completed', onCompleted);
      worker.off('failed', onFailed);
      reject(new Error(`job ${id} neither completed nor failed within 30 s`));
    }, 30_000);
    worker.on('completed', onCompleted);
    worker.on('failed', onFailed);
  });
}

for (const kind of ['redis', 'postgres'] as const) {
  describe(`step jobs on BullMQ with ${kind === 'redis' ? 'Redis' : 'PostgreSQL'}`, () => {
    test('a worker closed inside a step hands the job on; the next resumes inside that step; every step and item runs once, and its progress says which step', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
      const t = await setUp(kind, ctx);
      const params: StepsParams = { table: t.table, n: 40, delayMs: 10 };
      const job = await enqueue(t.queue, Steps, params);
      const first = t.worker({ checkpointIntervalMs: 0 });
      const progress: IterationProgress[] = [];
      const steps: StepPosition[] = [];
      first.on('progress', (_job: Job, p: unknown) => progress.push(p as IterationProgress));
      first.on('step', (_job: Job, { step }: { step: StepPosition }) => steps.push(step));
      await waitFor('5 backfill items', async () => (await t.entries()).filter((e) => e.startsWith('item:')).length >= 5, 20_000);
      await first.close();
      assert.equal(first.requeuedOnClose, 1);
      assert.deepEqual(steps, [{ name: 'prepare', position: 1, count: 4 }, { name: 'backfill', position: 2, count: 4 }]);
      // Inside the backfill, the published progress measures the backfill's own items, under its step.
      const inside = progress.filter((p) => p.step?.name === 'backfill' && p.iterations > 2).at(-1)!;
      assert.equal(inside.unit, 'items');
      assert.equal(inside.total, 40);
      assert.equal(inside.done, inside.iterations - 1);
      assert.equal(inside.percentage, Math.round(((inside.iterations - 1) / 40) * 10000) / 100);

      const info = await getIterationState<StepCursor>(t.queue, job.id!);
      assert.equal(info?.status, 'interrupted');
      const cursor = info?.state?.cursor;
      assert.equal(cursor?.step, 'backfill');
      assert.deepEqual(cursor?.done, ['prepare']);
      assert.equal(`item:${cursor?.cursor}`, (await t.entries()).at(-1));
      assert.equal((info?.progress as IterationProgress).step?.name, 'backfill');
      // The dashboard's API says the same, as the line its page shows.
      const dashboard = createServer(createDashboard({ queues: [t.queue], jobs: [Steps] }));
      await new Promise<void>((resolve) => dashboard.listen(0, '127.0.0.1', resolve));
      try {
        const response = await fetch(`http://127.0.0.1:${(dashboard.address() as AddressInfo).port}/api/jobs`);
        const { jobs } = (await response.json()) as { jobs: Array<{ id: string; step?: string }> };
        assert.match(jobs.find((j) => j.id === job.id)?.step ?? '', /^step 2\/4 backfill: \d+%$/);
      } finally {
        dashboard.closeAllConnections();
        await new Promise((resolve) => dashboard.close(resolve));
      }

      const second = t.worker();
      second.on('step', (_job: Job, { step }: { step: StepPosition }) => steps.push(step));
      const end = await settled(second, job.id!);
      assert.equal(end.outcome, 'completed');
      assert.deepEqual(await t.entries(), fullRecord(40));
      // The second worker resumed inside the backfill its first one had published: no second event for it.
      assert.deepEqual(steps.map((s) => s.name), ['prepare', 'backfill', 'check', 'swap']);
      const final = await getIterationState<StepCursor>(t.queue, job.id!);
      assert.equal(final?.status, 'completed');
      assert.deepEqual(final?.state?.cursor, { step: 'swap', done: ['prepare', 'backfill', 'check', 'swap'] });
      assert.equal(final?.state?.resumptions, 1);
    });

    test('resumeErrorsAfterProgress: an error after progress goes back to the queue after the backoff and uses no attempt; one without progress fails the attempt', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
      const t = await setUp(kind, ctx);
      // A custom strategy may answer with a promise; -1 means "do not retry", as in BullMQ.
      const worker = t.worker({ settings: { backoffStrategy: async (_attempts: number, type?: string) => (type === 'never' ? -1 : 150) } });
      const interruptions: Array<{ adapter: string; delayMs: number }> = [];
      worker.on('interrupted', (_job: Job, info: { adapter: string; delayMs: number }) => interruptions.push({ adapter: info.adapter, delayMs: info.delayMs }));
      const options = { attempts: 1, backoff: { type: 'fixed' as const, delay: 300 } };

      // Once: the run had finished items 0-4 and more, so the job resumes at item 5 and completes, with no attempt used.
      const once = await enqueue(t.queue, Resuming, { table: t.table, n: 10, failAt: 5, failures: 1 }, options);
      const onceEnd = await settled(worker, once.id!);
      assert.equal(onceEnd.outcome, 'completed', onceEnd.error?.message);
      // The attempt that completed it is its only one.
      assert.equal(onceEnd.job.attemptsMade, 1);
      assert.deepEqual(interruptions, [{ adapter: 'error-after-progress', delayMs: 300 }]);
      const entries = await t.entries();
      assert.deepEqual(entries.filter((e) => !e.startsWith('fail:')), fullRecord(10));
      const state = (await getIterationState(t.queue, once.id!))?.state;
      assert.equal(state?.timesInterrupted, 1);
      assert.equal(state?.lastInterruption?.adapter, 'error-after-progress');
      assert.equal(state?.lastInterruption?.reason, 'item 5 failed');
      const { logs } = await t.queue.getJobLogs(once.id!);
      assert.ok(logs.some((line) => /^error after \d+ item\(s\) of progress, at cursor .*: item 5 failed; resuming in 300 ms, no attempt used$/.test(line)), logs.join('\n'));

      // Twice: the resumed run fails at its first item, with no progress of its own: that is a failed attempt.
      interruptions.length = 0;
      const other = await t.newTable();
      const twice = await enqueue(t.queue, Resuming, { table: other, n: 10, failAt: 5, failures: 2 }, options);
      const twiceEnd = await settled(worker, twice.id!);
      assert.equal(twiceEnd.outcome, 'failed');
      assert.equal(twiceEnd.error?.message, 'item 5 failed');
      assert.equal(twiceEnd.job.attemptsMade, 1);
      assert.equal((await recorded(admin, other)).filter((e) => e === 'fail:5').length, 2);
      assert.deepEqual(interruptions, [{ adapter: 'error-after-progress', delayMs: 300 }]);

      // Without the option the first error is a failed attempt, as for any job.
      const plain = await enqueue(t.queue, Steps, { table: await t.newTable(), n: 10, failAt: 5, failures: 1 }, options);
      const plainEnd = await settled(worker, plain.id!);
      assert.equal(plainEnd.outcome, 'failed');
      assert.equal(plainEnd.job.attemptsMade, 1);

      // The worker's custom strategy decides the delay, and can refuse the resume: the error is then a failed attempt.
      interruptions.length = 0;
      const custom = await enqueue(t.queue, Resuming, { table: await t.newTable(), n: 10, failAt: 5, failures: 1 }, { attempts: 1, backoff: { type: 'custom' } });
      assert.equal((await settled(worker, custom.id!)).outcome, 'completed');
      assert.deepEqual(interruptions, [{ adapter: 'error-after-progress', delayMs: 150 }]);
      interruptions.length = 0;
      const never = await enqueue(t.queue, Resuming, { table: await t.newTable(), n: 10, failAt: 5, failures: 1 }, { attempts: 1, backoff: { type: 'never' } });
      assert.equal((await settled(worker, never.id!)).outcome, 'failed');
      assert.deepEqual(interruptions, []);
    });

    test('a step list changed under a saved cursor fails the job for good with ERR_STEPS_CHANGED, attempts left or not; its cursor is kept', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
      const t = await setUp(kind, ctx);
      const job = await enqueue(t.queue, Steps, { table: t.table, n: 40, delayMs: 10 }, { attempts: 3 });
      const first = t.worker({ checkpointIntervalMs: 0 });
      await waitFor('3 backfill items', async () => (await t.entries()).filter((e) => e.startsWith('item:')).length >= 3, 20_000);
      await first.close();
      const before = (await getIterationState<StepCursor>(t.queue, job.id!))?.state?.cursor;
      const ran = (await t.entries()).length;

      const deployed = t.worker({ jobs: [Renamed] });
      const end = await settled(deployed, job.id!);
      assert.equal(end.outcome, 'failed');
      assert.match(end.error!.message, /^ERR_STEPS_CHANGED: Job "steps" cannot resume from the saved cursor .*completed step "prepare" at position 1 is now "setup"/);
      assert.equal(end.job.attemptsMade, 1);
      const info = await getIterationState<StepCursor>(t.queue, job.id!);
      assert.deepEqual(info?.state?.cursor, before);
      assert.equal(info?.state?.status, 'failed');
      assert.equal((await t.entries()).length, ran, 'nothing ran');
    });

    test('maxResumptions: the run past it fails for good with ERR_RESUMPTION_LIMIT, attempts left or not, its cursor kept', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
      const t = await setUp(kind, ctx);
      const worker = t.worker({ checkpointIntervalMs: 0 });
      const job = await enqueue(t.queue, Limited, { table: t.table, n: 200, delayMs: 5 }, { attempts: 3 });
      const end = await settled(worker, job.id!);
      assert.equal(end.outcome, 'failed');
      assert.match(end.error!.message, /^ERR_RESUMPTION_LIMIT: Job "steps-limited" was resumed 2 time\(s\), its maxResumptions/);
      assert.equal(end.job.attemptsMade, 1);
      const info = await getIterationState<StepCursor>(t.queue, job.id!);
      assert.equal(info?.state?.resumptions, 2);
      assert.equal(info?.state?.status, 'failed');
      assert.match(info?.state?.lastError ?? '', /maxResumptions/);
      assert.equal(info?.state?.timesInterrupted, 3);
      const items = (await t.entries()).filter((e) => e.startsWith('item:'));
      assert.ok(items.length > 0 && items.length < 200);
      assert.deepEqual(items, Array.from({ length: items.length }, (_, i) => `item:${i}`));
      assert.equal(`item:${info?.state?.cursor?.cursor}`, items.at(-1));
    });
  });
}
