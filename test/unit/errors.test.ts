import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as bullmq from '../../src/bullmq/index.js';
import * as root from '../../src/index.js';

test("the runtime's errors come from job-iteration/bullmq only: the core names nothing of a runtime", () => {
  for (const name of ['InvalidJobDataError', 'JobCancelledError', 'JobNotFoundError', 'JobStalledError', 'LockLostError'] as const) {
    assert.equal(typeof bullmq[name], 'function', name);
    assert.equal(name in root, false, `${name} is not exported from the root`);
    assert.ok(bullmq[name].prototype instanceof root.JobIterationError, name);
  }
});
