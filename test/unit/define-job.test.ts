import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidCursorError, InvalidJobError, IterableJob, defineJob, isIterableJobClass, jobNameOf, runInline } from '../../src/index.js';

function makeJob(log: string[]) {
  return defineJob({
    name: 'defined-counter',
    maxJobRuntimeMs: 60_000,
    checkpointIntervalMs: 0,
    validateCursor: (cursor): cursor is number => Number.isSafeInteger(cursor),
    *buildEnumerator(params: { upTo: number }, { cursor }) {
      for (let i = cursor === undefined ? 0 : cursor + 1; i < params.upTo; i++) yield [i * 10, i] as const;
    },
    eachIteration(item) {
      log.push(`item ${item} after ${this.progress.iterations}`);
    },
    onStart() {
      log.push('onStart');
    },
    onResume() {
      log.push(`onResume at ${this.progress.cursor}`);
    },
    onShutdown() {
      log.push('onShutdown');
    },
  });
}

describe('defineJob', () => {
  test('builds an IterableJob class that runs, resumes and carries its name and statics', async () => {
    const log: string[] = [];
    const Defined = makeJob(log);
    assert.ok(isIterableJobClass(Defined));
    assert.ok(new Defined() instanceof IterableJob);
    assert.equal(jobNameOf(Defined), 'defined-counter');
    assert.equal(Defined.maxJobRuntimeMs, 60_000);
    assert.equal(Defined.checkpointIntervalMs, 0);

    const saves: number[] = [];
    const first = await runInline(Defined, { upTo: 4 }, { maxIterations: 2, persist: (s) => void saves.push(s.iterations) });
    assert.equal(first.status, 'interrupted');
    assert.deepEqual(saves, [1, 2, 2], 'the class checkpoint interval (0) applies');
    const second = await runInline(Defined, { upTo: 4 }, { state: first.state });
    assert.equal(second.status, 'completed');
    assert.deepEqual(log, ['onStart', 'item 0 after 0', 'item 10 after 1', 'onShutdown', 'onResume at 1', 'item 20 after 2', 'item 30 after 3', 'onShutdown']);
  });

  test('its validateCursor guards a resume like a class method does', async () => {
    const Defined = makeJob([]);
    const state = (await runInline(Defined, { upTo: 3 }, { maxIterations: 1 })).state as { cursor?: unknown };
    state.cursor = 'one';
    await assert.rejects(runInline(Defined, { upTo: 3 }, { state: state as never }), InvalidCursorError);
  });

  test('a definition without a name or with a member that is not a function is refused by name', () => {
    const parts = { buildEnumerator: () => [], eachIteration() {} };
    assert.throws(() => defineJob({ ...parts, name: '' }), InvalidJobError);
    assert.throws(() => defineJob({ ...parts, name: 'x', onStart: 'soon' as never }), /onStart must be a function/);
    assert.throws(() => defineJob({ name: 'x', buildEnumerator: () => [] } as never), (e: InvalidJobError) => e.code === 'ERR_INVALID_JOB');
  });
});
