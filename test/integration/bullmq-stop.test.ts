import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Job } from 'bullmq';
import { IterationWorker, enqueue, getIterationState } from '../../src/bullmq/index.js';
import { IterableJob, SignalsOwnedError, onWorkerExit, onWorkerStop } from '../../src/index.js';
import { trapStopSignals } from '../../src/signals.js';
import { Sequence, closeRecorder } from '../fixtures/bullmq-jobs.js';
import { TEST_TIMEOUT_MS } from '../support/process.js';
import { freshQueue, waitFor } from '../support/queue.js';

after(() => closeRecorder());

/** Sockets this process holds open right now. */
function openSockets(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'TCPWrap' || kind === 'TCPConnectWrap').length;
}

describe('several workers in one process', { timeout: TEST_TIMEOUT_MS }, () => {
  test('stopping one worker leaves the others running, with default options and one shared signal handler', async (ctx) => {
    const ta = await freshQueue('stop-a', ctx);
    const tb = await freshQueue('stop-b', ctx);
    const jobA = await enqueue(ta.queue, Sequence, { upTo: 1000, delayMs: 5, record: ta.record });
    const jobB = await enqueue(tb.queue, Sequence, { upTo: 1000, delayMs: 5, record: tb.record });
    const a = new IterationWorker(ta.name, { jobs: [Sequence] });
    const b = new IterationWorker(tb.name, { jobs: [Sequence] });
    ctx.after(() => b.close({ urgent: true }));
    assert.equal(process.listenerCount('SIGTERM'), 1, 'one process listener, shared by both workers');
    let handedBack = 0;
    b.on('interrupted', () => handedBack++);
    await waitFor('both jobs running', async () => (await ta.items()).length >= 10 && (await tb.items()).length >= 10);

    await a.stop('test');
    assert.equal((await getIterationState(ta.queue, jobA.id!))?.queueState, 'waiting', 'a handed its job back');
    const bAtStop = (await tb.items()).length;
    await sleep(500);
    assert.equal(handedBack, 0, 'b was not interrupted by a stop');
    assert.ok((await tb.items()).length > bAtStop + 30, 'b kept working its job');
    assert.equal((await getIterationState(tb.queue, jobB.id!))?.queueState, 'active');
    assert.equal(process.listenerCount('SIGTERM'), 1, 'b still holds the shared handler');
    await b.close();
    assert.equal(process.listenerCount('SIGTERM'), 0, 'the last worker released it');
  });

  test('a worker that cannot take the signals (an exclusive owner has them) throws a named error and opens no socket', async (ctx) => {
    const t = await freshQueue('ctor', ctx);
    const owner = trapStopSignals({ graceful: () => undefined, urgent: () => undefined });
    ctx.after(() => owner.release());
    const before = openSockets();
    assert.throws(() => new IterationWorker(t.name, { jobs: [Sequence] }), SignalsOwnedError);
    await sleep(200);
    assert.equal(openSockets(), before, 'no socket left open by the failed constructor');
  });

  test('a worker whose connection option is refused throws a named error and keeps no signal handler', () => {
    const before = process.listenerCount('SIGTERM');
    assert.throws(() => new IterationWorker('ctor-url', { jobs: [Sequence], connection: 'http://127.0.0.1:6379' }), { code: 'ERR_INVALID_OPTION' });
    assert.equal(process.listenerCount('SIGTERM'), before);
  });

  test('close() fires the worker lifecycle hooks, as stop() does', async (ctx) => {
    const t = await freshQueue('close-hooks', ctx);
    const fired: string[] = [];
    const offStop = onWorkerStop((info) => void fired.push(`stop ${info.reason}`));
    const offExit = onWorkerExit((info) => void fired.push(`exit ${info.reason}`));
    ctx.after(() => {
      offStop();
      offExit();
    });
    const w = new IterationWorker(t.name, { jobs: [Sequence], handleSignals: false });
    await w.waitUntilReady();
    await w.close();
    await w.close();
    assert.deepEqual(fired, ['stop close()', 'exit close()'], 'once each, however often close() is called');
  });
});

describe('urgent stop', { timeout: TEST_TIMEOUT_MS }, () => {
  test("aborts the run's signal before the job goes back to the queue, so no other worker starts it while the item still runs", async (ctx) => {
    const order: string[] = [];
    class Slow extends IterableJob<Record<string, never>, number, number> {
      static override jobName = 'slow';
      *buildEnumerator() {
        yield [0, 0] as [number, number];
      }
      async eachIteration(_item: number, _params: unknown, { signal }: { signal: AbortSignal }) {
        signal.addEventListener('abort', () => order.push('aborted'));
        await sleep(60_000, undefined, { signal }).catch(() => undefined);
      }
    }
    const moveToWait = Job.prototype.moveToWait;
    Job.prototype.moveToWait = function (this: Job, ...args: Parameters<Job['moveToWait']>) {
      order.push('moved');
      return moveToWait.apply(this, args);
    };
    ctx.after(() => {
      Job.prototype.moveToWait = moveToWait;
    });
    const t = await freshQueue('abort-first', ctx);
    await enqueue(t.queue, Slow, {});
    const w = new IterationWorker(t.name, { jobs: [Slow], handleSignals: false });
    await waitFor('the job to be active', async () => (await t.queue.getActiveCount()) === 1);
    await sleep(100);
    await w.close({ urgent: true });
    assert.deepEqual(order, ['aborted', 'moved']);
  });

  test('an urgent stop that lands while onComplete runs lets it finish: the job completes and onComplete runs once', async (ctx) => {
    const t = await freshQueue('urgent-complete', ctx);
    const job = await enqueue(t.queue, Sequence, { upTo: 3, completeMs: 600, record: t.record });
    const w = new IterationWorker(t.name, { jobs: [Sequence], handleSignals: false });
    await waitFor('onComplete to be running', async () => (await t.items()).length === 3, 10_000);
    await sleep(100);
    await w.close({ urgent: true });
    const info = await getIterationState(t.queue, job.id!);
    assert.equal(info?.queueState, 'completed', 'completed, not handed back');
    assert.equal(info?.state?.status, 'completed');
    const second = new IterationWorker(t.name, { jobs: [Sequence], handleSignals: false });
    ctx.after(() => second.close());
    await sleep(500);
    assert.deepEqual(await t.hooks(), ['onStart', 'onComplete'], 'onComplete ran once');
  });
});
