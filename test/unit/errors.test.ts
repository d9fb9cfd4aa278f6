import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as bullmq from '../../src/bullmq/index.js';
import * as root from '../../src/index.js';

test("the runtime's errors come from job-iteration/bullmq, and the root still exports the same classes", () => {
  for (const name of ['InvalidJobDataError', 'JobCancelledError', 'JobNotFoundError', 'JobStalledError', 'LockLostError'] as const) {
    assert.equal(typeof bullmq[name], 'function', name);
    assert.equal(root[name], bullmq[name], `${name} is one class whichever entry it is imported from`);
    assert.ok(bullmq[name].prototype instanceof root.JobIterationError, name);
  }
});
