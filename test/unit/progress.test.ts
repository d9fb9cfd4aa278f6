import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IterableJob, InvalidStateError, runInline, type JobProgress } from '../../src/index.js';
import { markInterrupted } from '../../src/testing.js';
import { formatDuration } from '../../src/cli/progress.js';

describe('job.progress', () => {
  test('hooks and eachIteration read the cursor, iterations, times interrupted and total time of the run', async () => {
    const seen: Record<string, JobProgress<number>> = {};
    class Watches extends IterableJob<{ upTo: number }, number, number> {
      static override jobName = 'watches';
      *buildEnumerator(params: { upTo: number }, { cursor }: { cursor: number | undefined }): Generator<[number, number]> {
        for (let i = cursor === undefined ? 0 : cursor + 1; i < params.upTo; i++) yield [i, i];
      }
      eachIteration(item: number) {
        if (item === 6) seen.item6 = this.progress;
      }
      override onResume() {
        seen.onResume = this.progress;
      }
      override onComplete() {
        seen.onComplete = this.progress;
      }
      override onShutdown() {
        seen.onShutdown = this.progress;
      }
    }
    const state = markInterrupted(Watches, { cursor: 4, iterations: 5, timesInterrupted: 2 });
    state.totalTimeMs = 1000;
    const job = new Watches();
    await runInline(Watches, { upTo: 8 }, { state, job });
    assert.deepEqual(seen.onResume, { cursor: 4, iterations: 5, runIterations: 0, timesInterrupted: 2, totalTimeMs: seen.onResume!.totalTimeMs });
    assert.ok(seen.onResume!.totalTimeMs >= 1000, 'total time includes earlier runs');
    assert.equal(seen.item6?.cursor, 5, 'the last finished item, not the one in flight');
    assert.equal(seen.item6?.runIterations, 1);
    assert.equal(seen.onComplete?.iterations, 8);
    assert.equal(seen.onShutdown?.cursor, 7);
    assert.ok(Object.isFrozen(seen.onShutdown));
    assert.throws(() => job.progress, InvalidStateError, 'outside a run there is no progress to read');
  });
});

describe('job.progress extent', () => {
  test('a measured enumeration gives progress an extent; a handle reads the same', async () => {
    const { fromArray, RunHandle } = await import('../../src/index.js');
    const seen: Array<JobProgress<number>['extent']> = [];
    const handle = new RunHandle<number>();
    const viaHandle: unknown[] = [];
    class Measured extends IterableJob<object, string, number> {
      static override jobName = 'measured';
      buildEnumerator(_params: object, { cursor }: { cursor: number | undefined }) {
        return fromArray(['a', 'b', 'c', 'd'], { cursor });
      }
      eachIteration() {
        seen.push(this.progress.extent);
        viaHandle.push(handle.extent);
      }
    }
    await runInline(Measured, {}, { handle, adapters: [] });
    assert.deepEqual(seen.map((e) => e?.done), [0, 1, 2, 3]);
    assert.deepEqual(seen[0], { done: 0, total: 4, unit: 'items' });
    assert.deepEqual(viaHandle, seen);
    assert.deepEqual(handle.extent, { done: 4, total: 4, unit: 'items' }, 'the final extent stays readable, as the state does');
  });
});

describe('run progress line', () => {
  test('formatDuration carries rounded seconds into the minute instead of printing 60s', () => {
    assert.equal(formatDuration(239.6), '4m00s');
    assert.equal(formatDuration(1859.5), '31m00s');
    assert.equal(formatDuration(59.7), '1m00s');
    assert.equal(formatDuration(3599.6), '1h00m');
    assert.equal(formatDuration(125.2), '2m05s');
    assert.equal(formatDuration(7325), '2h02m');
    assert.equal(formatDuration(4), '4s');
    assert.equal(formatDuration(Number.NaN), '?');
    assert.equal(formatDuration(-1), '?');
  });
});
