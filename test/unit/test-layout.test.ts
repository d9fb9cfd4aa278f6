import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';

// npm test runs test/unit and test/integration (npm run test:chaos runs test/chaos): a test file left directly in test/ would never run.
test('every test file sits in test/unit or test/integration', () => {
  const stray = readdirSync(new URL('..', import.meta.url)).filter((name) => name.endsWith('.test.ts'));
  assert.deepEqual(stray, [], `move these to test/unit (no Redis, no long-lived child process) or test/integration: ${stray.join(', ')}`);
});
