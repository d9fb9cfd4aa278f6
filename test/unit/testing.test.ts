import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { runInline, workerStop } from '../../src/index.js';
import { iterateExactTimes, markInterrupted } from '../../src/testing.js';
import { Counter } from '../fixtures/jobs.js';

beforeEach(() => Counter.reset());

test('iterateExactTimes runs exactly n items and leaves a resumable state', async () => {
  const result = await iterateExactTimes(Counter, { upTo: 10 }, 3);
  assert.deepEqual(Counter.processed, [0, 1, 2]);
  assert.equal(result.status, 'interrupted');
  assert.equal(result.state.cursor, 2);
  const rest = await runInline(Counter, { upTo: 10 }, { state: result.state });
  assert.equal(rest.status, 'completed');
  assert.deepEqual(Counter.processed, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('iterateExactTimes is not stopped by the process around it', async () => {
  workerStop.request();
  try {
    const result = await iterateExactTimes(Counter, { upTo: 10 }, 5);
    assert.equal(result.runIterations, 5);
  } finally {
    workerStop.reset();
  }
});

test('iterateExactTimes past the end completes', async () => {
  const result = await iterateExactTimes(Counter, { upTo: 3 }, 10);
  assert.equal(result.status, 'completed');
});

test('markInterrupted builds a state that resumes after its cursor and fires onResume', async () => {
  const state = markInterrupted(Counter, { cursor: 6, iterations: 7 });
  assert.equal(state.status, 'interrupted');
  const result = await runInline(Counter, { upTo: 9 }, { state });
  assert.deepEqual(Counter.processed, [7, 8]);
  assert.deepEqual(Counter.hooks, ['onResume', 'onComplete', 'onShutdown']);
  assert.equal(result.state.iterations, 9);
  assert.equal(result.state.timesInterrupted, 1);
  Counter.reset();
  await runInline(Counter, { upTo: 2 }, { state: markInterrupted(Counter) });
  assert.deepEqual(Counter.processed, [0, 1], 'no cursor means start from the beginning');
});
