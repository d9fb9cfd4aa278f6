import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JobModuleError } from '../../src/process/errors.js';
import { loadJobs } from '../../src/process/load-jobs.js';

// Forked workers load modules with this too: its failures are the process layer's, never the CLI's UsageError.
test('loadJobs reports every module problem as a JobModuleError naming the module', async () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /no module given/],
    [['test/fixtures/nope.mjs'], /module not found: test\/fixtures\/nope\.mjs/],
    [['test/fixtures/no-jobs.mjs'], /exports no IterableJob subclass/],
  ];
  for (const [modules, message] of cases) {
    await assert.rejects(loadJobs(modules), (error: unknown) => {
      assert.ok(error instanceof JobModuleError, `${modules.join(' ')}: ${String(error)}`);
      assert.equal(error.code, 'ERR_JOB_MODULE');
      assert.equal(error.module, modules[0] ?? '');
      assert.match(error.message, message);
      return true;
    });
  }
});

test('loadJobs collects the exported job classes by job name', async () => {
  const jobs = await loadJobs(['test/fixtures/cli-jobs.mjs']);
  assert.deepEqual([...jobs.keys()].sort(), ['letters', 'numbers']);
});
