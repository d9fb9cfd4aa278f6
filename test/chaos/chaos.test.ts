import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// A fixed seed replays the same schedule of faults; 20 s of it meets the poison and corrupt jobs, the burst, and
// nine or ten of the ten kinds of fault (how many fit depends on how fast the machine runs them).
const SEED = 42;
const ARGS = ['--seconds', '20', '--seed', String(SEED), '--jobs', '10', '--items', '1000'];

test('chaos suite, bounded: no breach of the reliability contract', { timeout: 300_000 }, async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/chaos.ts', ...ARGS], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  // The suite tears down its own redis-server, processes and schema on SIGTERM; SIGKILL only if even that hangs.
  const watchdog = setTimeout(() => child.kill('SIGTERM'), 270_000);
  const hardStop = setTimeout(() => child.kill('SIGKILL'), 290_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(watchdog);
  clearTimeout(hardStop);

  assert.match(out, /^chaos summary$/m, out);
  assert.match(out, new RegExp(`reproduce: npm run chaos -- --seconds 20 --seed ${SEED} --jobs 10 --items 1000$`, 'm'), out);
  assert.match(out, /^ {2}faults: deploy \d+, urgent \d+, kill-worker \d+, kill-group \d+, sigstop \d+, redis-restart \d+/m, out);
  assert.doesNotMatch(out, /BREACH/, out);
  assert.match(out, new RegExp(`^PASS: seed ${SEED}, \\d+ faults, \\d+ items, \\d+ duplicates, 0 breach\\(es\\)$`, 'm'), out);
  assert.equal(code, 0, out);
});
