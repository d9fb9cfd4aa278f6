import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { beforeEach, describe, test } from 'node:test';
import {
  IterableJob,
  InvalidEnumeratorError,
  InvalidJobError,
  events,
  stateOf,
  type IterableJobClass,
  InvalidOptionError,
  InvalidStateError,
  IterationFailedError,
  runInline,
  type JobState,
  ResumptionLimitError,
  RunHandle,
} from '../../src/index.js';
import { Counter, type CountParams } from '../fixtures/jobs.js';
import { countItems } from '../../src/iterable-job.js';
import { iterateExactTimes } from '../../src/testing.js';

beforeEach(() => Counter.reset());

describe('runInline', () => {
  test('runs every item once, in order, and reports a completed state', async () => {
    const result = await runInline(Counter, { upTo: 25 });
    assert.equal(result.status, 'completed');
    assert.deepEqual(Counter.processed, Array.from({ length: 25 }, (_, i) => i));
    assert.equal(result.state.status, 'completed');
    assert.equal(result.state.cursor, 24);
    assert.equal(result.state.iterations, 25);
    assert.equal(result.state.timesInterrupted, 0);
    assert.equal(result.state.jobName, 'counter');
    assert.equal(result.runIterations, 25);
    assert.ok(result.state.completedAt);
    assert.deepEqual(JSON.parse(JSON.stringify(result.state)), result.state, 'state is plain JSON');
  });

  test('interrupt then resume processes every remaining item exactly once and in order', async () => {
    let state: JobState<number> | undefined;
    let runs = 0;
    for (;;) {
      runs++;
      const result = await runInline(Counter, { upTo: 100 }, { state, maxIterations: 7 });
      state = result.state;
      if (result.status === 'completed') break;
      assert.equal(result.interruption?.adapter, 'max-iterations');
      assert.equal(result.state.status, 'interrupted');
      assert.equal(result.state.cursor, Counter.processed.at(-1));
    }
    assert.deepEqual(Counter.processed, Array.from({ length: 100 }, (_, i) => i));
    assert.equal(runs, 15); // 14 interrupted runs of 7 items and one that finishes the last 2
    assert.equal(state.timesInterrupted, 14);
    assert.equal(state.iterations, 100);
  });

  test('resumes from a JSON string state (as read back from storage)', async () => {
    const first = await runInline(Counter, { upTo: 10 }, { maxIterations: 4 });
    const stored = JSON.stringify(first.state);
    const second = await runInline(Counter, { upTo: 10 }, { state: stored });
    assert.equal(second.status, 'completed');
    assert.deepEqual(Counter.processed, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('the item in flight finishes before the stop takes effect', async () => {
    const events: string[] = [];
    let stop = false;
    class Slow extends IterableJob<Record<string, never>, number, number> {
      *buildEnumerator(_: unknown, { cursor }: { cursor: number | undefined }) {
        for (let i = (cursor ?? -1) + 1; i < 10; i++) yield [i, i] as [number, number];
      }
      async eachIteration(item: number) {
        events.push(`start ${item}`);
        if (item === 2) stop = true; // asked to stop while item 2 is in flight
        await new Promise((r) => setTimeout(r, 20));
        events.push(`end ${item}`);
      }
    }
    const result = await runInline(Slow, {}, { adapters: [], localAdapters: { test: () => stop } });
    assert.equal(result.status, 'interrupted');
    assert.deepEqual(result.interruption, { adapter: 'test', reason: 'test' });
    assert.deepEqual(events, ['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
    assert.equal(result.state.cursor, 2);
  });

  test('works with arrays and sync generators too', async () => {
    class Letters extends IterableJob<Record<string, never>, string, number> {
      buildEnumerator(_: unknown, { cursor }: { cursor: number | undefined }) {
        return ['a', 'b', 'c', 'd'].map((l, i) => [l, i] as [string, number]).slice(cursor === undefined ? 0 : cursor + 1);
      }
      seen: string[] = [];
      eachIteration(item: string) {
        Letters.seen.push(item);
      }
      static seen: string[] = [];
    }
    const first = await runInline(Letters, {}, { maxIterations: 2 });
    assert.equal(first.state.cursor, 1);
    await runInline(Letters, {}, { state: first.state });
    assert.deepEqual(Letters.seen, ['a', 'b', 'c', 'd']);
  });

  test('a completed state runs nothing and says so', async () => {
    const done = await runInline(Counter, { upTo: 3 });
    Counter.reset();
    const again = await runInline(Counter, { upTo: 3 }, { state: done.state });
    assert.equal(again.status, 'completed');
    assert.equal(again.alreadyCompleted, true);
    assert.deepEqual(Counter.processed, []);
    assert.deepEqual(Counter.hooks, []);
  });

  test('the generator is closed (its finally runs) when a run stops early', async () => {
    let closed = 0;
    class Closing extends IterableJob<Record<string, never>, number, number> {
      async *buildEnumerator() {
        try {
          for (let i = 0; i < 100; i++) yield [i, i] as [number, number];
        } finally {
          closed++;
        }
      }
      eachIteration() {}
    }
    await runInline(Closing, {}, { maxIterations: 3 });
    assert.equal(closed, 1);
  });

  test('object cursors are copied, so an enumerator that reuses one object cannot move a saved cursor', async () => {
    class Reusing extends IterableJob<Record<string, never>, number, { page: number; offset: number }> {
      *buildEnumerator() {
        const cursor = { page: 0, offset: 0 };
        for (let i = 0; i < 5; i++) {
          cursor.page = Math.floor(i / 2);
          cursor.offset = i % 2;
          yield [i, cursor] as [number, typeof cursor];
        }
      }
      eachIteration() {}
    }
    const result = await runInline(Reusing, {}, { maxIterations: 3 });
    assert.deepEqual(result.state.cursor, { page: 1, offset: 0 });
  });
});

describe('checkpoints', () => {
  test('checkpointIntervalMs 0 persists after every iteration, with the cursor of the item just finished', async () => {
    const saved: Array<{ cursor: unknown; iterations: number; status: string }> = [];
    await runInline(Counter, { upTo: 5 }, {
      checkpointIntervalMs: 0,
      persist: (s) => void saved.push({ cursor: s.cursor, iterations: s.iterations, status: s.status }),
    });
    assert.deepEqual(saved, [
      { cursor: 0, iterations: 1, status: 'running' },
      { cursor: 1, iterations: 2, status: 'running' },
      { cursor: 2, iterations: 3, status: 'running' },
      { cursor: 3, iterations: 4, status: 'running' },
      { cursor: 4, iterations: 5, status: 'running' },
      { cursor: 4, iterations: 5, status: 'completed' },
    ]);
  });

  test('a long interval persists only at the end of the run', async () => {
    const saved: string[] = [];
    await runInline(Counter, { upTo: 50 }, { checkpointIntervalMs: 3_600_000, maxIterations: 20, persist: (s) => void saved.push(s.status) });
    assert.deepEqual(saved, ['interrupted']);
  });

  test('context.checkpoint() saves once the item that asked finishes, whatever the interval, one item at a time or several', async () => {
    for (const concurrency of [1, 3]) {
      const saved: Array<[unknown, string]> = [];
      class Asks extends IterableJob<{ at: number[] }, number, number> {
        *buildEnumerator(_p: { at: number[] }, { cursor }: { cursor: number | undefined }) {
          for (let i = (cursor ?? -1) + 1; i < 10; i++) yield [i, i] as const;
        }
        async eachIteration(item: number, { at }: { at: number[] }, context: { checkpoint(): void }) {
          await new Promise((resolve) => setTimeout(resolve, 1));
          if (at.includes(item)) context.checkpoint();
        }
      }
      await runInline(Asks, { at: [2, 6] }, { concurrency, checkpointIntervalMs: 3_600_000, persist: (s) => void saved.push([s.cursor, s.status]) });
      assert.deepEqual(saved, [[2, 'running'], [6, 'running'], [9, 'completed']], `concurrency ${concurrency}`);
    }
  });

  test('maxResumptions: every run after the first counts; the one past it is refused before any hook, the state left as it was', async () => {
    const hooks: string[] = [];
    class Limited extends IterableJob<Record<string, never>, number, number> {
      static override maxResumptions = 2;
      *buildEnumerator(_p: unknown, { cursor }: { cursor: number | undefined }) {
        for (let i = (cursor ?? -1) + 1; i < 10; i++) yield [i, i] as const;
      }
      eachIteration(item: number) {
        hooks.push(`item:${item}`);
      }
      override onResume() {
        hooks.push('resume');
      }
    }
    let result = await runInline(Limited, {}, { maxIterations: 1 });
    assert.equal(result.state.resumptions, undefined);
    for (const expected of [1, 2]) {
      result = await runInline(Limited, {}, { maxIterations: 1, state: JSON.stringify(result.state) });
      assert.equal(result.state.resumptions, expected);
    }
    hooks.length = 0;
    const before = JSON.stringify(result.state);
    const error = await runInline(Limited, {}, { state: before }).then(
      () => assert.fail('a third resumption ran'),
      (e: unknown) => e as ResumptionLimitError,
    );
    assert.ok(error instanceof ResumptionLimitError);
    assert.equal(error.code, 'ERR_RESUMPTION_LIMIT');
    assert.equal(error.maxResumptions, 2);
    assert.match(error.message, /Job "Limited" was resumed 2 time\(s\), its maxResumptions; .* at cursor 2\. Raise maxResumptions/);
    assert.deepEqual(hooks, []);
    assert.equal(JSON.stringify(error.state), before);
    // Raised, the job goes on from its cursor.
    Limited.maxResumptions = 3;
    const last = await runInline(Limited, {}, { state: before });
    assert.equal(last.status, 'completed');
    assert.deepEqual(hooks, ['resume', ...Array.from({ length: 7 }, (_, i) => `item:${i + 3}`)]);
    // A cancellation is never refused by it.
    Limited.maxResumptions = 0;
    const handle = new RunHandle();
    handle.cancel('stop');
    assert.equal((await runInline(Limited, {}, { state: before, handle })).status, 'cancelled');
    for (const bad of [-1, 1.5, '2']) {
      Limited.maxResumptions = bad as number;
      await assert.rejects(runInline(Limited, {}), { code: 'ERR_INVALID_JOB', message: /maxResumptions must be an integer >= 0/ });
    }
  });

  test('a time interval bounds how stale the persisted cursor gets', async () => {
    const saved: number[] = [];
    await runInline(Counter, { upTo: 40, delayMs: 5 }, { checkpointIntervalMs: 30, persist: (s) => void saved.push(s.cursor as number) });
    // Forty 5 ms items with a 30 ms interval: several intermediate checkpoints, each strictly ahead of the last.
    assert.ok(saved.length >= 4, `expected several checkpoints, got ${saved.length}`);
    assert.ok(saved.length < 40, `expected fewer checkpoints than items, got ${saved.length}`);
    for (let i = 1; i < saved.length; i++) assert.ok(saved[i]! >= saved[i - 1]!);
    assert.equal(saved.at(-1), 39);
  });

  test('totalTimeMs accumulates across runs', async () => {
    const first = await runInline(Counter, { upTo: 10, delayMs: 10 }, { maxIterations: 5 });
    assert.ok(first.state.totalTimeMs >= 45, `first run ${first.state.totalTimeMs} ms`);
    const second = await runInline(Counter, { upTo: 10, delayMs: 10 }, { state: first.state });
    assert.ok(second.state.totalTimeMs >= first.state.totalTimeMs + 45);
  });

  test('a throwing persist stops the run with that error', async () => {
    const boom = new Error('disk full');
    await assert.rejects(
      runInline(Counter, { upTo: 10 }, { checkpointIntervalMs: 0, persist: (s) => { if (s.iterations === 3) throw boom; } }),
      (err: Error & { state?: JobState }) => err === boom && err.state?.cursor === 2,
    );
  });
});

describe('errors', () => {
  test('an error in eachIteration rejects with err.state at the last good cursor, and a retry resumes there', async () => {
    let failOn: number | undefined = 6;
    class Flaky extends IterableJob<Record<string, never>, number, number> {
      static seen: number[] = [];
      *buildEnumerator(_: unknown, { cursor }: { cursor: number | undefined }) {
        for (let i = (cursor ?? -1) + 1; i < 10; i++) yield [i, i] as [number, number];
      }
      eachIteration(item: number) {
        if (item === failOn) throw new Error(`item ${item} failed`);
        Flaky.seen.push(item);
      }
    }
    const persisted: JobState[] = [];
    const err = await runInline(Flaky, {}, { persist: (s) => void persisted.push(structuredClone(s)) }).then(
      () => assert.fail('should reject'),
      (e: Error & { state: JobState<number> }) => e,
    );
    assert.equal(err.message, 'item 6 failed');
    assert.equal(err.state.cursor, 5);
    assert.equal(err.state.status, 'failed');
    assert.equal(err.state.lastError, 'item 6 failed');
    assert.equal(persisted.at(-1)?.cursor, 5, 'the failure state is persisted too');
    failOn = undefined;
    const retry = await runInline(Flaky, {}, { state: err.state as JobState<number> });
    assert.equal(retry.status, 'completed');
    assert.deepEqual(Flaky.seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('an error in the enumerator carries the state too', async () => {
    class BadSource extends IterableJob<Record<string, never>, number, number> {
      async *buildEnumerator() {
        yield [0, 0] as [number, number];
        yield [1, 1] as [number, number];
        throw new Error('connection reset');
      }
      eachIteration() {}
    }
    await assert.rejects(runInline(BadSource, {}), (err: Error & { state: JobState }) => {
      assert.equal(err.message, 'connection reset');
      assert.equal(err.state.cursor, 1);
      assert.equal(err.state.iterations, 2);
      return true;
    });
  });

  test('a thrown non-Error is wrapped in IterationFailedError', async () => {
    class Throws extends IterableJob<Record<string, never>, number, number> {
      *buildEnumerator() {
        yield [0, 0] as [number, number];
      }
      eachIteration() {
        throw 'plain string';
      }
    }
    await assert.rejects(runInline(Throws, {}), (err: IterationFailedError) => {
      assert.ok(err instanceof IterationFailedError);
      assert.equal(err.code, 'ERR_ITERATION_FAILED');
      assert.equal(err.cause, 'plain string');
      assert.equal(err.state?.status, 'failed');
      return true;
    });
  });

  test('buildEnumerator must return an iterable of pairs', async () => {
    class Async extends IterableJob<Record<string, never>, number, number> {
      // @ts-expect-error an async buildEnumerator is the mistake under test
      override async buildEnumerator() {
        return [[0, 0]];
      }
      eachIteration() {}
    }
    await assert.rejects(runInline(Async as never, {}), (err: InvalidEnumeratorError) => {
      assert.equal(err.code, 'ERR_INVALID_ENUMERATOR');
      assert.match(err.message, /Async.*returned a Promise/);
      return true;
    });
    class NotPairs extends IterableJob<Record<string, never>, number, number> {
      buildEnumerator() {
        return [1, 2, 3] as never;
      }
      eachIteration() {}
    }
    await assert.rejects(runInline(NotPairs, {}), /must yield \[item, cursor\] pairs; item 1 was number/);
  });

  test('bad options and states are named errors', async () => {
    await assert.rejects(runInline(Counter, { upTo: 1 }, { checkpointIntervalMs: -1 }), (e: InvalidOptionError) => e.code === 'ERR_INVALID_OPTION' && e.option === 'checkpointIntervalMs');
    await assert.rejects(runInline(Counter, { upTo: 1 }, { maxIterations: 1.5 }), (e: InvalidOptionError) => e.option === 'maxIterations');
    await assert.rejects(runInline(Counter, { upTo: 1 }, { state: '{not json' }), InvalidStateError);
    const other = { version: 1, jobName: 'other', status: 'interrupted', iterations: 1, timesInterrupted: 1, totalTimeMs: 1, cursor: 0 };
    await assert.rejects(runInline(Counter, { upTo: 1 }, { state: other as JobState<number> }), /belongs to job "other", not to "counter"/);
    await assert.rejects(runInline(Counter, { upTo: 1 }, { state: { ...other, jobName: 'counter', iterations: -3 } as JobState<number> }), /"iterations" must be a non-negative number; got -3/);
    await assert.rejects(runInline(class NotAJob {} as never, {}), (e: Error & { code: string }) => e.code === 'ERR_INVALID_JOB');
  });
});

describe('run boundaries', () => {
  test('a run whose onStart threw runs onStart again on retry, not onResume', async () => {
    let fail = true;
    class StartFails extends Counter {
      static override jobName = 'start-fails';
      override onStart() {
        Counter.hooks.push('onStart');
        if (fail) throw new Error('could not create the temp table');
      }
    }
    const err = await runInline(StartFails, { upTo: 2 }).catch((e) => e);
    assert.equal(err.message, 'could not create the temp table');
    assert.equal(err.state.startedAt, undefined);
    fail = false;
    await runInline(StartFails, { upTo: 2 }, { state: err.state });
    assert.deepEqual(Counter.hooks, ['onStart', 'onShutdown', 'onStart', 'onComplete', 'onShutdown']);
    assert.deepEqual(Counter.processed, [0, 1]);
  });

  test('an onShutdown that throws after the outcome is saved is reported, and the run still resolves with its outcome', async () => {
    const order: string[] = [];
    const reported: unknown[] = [];
    const onHookError = (e: { hook: string; error: unknown }) => void reported.push(e);
    events.on('hook:error', onHookError);
    const cleanup = new Error('pool already closed');
    class ShutdownFails extends Counter {
      static override jobName = 'shutdown-fails';
      override onShutdown() {
        order.push('onShutdown');
        throw cleanup;
      }
    }
    try {
      const completed = await runInline(ShutdownFails, { upTo: 3 }, { persist: (s) => void order.push(`save ${s.status}`) });
      assert.equal(completed.status, 'completed', 'the job did complete; only its cleanup failed');
      assert.equal(completed.shutdownError, cleanup);
      assert.deepEqual(order, ['save completed', 'onShutdown'], 'onShutdown runs once, after the outcome is saved');

      const interrupted = await runInline(ShutdownFails, { upTo: 3 }, { maxIterations: 1 });
      assert.equal(interrupted.status, 'interrupted');
      assert.equal(interrupted.shutdownError, cleanup);
      assert.deepEqual(reported, [{ hook: 'onShutdown', error: cleanup }, { hook: 'onShutdown', error: cleanup }]);
    } finally {
      events.off('hook:error', onHookError);
    }
  });

  test('a failed run saves its state before onShutdown runs, as a successful one does', async () => {
    const order: string[] = [];
    class FailsThenCleansUp extends Counter {
      static override jobName = 'fails-then-cleans-up';
      override async eachIteration(item: number) {
        if (item === 2) throw new Error('bad row');
      }
      override onShutdown() {
        order.push('onShutdown');
      }
    }
    await assert.rejects(runInline(FailsThenCleansUp, { upTo: 5 }, { checkpointIntervalMs: 3_600_000, persist: (s) => void order.push(`save ${s.status} ${s.cursor}`) }), /bad row/);
    assert.deepEqual(order, ['save failed 1', 'onShutdown']);
  });

  test('a final save that fails runs onShutdown once and rejects with the save error', async () => {
    const boom = new Error('redis gone');
    await assert.rejects(
      runInline(Counter, { upTo: 3 }, { checkpointIntervalMs: 3_600_000, persist: () => { throw boom; } }),
      (e: Error) => e === boom,
    );
    assert.deepEqual(Counter.hooks, ['onStart', 'onComplete', 'onShutdown']);
  });

  test('maxIterations 0 and an already aborted signal start no item', async () => {
    const none = await runInline(Counter, { upTo: 3 }, { maxIterations: 0 });
    assert.deepEqual(none.interruption, { adapter: 'max-iterations', reason: 'ran 0 iterations' });
    const aborted = await runInline(Counter, { upTo: 3 }, { signal: AbortSignal.abort('deploy') });
    assert.deepEqual(aborted.interruption, { adapter: 'abort-signal', reason: 'aborted: deploy' });
    assert.deepEqual(Counter.processed, []);
    assert.equal(aborted.state.cursor, undefined);
  });

  test('a bad local adapter and a bad per-class budget are named errors', async () => {
    await assert.rejects(runInline(Counter, { upTo: 1 }, { localAdapters: { nope: {} as never } }), /Interruption adapter "nope": must be a function/);
    class Bad extends Counter {
      static override jobName = 'bad-budget';
      static override maxJobRuntimeMs = -1;
    }
    await assert.rejects(runInline(Bad, { upTo: 1 }), /Option "Bad.maxJobRuntimeMs" must be a finite number/);
  });

  test('a run of slow items after fast ones still checkpoints on time (the clock is read at least every 16 items)', async () => {
    const saved: number[] = [];
    class Phases extends IterableJob<Record<string, never>, number, number> {
      *buildEnumerator() {
        for (let i = 0; i < 400; i++) yield [i, i] as [number, number];
      }
      eachIteration(item: number) {
        if (item >= 300) {
          const until = performance.now() + 3; // CPU-bound, no await: nothing else can run meanwhile
          while (performance.now() < until);
        }
      }
    }
    await runInline(Phases, {}, { checkpointIntervalMs: 30, persist: (s) => void saved.push(s.cursor as number) });
    // 100 slow items of 3 ms = 300 ms with a 30 ms interval: several checkpoints land inside the slow phase.
    const duringSlowPhase = saved.filter((c) => c >= 300 && c < 399);
    assert.ok(duringSlowPhase.length >= 5, `checkpoints during the slow phase: ${duringSlowPhase.join(', ')}`);
  });
});

describe('the run signal', () => {
  test('stops the run after the item in flight even when no adapter is named (as the testing helpers run)', async () => {
    const ac = new AbortController();
    class AbortsAtTwo extends Counter {
      static override jobName = 'aborts-at-two';
      override async eachIteration(item: number, params: CountParams) {
        await super.eachIteration(item, params);
        if (item === 2) ac.abort('deploy');
      }
    }
    const result = await iterateExactTimes(AbortsAtTwo, { upTo: 100 }, 50, { signal: ac.signal });
    assert.equal(result.status, 'interrupted');
    assert.deepEqual(result.interruption, { adapter: 'abort-signal', reason: 'aborted: deploy' });
    assert.deepEqual(Counter.processed, [0, 1, 2]);
    assert.equal(result.state.cursor, 2);
  });

  test('a run leaves no listener on its signal, however it ends', async () => {
    const ac = new AbortController();
    await runInline(Counter, { upTo: 3 }, { signal: ac.signal });
    await runInline(Counter, { upTo: 3 }, { signal: ac.signal, maxIterations: 1 });
    class Fails extends Counter {
      static override jobName = 'fails-with-signal';
      override async eachIteration(): Promise<void> {
        throw new Error('boom');
      }
    }
    await assert.rejects(runInline(Fails, { upTo: 3 }, { signal: ac.signal }), /boom/);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  });
});

describe('job classes', () => {
  test('a class without eachIteration or buildEnumerator is refused with ERR_INVALID_JOB before any hook runs', async () => {
    abstract class NoBody extends IterableJob<CountParams, number, number> {
      static override jobName = 'no-body';
      *buildEnumerator(): Generator<[number, number]> {
        yield [0, 0];
      }
      override onStart() {
        Counter.hooks.push('onStart');
      }
    }
    abstract class NoEnumerator extends IterableJob<CountParams, number, number> {
      static override jobName = 'no-enumerator';
      eachIteration() {}
      override onStart() {
        Counter.hooks.push('onStart');
      }
    }
    for (const Incomplete of [NoBody, NoEnumerator]) {
      await assert.rejects(runInline(Incomplete as unknown as IterableJobClass, { upTo: 1 }), (e: InvalidJobError) => {
        assert.ok(e instanceof InvalidJobError);
        assert.equal(e.code, 'ERR_INVALID_JOB');
        return true;
      });
    }
    assert.deepEqual(Counter.hooks, [], 'no hook ran');
  });

  test('hooks, the enumerator and eachIteration get a frozen copy of params: edits neither leak nor persist', async () => {
    const params = { upTo: 3, tags: ['a'] };
    const attempts: string[] = [];
    type Tagged = CountParams & { tags: string[] };
    class EditsParams extends IterableJob<Tagged, number, number> {
      static override jobName = 'edits-params';
      *buildEnumerator(p: Tagged, { cursor }: { cursor: number | undefined }): Generator<[number, number]> {
        for (let i = cursor === undefined ? 0 : cursor + 1; i < p.upTo; i++) yield [i, i];
      }
      override onStart(p: Tagged) {
        try {
          p.upTo = 1;
        } catch (e) {
          attempts.push((e as Error).name);
        }
        try {
          p.tags.push('b');
        } catch (e) {
          attempts.push((e as Error).name);
        }
      }
      async eachIteration(item: number, p: Tagged) {
        assert.ok(Object.isFrozen(p));
        Counter.processed.push(item);
      }
    }
    const saved: string[] = [];
    const result = await runInline(EditsParams, params, { persist: () => void saved.push(JSON.stringify(params)) });
    assert.deepEqual(attempts, ['TypeError', 'TypeError']);
    assert.deepEqual(params, { upTo: 3, tags: ['a'] }, 'the caller\'s object is unchanged');
    assert.deepEqual(saved, ['{"upTo":3,"tags":["a"]}']);
    assert.deepEqual(Counter.processed, [0, 1, 2], 'the enumerator saw the params as given');
    assert.equal(result.status, 'completed');
  });

  test('the instance asked for count() is the one that runs, and every instance gets its onShutdown', async () => {
    let open = 0;
    let created = 0;
    class Pooled extends Counter {
      static override jobName = 'pooled';
      pool = (created++, open++, { size: 3 });
      override count(params: CountParams) {
        return params.upTo + this.pool.size - 3;
      }
      override onShutdown() {
        open--;
      }
    }
    // The class form (what runtimes call today) must not leak the instance it counts on.
    assert.equal(await countItems(Pooled, { upTo: 4 }), 4);
    await runInline(Pooled, { upTo: 4 });
    assert.equal(open, 0, 'no instance is left with an open pool');

    created = 0;
    const job = new Pooled();
    assert.equal(await countItems(job, { upTo: 4 }), 4);
    await runInline(Pooled, { upTo: 4 }, { job });
    assert.equal(created, 1, 'one instance for count and run');
    assert.equal(open, 0);
    await assert.rejects(runInline(Pooled, { upTo: 1 }, { job: new Counter() as never }), InvalidOptionError);
  });

  test('stateOf reads a failed run\'s state, typed by the cursor, and nothing from other values', async () => {
    class Fails extends Counter {
      static override jobName = 'fails-at-one';
      override async eachIteration(item: number) {
        if (item === 1) throw new Error('bad row');
      }
    }
    const err = await runInline(Fails, { upTo: 3 }).catch((e: unknown) => e);
    const cursor: number | undefined = stateOf<number>(err)?.cursor;
    assert.equal(cursor, 0);
    assert.equal(stateOf<number>(err)?.status, 'failed');
    assert.equal(stateOf(new Error('plain')), undefined);
    assert.equal(stateOf('text'), undefined);
    assert.equal(stateOf(null), undefined);
  });
});
