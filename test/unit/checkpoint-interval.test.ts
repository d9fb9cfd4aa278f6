import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { InvalidOptionError, configure, resolveCheckpointInterval } from '../../src/index.js';

afterEach(() => configure({ checkpointIntervalMs: 1000 }));

describe('resolveCheckpointInterval', () => {
  test('the run option wins, then the class, then the worker, then the process setting', () => {
    configure({ checkpointIntervalMs: 4000 });
    const WithOwn = { checkpointIntervalMs: 2000 };
    const WithoutOwn = {};
    assert.equal(resolveCheckpointInterval({ run: 1000, JobClass: WithOwn, worker: 3000 }), 1000);
    assert.equal(resolveCheckpointInterval({ run: 0, JobClass: WithOwn, worker: 3000 }), 0, '0 is a setting, not an absence');
    assert.equal(resolveCheckpointInterval({ JobClass: WithOwn, worker: 3000 }), 2000);
    assert.equal(resolveCheckpointInterval({ JobClass: WithoutOwn, worker: 3000 }), 3000);
    assert.equal(resolveCheckpointInterval({ JobClass: WithoutOwn }), 4000);
  });

  test('the winning value must be a duration', () => {
    assert.throws(() => resolveCheckpointInterval({ run: -1, JobClass: {} }), InvalidOptionError);
    assert.throws(() => resolveCheckpointInterval({ JobClass: { checkpointIntervalMs: Number.NaN } }), /Option "checkpointIntervalMs"/);
  });
});
