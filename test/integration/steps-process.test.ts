import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { enqueue, getIterationState } from '../../src/bullmq/index.js';
import type { StepCursor } from '../../src/index.js';
import { REDIS_URL } from '../fixtures/bullmq-jobs.js';
import { Steps, createRecordTable, fullRecord, recorded } from '../fixtures/step-jobs.js';
import { backendFor } from '../support/backends.js';
import { newPool, uniqueName } from '../support/postgres.js';
import { exitedWithin, killAll, startNode, TEST_TIMEOUT_MS, waitFor } from '../support/process.js';

// A step job run by real worker processes, stopped at every step boundary and inside its iteration step by a real
// SIGTERM or SIGKILL, each stop resumed by a new process, on both backends. The job records what it does in a table,
// so what ran is counted from outside whatever killed the process.
const admin = newPool({ max: 3 });
after(async () => {
  killAll();
  await admin.end();
});

// Short locks, so that a killed worker's job is handed on within a second or two; a checkpoint interval far longer
// than the test, so that only the saves at step boundaries (and after a stall) move the cursor.
const WORKER_OPTIONS = { lockDuration: 1000, stalledInterval: 500, checkpointIntervalMs: 60_000 };
const N = 10;
// A kill at the start of every step (inside its first item, after the previous step's save) and inside the
// iteration step; a graceful stop, which lets the item in flight finish, at both ends of the iteration step and in it.
const STOPS = { SIGKILL: ['start:prepare', 'start:backfill', 'item:5', 'start:check', 'start:swap'], SIGTERM: ['start:backfill', 'item:5', 'start:check'] };

const count = (entries: string[], entry: string) => entries.filter((e) => e === entry).length;

for (const kind of ['redis', 'postgres'] as const) {
  describe(`a step job through real worker processes on ${kind === 'redis' ? 'Redis' : 'PostgreSQL'}`, () => {
    for (const mode of ['SIGTERM', 'SIGKILL'] as const) {
      test(`stopped by ${mode} at every step boundary and inside the iteration step, each stop resumed by a new process`, { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
        const { queue, connection } = await backendFor(kind, ctx, admin);
        const table = uniqueName('steps_record');
        await createRecordTable(admin, table);
        ctx.after(() => admin.query(`DROP TABLE IF EXISTS ${table}`));
        const job = await enqueue(queue, Steps, { table, n: N, delayMs: 5 });
        const entries = () => recorded(admin, table);
        const worker = (env: Record<string, string>) =>
          startNode(['--import', 'tsx', 'test/fixtures/steps-worker.ts', queue.name, JSON.stringify(connection), JSON.stringify(WORKER_OPTIONS)], { REDIS_URL, ...env });

        const lines: string[] = [];
        for (const where of STOPS[mode]) {
          const proc = worker({ HOLD_AT: where });
          await waitFor(`the worker to reach ${where}`, async () => (await entries()).includes(`hold:${where}`), 30_000);
          proc.child.kill(mode);
          if (mode === 'SIGTERM') {
            // A graceful stop waits for the held item, let go once the worker is closing; a kill never lets it finish.
            await waitFor('the worker to be closing', () => proc.stdout().includes('closing\n'), 10_000);
            await admin.query(`INSERT INTO ${table} (entry) VALUES ($1)`, [`release:${where}`]);
          }
          const exit = await exitedWithin(proc, 20_000, `the worker stopped at ${where}`);
          if (mode === 'SIGTERM') assert.equal(exit.code, 0, proc.stderr());
          else assert.equal(exit.signal, 'SIGKILL');
          lines.push(...proc.stdout().split('\n').filter((line) => line.startsWith('step ')));
          if (mode === 'SIGTERM') {
            const info = await getIterationState<StepCursor>(queue, job.id!);
            assert.equal(info?.status, 'interrupted', `after ${where}`);
          }
        }
        const last = worker({});
        await waitFor('the job to complete', async () => (await getIterationState(queue, job.id!))?.queueState === 'completed', 30_000);
        last.child.kill('SIGTERM');
        assert.equal((await exitedWithin(last, 20_000, 'the last worker')).code, 0, last.stderr());
        lines.push(...last.stdout().split('\n').filter((line) => line.startsWith('step ')));

        const done = (await entries()).filter((entry) => !entry.startsWith('hold:') && !entry.startsWith('release:'));
        const info = await getIterationState<StepCursor>(queue, job.id!);
        assert.equal(info?.status, 'completed');
        assert.deepEqual(info?.state?.cursor, { step: 'swap', done: ['prepare', 'backfill', 'check', 'swap'] });
        // A kill before the first step's save leaves nothing saved: the next run is a fresh start, not a resumption.
        assert.equal(info?.state?.resumptions, mode === 'SIGTERM' ? STOPS.SIGTERM.length : STOPS.SIGKILL.length - 1);
        // Every step was published as it began, in order, whichever process ran it.
        assert.deepEqual(
          lines.map((line) => line.split(' ').slice(2).join(' ')).filter((line, i, all) => line !== all[i - 1]),
          ['1/4 prepare', '2/4 backfill', '3/4 check', '4/4 swap'],
        );
        if (mode === 'SIGTERM') {
          // Graceful stops: everything ran exactly once, hooks included.
          assert.deepEqual(done, fullRecord(N));
          return;
        }
        // Kills: a finished step is saved at once, so no plain step and no step end ever runs twice, though the
        // checkpoint interval is a minute; the step a kill came into starts again, and items since the last save
        // run again (at most once more: the run after a stall saves every item).
        for (const step of ['prepare', 'check', 'swap']) assert.equal(count(done, `run:${step}`), 1, `run:${step} ${JSON.stringify(done)}`);
        for (const step of ['prepare', 'backfill', 'check', 'swap']) assert.equal(count(done, `complete:${step}`), 1, `complete:${step}`);
        for (const step of ['prepare', 'backfill', 'check', 'swap']) assert.equal(count(done, `start:${step}`), 2, `start:${step}`);
        for (let i = 0; i < N; i++) {
          const times = count(done, `item:${i}`);
          assert.ok(times >= 1 && times <= 2, `item ${i} ran ${times} times: ${JSON.stringify(done)}`);
        }
        assert.ok(done.indexOf('complete:backfill') > done.lastIndexOf(`item:${N - 1}`));
      });
    }
  });
}
