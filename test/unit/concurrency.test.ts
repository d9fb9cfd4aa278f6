import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { IterableJob, InvalidOptionError, defineJob, fromArray, runInline, type JobState } from '../../src/index.js';

const N = 60;

interface Params {
  failAt?: number;
}

/** Items 0..N-1 with random durations; records when each starts and finishes and how many run at once. */
class Slow extends IterableJob<Params, number, number> {
  static override concurrency = 4;
  static started: number[] = [];
  static finished: number[] = [];
  static inFlight = 0;
  static maxInFlight = 0;
  static reset() {
    Slow.started = [];
    Slow.finished = [];
    Slow.inFlight = 0;
    Slow.maxInFlight = 0;
  }
  buildEnumerator(_params: Params, { cursor }: { cursor: number | undefined }) {
    return fromArray(Array.from({ length: N }, (_, i) => i), { cursor });
  }
  async eachIteration(item: number, { failAt }: Params) {
    Slow.started.push(item);
    Slow.maxInFlight = Math.max(Slow.maxInFlight, ++Slow.inFlight);
    try {
      await sleep(1 + ((item * 7919) % 13));
      if (item === failAt) throw new Error(`item ${item} failed`);
      Slow.finished.push(item);
    } finally {
      Slow.inFlight--;
    }
  }
}

/** Every cursor saved covers only finished items: the longest finished prefix. */
function prefixPersist(saved: number[]) {
  return (state: JobState<number>) => {
    const cursor = state.cursor;
    if (cursor === undefined) return;
    for (let i = 0; i <= cursor; i++) assert.ok(Slow.finished.includes(i), `saved cursor ${cursor} while item ${i} was not finished`);
    assert.equal(state.iterations, cursor + 1, 'iterations count the finished prefix');
    saved.push(cursor);
  };
}

describe('per-job concurrency', () => {
  test('runs up to N items at once, out of order, and saves only the longest finished prefix', async () => {
    Slow.reset();
    const saved: number[] = [];
    const result = await runInline(Slow, {}, { checkpointIntervalMs: 0, persist: prefixPersist(saved), adapters: [] });
    assert.equal(result.status, 'completed');
    assert.equal(Slow.maxInFlight, 4);
    assert.notDeepEqual(Slow.finished, [...Slow.finished].sort((a, b) => a - b), 'items finished out of order');
    assert.deepEqual([...Slow.finished].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i));
    assert.deepEqual(Slow.started, Array.from({ length: N }, (_, i) => i), 'items start in the enumerator order');
    assert.equal(result.state.cursor, N - 1);
    assert.equal(result.state.iterations, N);
    assert.equal(result.runIterations, N);
    assert.ok(saved.length > 10);
  });

  test('the run option wins over the class, and a bad value is refused before anything runs', async () => {
    Slow.reset();
    await runInline(Slow, {}, { concurrency: 9, adapters: [] });
    assert.equal(Slow.maxInFlight, 9);
    Slow.reset();
    await runInline(Slow, {}, { concurrency: 1, adapters: [] });
    assert.equal(Slow.maxInFlight, 1);
    for (const bad of [0, -1, 1.5, NaN, '2']) {
      Slow.reset();
      await assert.rejects(runInline(Slow, {}, { concurrency: bad as number }), (error: unknown) => error instanceof InvalidOptionError && /"concurrency"/.test(error.message));
      assert.equal(Slow.started.length, 0);
    }
    const Bad = class Bad extends Slow {
      static override concurrency = 0;
    };
    await assert.rejects(runInline(Bad, {}), /Option "Bad.concurrency" must be an integer >= 1/);
  });

  test('a graceful stop starts nothing more, lets the items in flight finish, saves them all: a resume repeats nothing', async () => {
    Slow.reset();
    const controller = new AbortController();
    setTimeout(() => controller.abort('deploy'), 40);
    const first = await runInline(Slow, {}, { signal: controller.signal, adapters: [] });
    assert.equal(first.status, 'interrupted');
    assert.equal(first.interruption?.adapter, 'abort-signal');
    const doneFirst = [...Slow.finished].sort((a, b) => a - b);
    assert.ok(doneFirst.length > 4 && doneFirst.length < N, `${doneFirst.length} items before the stop`);
    assert.deepEqual(doneFirst, Array.from({ length: doneFirst.length }, (_, i) => i), 'what finished is a prefix');
    assert.deepEqual(Slow.started, doneFirst.slice().sort((a, b) => a - b), 'every started item finished');
    assert.equal(first.state.cursor, doneFirst.length - 1);
    assert.equal(first.state.iterations, doneFirst.length);

    Slow.finished = [];
    Slow.started = [];
    await runInline(Slow, {}, { state: first.state, adapters: [] });
    assert.equal(Math.min(...Slow.started), doneFirst.length, 'the resume starts right after');
    assert.equal(Slow.started.length + doneFirst.length, N, 'nothing repeated, nothing skipped');
  });

  test('maxIterations counts finished items: exactly that many run', async () => {
    for (const k of [1, 3, 4, 5, 17]) {
      Slow.reset();
      const result = await runInline(Slow, {}, { maxIterations: k, adapters: [] });
      assert.equal(result.status, 'interrupted');
      assert.equal(Slow.started.length, k);
      assert.equal(result.state.iterations, k);
      assert.equal(result.state.cursor, k - 1);
      assert.equal(result.runIterations, k);
    }
  });

  test('a failing item lets the others settle and fails with the state at the longest finished prefix', async () => {
    Slow.reset();
    const failAt = 21;
    const error = await runInline(Slow, { failAt }, { adapters: [] }).then(
      () => assert.fail('the run should fail'),
      (e: Error & { state?: JobState<number> }) => e,
    );
    assert.match(error.message, /item 21 failed/);
    assert.equal(Slow.inFlight, 0, 'no item is still running when the run rejects');
    assert.equal(error.state?.status, 'failed');
    assert.equal(error.state?.cursor, failAt - 1);
    assert.equal(error.state?.iterations, failAt);
    const beyond = Slow.finished.filter((i) => i > failAt);
    assert.ok(beyond.length <= 3, `${beyond.length} finished items past the failure are repeated by a retry; at most concurrency - 1`);
    assert.ok(Math.max(...Slow.started) <= failAt + 3, 'nothing started once the failure was seen, beyond what was in flight');

    Slow.reset();
    await runInline(Slow, {}, { state: error.state, adapters: [] });
    assert.equal(Slow.started[0], failAt, 'the retry starts at the failed item');
  });

  test('an adapter asked after each finished item stops the run, and the in-flight items still finish', async () => {
    Slow.reset();
    const result = await runInline(Slow, {}, { adapters: [], localAdapters: { enough: (ctx) => ctx.runIterations >= 10 && 'ten done' } });
    assert.equal(result.interruption?.reason, 'ten done');
    assert.equal(Slow.inFlight, 0);
    assert.equal(result.state.iterations, Slow.finished.length, 'everything that finished is in the state');
    assert.ok(result.state.iterations >= 10 && result.state.iterations <= 13);
  });

  test('defineJob takes concurrency too', async () => {
    let inFlight = 0;
    let max = 0;
    const Job = defineJob({
      name: 'defined-concurrent',
      concurrency: 3,
      validateCursor: (cursor): cursor is number => Number.isSafeInteger(cursor),
      buildEnumerator: (_params: object, { cursor }) => fromArray([1, 2, 3, 4, 5, 6, 7], { cursor }),
      async eachIteration() {
        max = Math.max(max, ++inFlight);
        await sleep(5);
        inFlight--;
      },
    });
    assert.equal(Job.concurrency, 3);
    await runInline(Job, {}, { adapters: [] });
    assert.equal(max, 3);
  });

  test('a slow item holds the window: at most N items are started and not yet saved, so a failure repeats at most N - 1', async () => {
    let outstanding = 0;
    let maxOutstanding = 0;
    const finished: number[] = [];
    class HeadSlow extends IterableJob<object, number, number> {
      buildEnumerator(_params: object, { cursor }: { cursor: number | undefined }) {
        return fromArray(Array.from({ length: 5000 }, (_, i) => i), { cursor });
      }
      async eachIteration(item: number) {
        maxOutstanding = Math.max(maxOutstanding, ++outstanding);
        if (item !== 0) outstanding--;
        if (item === 0) {
          await sleep(100);
          throw new Error('item 0 failed');
        }
        finished.push(item);
      }
    }
    const error = await runInline(HeadSlow, {}, { concurrency: 4, adapters: [] }).then(
      () => assert.fail('the run should fail'),
      (e: Error & { state?: JobState<number> }) => e,
    );
    assert.equal(error.state?.cursor, undefined, 'nothing before the failed item');
    assert.ok(finished.length <= 3, `${finished.length} items finished past the failed one; a retry repeats them (at most concurrency - 1)`);
    assert.ok(maxOutstanding <= 4);
  });

  test('a stop that comes while the enumerator fetches starts no further item, in the serial and the concurrent loop', async () => {
    for (const concurrency of [1, 3]) {
      const started: number[] = [];
      const controller = new AbortController();
      class SlowFetch extends IterableJob<object, number, number> {
        async *buildEnumerator(_params: object, { cursor }: { cursor: number | undefined }) {
          for (let i = cursor === undefined ? 0 : cursor + 1; i < 50; i++) {
            // The stop comes during the fetch of item 3.
            if (i === 3) setTimeout(() => controller.abort('deploy'), 5);
            await sleep(20);
            yield [i, i] as const;
          }
        }
        eachIteration(item: number) {
          started.push(item);
        }
      }
      const result = await runInline(SlowFetch, {}, { concurrency, signal: controller.signal, adapters: [] });
      assert.equal(result.status, 'interrupted');
      assert.deepEqual(started, [0, 1, 2], `concurrency ${concurrency}: item 3 was fetched after the stop and must not start`);
      assert.equal(result.state.cursor, 2);
    }
  });

  test('items in flight may all listen to the run signal without a MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      class Listens extends IterableJob<object, number, number> {
        buildEnumerator(_params: object, { cursor }: { cursor: number | undefined }) {
          return fromArray(Array.from({ length: 64 }, (_, i) => i), { cursor });
        }
        async eachIteration(_item: number, _params: object, { signal }: { signal: AbortSignal }) {
          await sleep(5, undefined, { signal });
        }
      }
      await runInline(Listens, {}, { concurrency: 16, adapters: [] });
      await runInline(Listens, {}, { concurrency: 16, adapters: [], signal: new AbortController().signal });
      await sleep(10);
      assert.deepEqual(warnings.map((w) => w.name), []);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
