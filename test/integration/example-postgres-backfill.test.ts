import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { killAll, runCli, startCli, startNode, TEST_TIMEOUT_MS, waitFor } from '../support/process.js';
import { newPool, PG_URL, uniqueName } from '../support/postgres.js';

// The example as a user runs it: its seed script, then the built CLI on its job module, stopped half-way by real
// signals and run again.
const SEED = 'examples/postgres-backfill/seed.mjs';
const JOB = 'examples/postgres-backfill/job.mjs';
const ROWS = 3000;

const dir = mkdtempSync(join(tmpdir(), 'ji-example-pg-'));
const pool = newPool({ max: 2 });
after(async () => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
  await pool.end();
});

test('the PostgreSQL backfill example: interrupted by SIGINT, then SIGTERM, it resumes each time and fills every row exactly once', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
  const table = uniqueName('example_users');
  const counter = `${table}_count`;
  ctx.after(async () => {
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await pool.query(`DROP FUNCTION IF EXISTS ${counter}()`);
  });
  const env = { DATABASE_URL: PG_URL };

  const seed = startNode([SEED, '--table', table, '--rows', String(ROWS)], env);
  const seeded = await waitFor('the seed script to exit', () => seed.child.exitCode !== null || seed.child.signalCode !== null, 20_000).then(() => seed.closed).then(() => seed.exited);
  assert.equal(seeded.code, 0, seed.stderr());
  assert.match(seed.stdout(), new RegExp(`^${table}: ${ROWS} row\\(s\\) added, ${ROWS} in all`, 'm'));

  // The test's own instrument, not the example's: a trigger counting the updates each row receives.
  await pool.query(`
    ALTER TABLE ${table} ADD COLUMN updates int NOT NULL DEFAULT 0;
    CREATE FUNCTION ${counter}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN NEW.updates := OLD.updates + 1; RETURN NEW; END $$;
    CREATE TRIGGER ${counter} BEFORE UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${counter}()`);
  const filled = async () => {
    // The column appears with the job's onStart: until then nothing is filled.
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n FROM ${table} WHERE to_jsonb(${table}) ->> 'email_domain' IS NOT NULL`,
    );
    return rows[0].n as number;
  };

  const state = join(dir, 'state.json');
  const args = ['run', JOB, '--job', 'backfill-email-domains', '--params', JSON.stringify({ table, batchSize: 100, pauseMs: 25 }), '--state', state];
  const stops: Array<[NodeJS.Signals, number]> = [['SIGINT', 600], ['SIGTERM', 1800]];
  for (const [signal, atLeast] of stops) {
    const run = startCli(args, env);
    await waitFor(`${atLeast} rows filled`, async () => (await filled()) >= atLeast, 30_000);
    run.child.kill(signal);
    const exit = await run.exited;
    assert.equal(exit.code, 75, `${signal}: ${run.stderr()}`);
    const saved = JSON.parse(readFileSync(state, 'utf8')).state;
    const done = await filled();
    assert.equal(saved.status, 'interrupted');
    assert.ok(done < ROWS, `stopped half-way (${done} of ${ROWS} rows)`);
    assert.deepEqual(saved.cursor, [done], 'the saved cursor is the last id of the last batch done');
    assert.equal(saved.iterations, done / 100, 'whole batches only');
  }

  const last = await runCli(args, env, 30_000);
  assert.equal(last.code, 0, last.stderr);
  assert.match(last.stderr, /resuming after cursor \[\d+\]/);
  assert.match(last.stdout, new RegExp(`^backfill-email-domains completed: ${ROWS / 100} items, cursor \\[${ROWS}\\]`, 'm'));
  const { rows } = await pool.query(`
    SELECT count(*)::int AS n,
           count(*) FILTER (WHERE email_domain = split_part(email, '@', 2))::int AS right,
           min(updates) AS min, max(updates) AS max
      FROM ${table}`);
  assert.deepEqual(rows[0], { n: ROWS, right: ROWS, min: 1, max: 1 }, 'every row filled, each updated exactly once');
});
