import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defineJob, InvalidParamsError, IterableJob, runInline } from '../../src/index.js';

interface Params {
  upTo?: unknown;
}

/** A job that records every hook and item, and checks `upTo` with the given `validateParams` body. */
function jobChecking(check: (params: Params) => unknown) {
  return class Counted extends IterableJob<Params, number, number> {
    static override jobName = 'counted';
    static calls: string[] = [];
    *buildEnumerator({ upTo }: Params, { cursor }: { cursor: number | undefined }) {
      for (let i = cursor === undefined ? 0 : cursor + 1; i < (upTo as number); i++) yield [i, i] as [number, number];
    }
    eachIteration(item: number) {
      Counted.calls.push(`item ${item}`);
    }
    override onStart() {
      Counted.calls.push('onStart');
    }
    override onShutdown() {
      Counted.calls.push('onShutdown');
    }
    override validateParams(params: Params) {
      return check(params) as boolean | string;
    }
  };
}

describe('validateParams', () => {
  test('a reason refuses the params with ERR_INVALID_PARAMS naming the field, before any hook or item runs and with nothing written', async () => {
    const Counted = jobChecking(({ upTo }) => Number.isSafeInteger(upTo) || `upTo must be an integer; got ${JSON.stringify(upTo)}`);
    const persisted: unknown[] = [];
    await assert.rejects(runInline(Counted, { upTo: '3' }, { persist: (s) => void persisted.push(s) }), (error: Error & { code?: string }) => {
      assert.ok(error instanceof InvalidParamsError);
      assert.equal(error.code, 'ERR_INVALID_PARAMS');
      assert.equal(error.message, 'Params of job "counted" are refused: upTo must be an integer; got "3"');
      return true;
    });
    assert.deepEqual(Counted.calls, []);
    assert.deepEqual(persisted, []);
    const result = await runInline(Counted, { upTo: 2 });
    assert.equal(result.status, 'completed');
    assert.deepEqual(Counted.calls, ['onStart', 'item 0', 'item 1', 'onShutdown']);
  });

  test('false, nothing, a throw and a Promise refuse too, each with a message that says why', async () => {
    const cases: Array<[(params: Params) => unknown, RegExp]> = [
      [() => false, /are refused: validateParams refused them$/],
      // A check that forgets its return refuses everything, so the slip shows at once.
      [() => undefined, /are refused: validateParams refused them$/],
      [
        () => {
          throw new RangeError('upTo is out of range');
        },
        /are refused: upTo is out of range$/,
      ],
      [async () => true, /validateParams returned a Promise; it must answer synchronously/],
    ];
    for (const [check, message] of cases) {
      const Counted = jobChecking(check);
      await assert.rejects(runInline(Counted, { upTo: 1 }), (error: Error) => error instanceof InvalidParamsError && message.test(error.message));
      assert.deepEqual(Counted.calls, []);
    }
  });

  test('defineJob passes it on like a class method', async () => {
    const Defined = defineJob({
      name: 'defined-params',
      *buildEnumerator({ ids }: { ids: unknown }) {
        yield* (ids as string[]).map((id, i) => [id, i] as const);
      },
      validateParams: ({ ids }) => Array.isArray(ids) || `ids must be an array; got ${JSON.stringify(ids)}`,
      eachIteration() {},
    });
    await assert.rejects(runInline(Defined, { ids: 'a,b' }), /Params of job "defined-params" are refused: ids must be an array; got "a,b"/);
    assert.equal((await runInline(Defined, { ids: ['a', 'b'] })).state.iterations, 2);
  });
});
