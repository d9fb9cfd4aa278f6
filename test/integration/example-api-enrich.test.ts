import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { killAll, runCli, startCli, TEST_TIMEOUT_MS, waitFor } from '../support/process.js';

const dir = mkdtempSync(join(tmpdir(), 'ji-api-enrich-'));
after(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

const ids = (file: string): number[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { id: number }).id);

test('examples/api-enrich.mjs: 16 calls in flight; Ctrl-C lets them finish and the rerun repeats none', { timeout: TEST_TIMEOUT_MS }, async () => {
  const out = join(dir, 'enriched.jsonl');
  const args = ['run', 'examples/api-enrich.mjs', '--job', 'api-enrich', '--params', JSON.stringify({ out }), '--state', join(dir, 'state.json')];
  const first = startCli(args);
  await waitFor('200 rows', () => {
    try {
      return ids(out).length >= 200;
    } catch {
      return false;
    }
  });
  first.child.kill('SIGINT');
  assert.equal((await first.exited).code, 75, first.stderr());
  const before = ids(out);
  assert.ok(before.length < 1000, 'stopped half-way');
  assert.deepEqual([...before].sort((a, b) => a - b), Array.from({ length: before.length }, (_, i) => i + 1), 'a graceful stop leaves a prefix: every call in flight finished');

  const second = await runCli(args);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /api-enrich: 1000 customers enriched in .* \(0 rows repeated by a crash removed\); up to 16 calls at once in the last run/);
  assert.deepEqual([...ids(out)].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i + 1));
});
