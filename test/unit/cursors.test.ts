import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CursorNotSerializableError, InvalidCursorError, IterableJob, runInline, type JobState } from '../../src/index.js';

function jobYielding(name: string, bad: unknown) {
  return class extends IterableJob<Record<string, never>, number, unknown> {
    static override jobName = name;
    static done: number[] = [];
    *buildEnumerator() {
      yield [0, 0] as [number, unknown];
      yield [1, 1] as [number, unknown];
      yield [2, bad] as [number, unknown];
      yield [3, 3] as [number, unknown];
    }
    eachIteration(item: number) {
      (this.constructor as unknown as { done: number[] }).done.push(item);
    }
  };
}

const cyclic: Record<string, unknown> = { id: 1 };
cyclic.self = cyclic;

const cases: Array<[string, unknown, RegExp, string]> = [
  ['bigint', 12n, /cursor is 12n/, 'cursor'],
  ['map', new Map([[1, 2]]), /cursor is a Map/, 'cursor'],
  ['date', new Date(0), /cursor is a Date/, 'cursor'],
  ['function', () => 1, /cursor is a function/, 'cursor'],
  ['cycle', cyclic, /cursor\.self is a circular reference/, 'cursor.self'],
  ['nan', NaN, /cursor is NaN/, 'cursor'],
  ['infinity', [1, Infinity], /cursor\[1\] is Infinity/, 'cursor[1]'],
  ['nested-bigint', { id: 5, at: { ts: 10n } }, /cursor\.at\.ts is 10n/, 'cursor.at.ts'],
  ['undefined-field', { id: undefined }, /cursor\.id is undefined/, 'cursor.id'],
  ['undefined', undefined, /cursor is undefined/, 'cursor'],
  ['class-instance', new (class Point { x = 1 })(), /cursor is a Point/, 'cursor'],
];

describe('cursor validation', () => {
  for (const [name, bad, message, path] of cases) {
    test(`a ${name} cursor is rejected before its item runs, naming the job and the path, and nothing corrupt is saved`, async () => {
      const Job = jobYielding(`cursor-${name}`, bad);
      const persisted: string[] = [];
      const err = await runInline(Job, {}, { checkpointIntervalMs: 0, persist: (s) => void persisted.push(JSON.stringify(s)) }).then(
        () => assert.fail('should reject'),
        (e: CursorNotSerializableError) => e,
      );
      assert.ok(err instanceof CursorNotSerializableError);
      assert.equal(err.code, 'ERR_CURSOR_NOT_SERIALIZABLE');
      assert.equal(err.jobName, `cursor-${name}`);
      assert.equal(err.path, path);
      assert.match(err.message, new RegExp(`Job "cursor-${name}"`));
      assert.match(err.message, message);
      assert.equal(err.cursor, bad);
      assert.deepEqual((Job as unknown as { done: number[] }).done, [0, 1], 'the item with the bad cursor never ran');
      const state = err.state as JobState;
      assert.equal(state.cursor, 1, 'err.state holds the last good cursor');
      for (const json of persisted) assert.notEqual(JSON.parse(json).cursor, undefined);
      assert.deepEqual(persisted.map((s) => JSON.parse(s).cursor), [0, 1, 1]);
    });
  }

  test('JSON values of every kind are accepted and survive the round trip unchanged', async () => {
    const cursors = [0, -1.5, 'abc', true, null, [1, 'b', null], { id: 7, created: '2026-01-01T00:00:00Z', parts: [1, { x: false }] }, Object.assign(Object.create(null), { k: 1 })];
    class Many extends IterableJob<Record<string, never>, number, unknown> {
      *buildEnumerator() {
        for (let i = 0; i < cursors.length; i++) yield [i, cursors[i]] as [number, unknown];
      }
      eachIteration() {}
    }
    for (let n = 1; n <= cursors.length; n++) {
      const result = await runInline(Many, {}, { maxIterations: n });
      assert.deepEqual(JSON.parse(JSON.stringify(result.state.cursor)), JSON.parse(JSON.stringify(cursors[n - 1])));
    }
  });
});

describe('cursors from outside', () => {
  test('a cursor key named "__proto__" is kept through the run, the saved JSON and a resume', async () => {
    const keyed = JSON.parse('{"__proto__": 7, "id": 1}') as Record<string, number>;
    class Keyed extends IterableJob<Record<string, never>, number, Record<string, number>> {
      static override jobName = 'keyed';
      static seen: unknown[] = [];
      *buildEnumerator(_params: Record<string, never>, { cursor }: { cursor: Record<string, number> | undefined }) {
        Keyed.seen.push(cursor === undefined ? undefined : JSON.stringify(cursor));
        if (cursor === undefined) yield [0, keyed] as [number, Record<string, number>];
      }
      eachIteration() {}
    }
    const saved: string[] = [];
    const first = await runInline(Keyed, {}, { persist: (state) => void saved.push(JSON.stringify(state)) });
    assert.equal(JSON.stringify(first.state.cursor), '{"__proto__":7,"id":1}');
    assert.match(saved.at(-1)!, /"cursor":\{"__proto__":7,"id":1\}/);
    const again = JSON.parse(saved.at(-1)!) as JobState<Record<string, number>>;
    again.status = 'interrupted';
    await runInline(Keyed, {}, { state: again });
    assert.deepEqual(Keyed.seen, [undefined, '{"__proto__":7,"id":1}']);
  });

  test('validateCursor refuses a saved cursor of the wrong shape with ERR_INVALID_CURSOR before any hook or item runs', async () => {
    class Numbered extends IterableJob<Record<string, never>, number, number> {
      static override jobName = 'numbered';
      static calls: string[] = [];
      *buildEnumerator(_params: Record<string, never>, { cursor }: { cursor: number | undefined }) {
        for (let i = cursor === undefined ? 0 : cursor + 1; i < 5; i++) yield [i, i] as [number, number];
      }
      eachIteration(item: number) {
        Numbered.calls.push(`item ${item}`);
      }
      override onResume() {
        Numbered.calls.push('onResume');
      }
      override onShutdown() {
        Numbered.calls.push('onShutdown');
      }
      override validateCursor(cursor: unknown) {
        return (Number.isSafeInteger(cursor) && (cursor as number) >= 0) || `expected an integer >= 0, got ${JSON.stringify(cursor)}`;
      }
    }
    const state = { version: 1, jobName: 'numbered', status: 'interrupted', iterations: 3, timesInterrupted: 1, totalTimeMs: 5, startedAt: '2026-01-01T00:00:00.000Z', cursor: '2' };
    const persisted: unknown[] = [];
    await assert.rejects(runInline(Numbered, {}, { state: state as never, persist: (s) => void persisted.push(s) }), (error: Error & { code?: string; state?: JobState }) => {
      assert.ok(error instanceof InvalidCursorError);
      assert.equal(error.code, 'ERR_INVALID_CURSOR');
      assert.match(error.message, /Job "numbered" cannot resume from the saved cursor "2": expected an integer >= 0, got "2"/);
      assert.equal(error.state?.cursor, '2');
      return true;
    });
    assert.deepEqual(Numbered.calls, [], 'no hook, no item');
    assert.deepEqual(persisted, [], 'nothing written over the saved state');
    // A valid cursor resumes as usual.
    await runInline(Numbered, {}, { state: { ...state, cursor: 2 } as never });
    assert.deepEqual(Numbered.calls, ['onResume', 'item 3', 'item 4', 'onShutdown']);
  });
});
