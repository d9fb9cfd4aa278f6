import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { IterableJob, InvalidAdapterError, InvalidOptionError, fromArray, runInline, throttle, type InterruptionContext } from '../../src/index.js';

class Items extends IterableJob<object, number, number> {
  static ran: number[] = [];
  buildEnumerator(_params: object, { cursor }: { cursor: number | undefined }) {
    return fromArray([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], { cursor });
  }
  eachIteration(item: number) {
    Items.ran.push(item);
  }
}

const ctx = {} as InterruptionContext;

describe('throttle', () => {
  test('an adapter answering { reason, retryAfterMs } interrupts the run, and the result and the state carry the wait', async () => {
    Items.ran = [];
    const result = await runInline(Items, {}, { adapters: [], localAdapters: { lag: (c) => c.runIterations === 3 && { reason: 'replica lag 12 s', retryAfterMs: 2500 } } });
    assert.equal(result.status, 'interrupted');
    assert.deepEqual(result.interruption, { adapter: 'lag', reason: 'replica lag 12 s', retryAfterMs: 2500 });
    assert.equal(result.state.lastInterruption?.retryAfterMs, 2500);
    assert.equal(result.state.cursor, 2);
    assert.deepEqual(Items.ran, [0, 1, 2]);
  });

  test('a retryAfterMs that is not a duration fails the run with ERR_INVALID_ADAPTER', async () => {
    for (const retryAfterMs of [-1, NaN, Infinity, '5', 2 ** 31]) {
      await assert.rejects(runInline(Items, {}, { adapters: [], localAdapters: { bad: () => ({ reason: 'x', retryAfterMs: retryAfterMs as number }) } }), (error: unknown) => {
        assert.ok(error instanceof InvalidAdapterError);
        assert.match(error.message, /Interruption adapter "bad": answered retryAfterMs/);
        return true;
      });
    }
  });

  test('a job class\'s own adapters run under every runner, after the registered ones', async () => {
    let hot = true;
    class Throttled extends Items {
      static override localAdapters = { db: throttle(() => hot, { checkEveryMs: 0, backoffMs: 100 }) };
    }
    Items.ran = [];
    const first = await runInline(Throttled, {}, { adapters: [] });
    assert.deepEqual(first.interruption, { adapter: 'db', reason: 'throttled', retryAfterMs: 100 });
    assert.deepEqual(Items.ran, [0], 'adapters are asked after an item: every run makes progress');
    hot = false;
    const second = await runInline(Throttled, {}, { adapters: [], state: first.state });
    assert.equal(second.status, 'completed');
  });

  test('the wait grows with each throttle in a row, up to the maximum, and starts over after a "go on"', async () => {
    let hot: boolean | string = true;
    const adapter = throttle(() => hot, { checkEveryMs: 0, backoffMs: 100, backoffFactor: 3, maxBackoffMs: 1000 });
    const waits = [];
    for (let i = 0; i < 5; i++) waits.push((await adapter.shouldInterrupt(ctx)) as { retryAfterMs: number });
    assert.deepEqual(waits.map((w) => w.retryAfterMs), [100, 300, 900, 1000, 1000]);
    hot = false;
    assert.equal(await adapter.shouldInterrupt(ctx), undefined);
    hot = 'load 9.5';
    assert.deepEqual(await adapter.shouldInterrupt(ctx), { reason: 'load 9.5', retryAfterMs: 100 });
  });

  test('the predicate is asked at most every checkEveryMs; runs share its answer, and one question is in flight at a time', async () => {
    let asked = 0;
    const adapter = throttle(
      async () => {
        asked++;
        await sleep(20);
        return false;
      },
      { checkEveryMs: 200 },
    );
    const answers = await Promise.all([adapter.shouldInterrupt(ctx), adapter.shouldInterrupt(ctx), adapter.shouldInterrupt(ctx)]);
    assert.deepEqual(answers, [undefined, undefined, undefined]);
    assert.equal(asked, 1, 'concurrent asks share one question');
    for (let i = 0; i < 100; i++) assert.equal(adapter.shouldInterrupt(ctx), undefined, 'a fresh answer is reused synchronously');
    assert.equal(asked, 1);
    await sleep(220);
    await adapter.shouldInterrupt(ctx);
    assert.equal(asked, 2);
  });

  test('a predicate that throws throttles, with its error in the reason', async () => {
    const sync = throttle(() => {
      throw new Error('replica unreachable');
    }, { backoffMs: 50 });
    assert.deepEqual(sync.shouldInterrupt(ctx), { reason: 'throttled: the throttle check failed (replica unreachable)', retryAfterMs: 50 });
    const rejecting = throttle(() => Promise.reject(new Error('timeout')), { reason: 'db busy' });
    assert.deepEqual(await rejecting.shouldInterrupt(ctx), { reason: 'db busy: the throttle check failed (timeout)', retryAfterMs: 5000 });
  });

  test('bad options are refused when the throttle is made', () => {
    assert.throws(() => throttle('x' as never), InvalidOptionError);
    assert.throws(() => throttle(() => false, { checkEveryMs: -1 }), /throttle checkEveryMs/);
    assert.throws(() => throttle(() => false, { backoffMs: NaN }), /throttle backoffMs/);
    assert.throws(() => throttle(() => false, { backoffFactor: 0.5 }), /throttle backoffFactor/);
    assert.throws(() => throttle(() => false, { reason: '' }), /throttle reason/);
  });
});
