import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Job } from 'bullmq';
import { IterationWorker, enqueue, getIterationState } from '../../src/bullmq/index.js';
import { defineSteps, fromArray, type StepCursor } from '../../src/index.js';
import { closeRecorder, recorderClient } from '../fixtures/bullmq-jobs.js';
import { freshQueue, waitFor } from '../support/queue.js';
import { TEST_TIMEOUT_MS } from '../support/process.js';

after(() => closeRecorder());

interface Params {
  record: string;
  n: number;
}

const log = (params: Params, entry: string) => recorderClient().rpush(params.record, entry);

const Migrate = defineSteps<Params>({
  name: 'steps-migrate',
  steps: [
    { name: 'prepare', run: (params) => log(params, 'run:prepare') },
    {
      name: 'backfill',
      buildEnumerator: (params, { cursor }) => fromArray(Array.from({ length: params.n }, (_, i) => i), { cursor }),
      async eachIteration(item: number, params) {
        await sleep(10);
        await log(params, `item:${item}`);
      },
    },
    { name: 'finish', run: (params) => log(params, 'run:finish') },
  ],
  onStepStart: (name, params) => log(params, `start:${name}`),
  onStepComplete: (name, params) => log(params, `complete:${name}`),
});

describe('step jobs on BullMQ', () => {
  test('a worker closed inside a step hands the job on; the next worker resumes inside that step and runs everything once', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
    const t = await freshQueue('steps', ctx);
    const params = { record: t.record, n: 40 };
    const job = await enqueue(t.queue, Migrate, params);
    const entries = () => t.redis.lrange(t.record, 0, -1);
    const first = new IterationWorker(t.name, { jobs: [Migrate], handleSignals: false });
    await waitFor('5 backfill items', async () => (await entries()).filter((e) => e.startsWith('item:')).length >= 5);
    await first.close();
    assert.equal(first.requeuedOnClose, 1);

    const info = await getIterationState<StepCursor>(t.queue, job.id!);
    assert.equal(info?.status, 'interrupted');
    const cursor = info?.state?.cursor;
    assert.equal(cursor?.step, 'backfill');
    assert.deepEqual(cursor?.done, ['prepare']);
    assert.equal(`item:${cursor?.cursor}`, (await entries()).at(-1));

    const second = new IterationWorker(t.name, { jobs: [Migrate], handleSignals: false });
    const finished = new Promise<Job>((resolve) => second.on('completed', resolve));
    assert.equal((await finished).id, job.id);
    await second.close();
    assert.deepEqual(await entries(), [
      'start:prepare', 'run:prepare', 'complete:prepare',
      'start:backfill', ...Array.from({ length: 40 }, (_, i) => `item:${i}`), 'complete:backfill',
      'start:finish', 'run:finish', 'complete:finish',
    ]);
    const final = await getIterationState<StepCursor>(t.queue, job.id!);
    assert.equal(final?.status, 'completed');
    assert.deepEqual(final?.state?.cursor, { step: 'finish', done: ['prepare', 'backfill', 'finish'] });
  });
});
