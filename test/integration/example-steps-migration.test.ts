import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { exitedWithin, killAll, startCli, startNode, TEST_TIMEOUT_MS, waitFor, type Started } from '../support/process.js';
import { newPool, PG_URL, uniqueName } from '../support/postgres.js';

// The example as a user runs it: its seed script, then the built CLI on its job module, stopped in the middle of a
// step by a real signal and run again.
const SEED = 'examples/steps-migration/seed.mjs';
const JOB = 'examples/steps-migration/job.mjs';
const ROWS = 3000;
const env = { DATABASE_URL: PG_URL };

const dir = mkdtempSync(join(tmpdir(), 'ji-example-steps-'));
const pool = newPool({ max: 2 });
after(async () => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
  await pool.end();
});

/** Waits for the process to exit and for the last of its output. */
async function ended(started: Started, what: string, timeoutMs = 30_000) {
  const { code } = await exitedWithin(started, timeoutMs, what);
  await started.closed;
  return { code, stdout: started.stdout(), stderr: started.stderr() };
}

async function run(args: string[], timeoutMs = 30_000) {
  return ended(startCli(args, env), `job-iteration ${args.join(' ')}`, timeoutMs);
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** What the job printed about its steps. */
const stepLines = (stdout: string) => stdout.split('\n').filter((line) => line.startsWith('step '));

async function seed(ctx: TestContext, rows: number): Promise<string> {
  const table = uniqueName('members');
  ctx.after(async () => {
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await pool.query(`DROP FUNCTION IF EXISTS ${table}_count(), ${table}_meddle()`);
  });
  const seeded = await ended(startNode([SEED, '--table', table, '--rows', String(rows)], env), 'the seed script', 20_000);
  assert.equal(seeded.code, 0, seeded.stderr);
  assert.match(seeded.stdout, new RegExp(`^${table}: ${rows} row\\(s\\) added, ${rows} in all`, 'm'));
  return table;
}

/** The table's columns, sorted: what the steps add and rename. */
async function columnsOf(table: string): Promise<string[]> {
  const { rows } = await pool.query(
    'SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY column_name',
    [table],
  );
  return rows.map((row) => row.column_name as string);
}

test('the column migration example: stopped by SIGTERM in the backfill, it resumes there, updates every row once and swaps the columns', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
  const table = await seed(ctx, ROWS);
  // The test's own instrument, not the example's: a trigger counting the updates each row receives. Only the
  // backfill updates rows; adding and renaming columns does not fire it.
  await pool.query(`
    ALTER TABLE ${table} ADD COLUMN updates int NOT NULL DEFAULT 0;
    CREATE FUNCTION ${table}_count() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN NEW.updates := OLD.updates + 1; RETURN NEW; END $$;
    CREATE TRIGGER ${table}_count BEFORE UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_count()`);
  const filled = async () => {
    // The column appears with the add-column step: until then nothing is filled.
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${table} WHERE to_jsonb(${table}) ->> 'email_normalized' IS NOT NULL`);
    return rows[0].n as number;
  };
  const { rows: before } = await pool.query(`SELECT id, email FROM ${table} ORDER BY id`);
  assert.ok(before.some((row) => row.email !== row.email.trim().toLowerCase()), 'the seed leaves emails to normalise');

  const state = join(dir, `${table}.json`);
  const args = ['run', JOB, '--job', 'migrate-emails', '--params', JSON.stringify({ table, batchSize: 100, pauseMs: 25 }), '--state', state];

  const first = startCli(args, env);
  await waitFor('600 rows filled', async () => (await filled()) >= 600, 30_000);
  first.child.kill('SIGTERM');
  const stopped = await ended(first, 'the first run');
  assert.equal(stopped.code, 75, stopped.stderr);
  const saved = JSON.parse(readFileSync(state, 'utf8')).state;
  const done = await filled();
  assert.equal(saved.status, 'interrupted');
  assert.ok(done < ROWS, `stopped in the backfill (${done} of ${ROWS} rows)`);
  assert.deepEqual(saved.cursor, { step: 'backfill', done: ['add-column'], cursor: [done], items: done / 100 }, 'inside the backfill, after the last id of the last batch done');
  assert.equal(saved.iterations, 1 + done / 100, 'the add-column step and whole batches only');
  assert.deepEqual(await columnsOf(table), ['email', 'email_normalized', 'id', 'updates'], 'not swapped yet');
  assert.deepEqual(stepLines(stopped.stdout), ['step 1/4 add-column started', 'step 1/4 add-column done', 'step 2/4 backfill started']);

  const second = await run(args);
  assert.equal(second.code, 0, second.stderr);
  assert.ok(second.stderr.includes(`resuming after cursor ${JSON.stringify(saved.cursor)}`), second.stderr);
  // Resumed inside the backfill: it is not started again, the steps before it not run again.
  assert.deepEqual(stepLines(second.stdout), [
    'step 2/4 backfill done',
    'step 3/4 verify started',
    'step 3/4 verify done',
    'step 4/4 swap started',
    'step 4/4 swap done',
  ]);
  const cursor = { step: 'swap', done: ['add-column', 'backfill', 'verify', 'swap'] };
  // add-column, the batches, the backfill's end, verify and swap.
  const items = 1 + ROWS / 100 + 1 + 1 + 1;
  assert.match(second.stdout, new RegExp(`^migrate-emails completed: ${items} items, cursor ${escape(JSON.stringify(cursor))}, [\\d.]+ s in 2 run\\(s\\)$`, 'm'));

  assert.deepEqual(await columnsOf(table), ['email', 'email_old', 'id', 'updates'], 'email_normalized swapped in for email');
  const check = async () =>
    (
      await pool.query(`
        SELECT count(*)::int AS n,
               count(*) FILTER (WHERE email = lower(btrim(email_old)))::int AS right,
               count(*) FILTER (WHERE email <> email_old)::int AS changed,
               min(updates) AS min, max(updates) AS max
          FROM ${table}`)
    ).rows[0];
  const migrated = await check();
  const changed = before.filter((row) => row.email !== row.email.trim().toLowerCase()).length;
  assert.deepEqual(migrated, { n: ROWS, right: ROWS, changed, min: 1, max: 1 }, 'every row normalised, each updated exactly once');
  const { rows: kept } = await pool.query(`SELECT id, email_old AS email FROM ${table} ORDER BY id`);
  assert.deepEqual(kept, before, 'email_old holds the emails as they were');
  const nullable = await pool.query(
    `SELECT column_name, is_nullable FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = $1 AND column_name LIKE 'email%' ORDER BY 1`,
    [table],
  );
  assert.deepEqual(nullable.rows, [{ column_name: 'email', is_nullable: 'NO' }, { column_name: 'email_old', is_nullable: 'YES' }]);

  // The same command on the completed state: nothing runs.
  const third = await run(args);
  assert.equal(third.code, 0, third.stderr);
  assert.match(third.stdout, new RegExp(`^migrate-emails already completed at \\S+ \\(${items} items\\); pass --restart to run it again\\.$`, 'm'));
  assert.deepEqual(stepLines(third.stdout), []);
  assert.deepEqual(await check(), migrated);

  // A crash after the swap committed but before its checkpoint: the state still says verify was the last step done
  // and the run never saved an outcome. The swap runs again and finds its work done.
  const file = JSON.parse(readFileSync(state, 'utf8'));
  delete file.state.completedAt;
  file.state = { ...file.state, status: 'running', iterations: items - 1, cursor: { step: 'verify', done: ['add-column', 'backfill', 'verify'] } };
  writeFileSync(state, JSON.stringify(file));
  const again = await run(args);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /the last run ended without saving an outcome/);
  assert.deepEqual(stepLines(again.stdout), ['step 4/4 swap started', 'step 4/4 swap done']);
  assert.deepEqual(await columnsOf(table), ['email', 'email_old', 'id', 'updates']);
  assert.deepEqual(await check(), migrated);
});

test('the column migration example: verify refuses to swap when an email changed behind the backfill, and --restart backfills again', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
  const table = await seed(ctx, 300);
  // Stands in for the application writing while the backfill runs: row 42's email changes as the backfill updates
  // it, so the value it wrote is stale.
  await pool.query(`
    CREATE FUNCTION ${table}_meddle() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN NEW.email := 'Changed42@Example.com'; RETURN NEW; END $$;
    CREATE TRIGGER ${table}_meddle BEFORE UPDATE ON ${table} FOR EACH ROW WHEN (OLD.id = 42) EXECUTE FUNCTION ${table}_meddle()`);
  const state = join(dir, `${table}.json`);
  const args = ['run', JOB, '--job', 'migrate-emails', '--params', JSON.stringify({ table, batchSize: 100, pauseMs: 0 }), '--state', state];

  const refused = await run(args);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, new RegExp(`${table}: 1 row\\(s\\) have an email_normalized that is missing or does not match their email`));
  assert.deepEqual(stepLines(refused.stdout), ['step 1/4 add-column started', 'step 1/4 add-column done', 'step 2/4 backfill started', 'step 2/4 backfill done', 'step 3/4 verify started']);
  const saved = JSON.parse(readFileSync(state, 'utf8')).state;
  assert.equal(saved.status, 'failed');
  assert.deepEqual(saved.cursor, { step: 'backfill', done: ['add-column', 'backfill'] }, 'failed in verify, after the backfill');
  assert.deepEqual(await columnsOf(table), ['email', 'email_normalized', 'id'], 'not swapped');

  await pool.query(`DROP TRIGGER ${table}_meddle ON ${table}`);
  // Retried from verify, the stale row is still there.
  const retried = await run(args);
  assert.equal(retried.code, 1, retried.stderr);
  assert.deepEqual(stepLines(retried.stdout), ['step 3/4 verify started']);

  const restarted = await run([...args, '--restart']);
  assert.equal(restarted.code, 0, restarted.stderr);
  assert.equal(stepLines(restarted.stdout).length, 8, restarted.stdout);
  assert.deepEqual(await columnsOf(table), ['email', 'email_old', 'id']);
  const { rows } = await pool.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE email = lower(btrim(email_old)))::int AS right FROM ${table}`);
  assert.deepEqual(rows[0], { n: 300, right: 300 });
  const { rows: row42 } = await pool.query(`SELECT email, email_old FROM ${table} WHERE id = 42`);
  assert.deepEqual(row42, [{ email: 'changed42@example.com', email_old: 'Changed42@Example.com' }]);
});

test('the column migration example on a PostgreSQL queue with no Redis: work stopped by SIGTERM in the backfill, status and the log name the step, the next work resumes it', { timeout: TEST_TIMEOUT_MS }, async (ctx) => {
  const table = await seed(ctx, ROWS);
  // Statistics, so that the backfill's row estimate is exact and its progress a percent.
  await pool.query(`ANALYZE ${table}`);
  const schema = uniqueName('steps');
  const url = new URL(PG_URL);
  url.searchParams.set('schema', schema);
  const connection = url.toString();
  ctx.after(async () => {
    killAll();
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });
  // Nothing here may need Redis: REDIS_URL names a closed port, so a command that fell back to it would fail.
  const noRedis = { ...env, REDIS_URL: 'redis://127.0.0.1:1' };
  const cli = (args: string[]) => ended(startCli(args, noRedis), `job-iteration ${args.join(' ')}`);
  const queue = `ji-steps-${schema}`;
  const on = ['--queue', queue, '--connection', connection];
  assert.equal((await cli(['migrate', '--connection', connection])).code, 0);
  const enqueued = await cli(['enqueue', JOB, '--job', 'migrate-emails', ...on, '--params', JSON.stringify({ table, batchSize: 100, pauseMs: 250 })]);
  assert.equal(enqueued.code, 0, enqueued.stderr);
  const id = enqueued.stdout.trim();
  const filled = async () => {
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${table} WHERE to_jsonb(${table}) ->> 'email_normalized' IS NOT NULL`);
    return rows[0].n as number;
  };

  const first = startCli(['work', JOB, ...on, '--heartbeat-interval', '300'], noRedis);
  await waitFor('600 rows filled', async () => (await filled()) >= 600, 30_000);
  // Checkpoints come every second: wait for one inside the backfill before looking.
  const listed = await waitFor('status to show the backfill under way', async () => {
    const status = await cli(['status', ...on]);
    return /step 2\/4 backfill: ([1-9]\d?)%/.exec(status.stdout) ? status : undefined;
  }, 20_000);
  assert.equal(listed.code, 0, listed.stderr);
  const one = await cli(['status', id, ...on]);
  assert.match(one.stdout, /^step +step 2\/4 backfill: \d+%$/m);
  first.child.kill('SIGTERM');
  const stopped = await ended(first, 'the first work');
  assert.equal(stopped.code, 0, stopped.stderr);
  const quote = (text: string) => escape(`job ${id} (migrate-emails) on "${queue}": ${text}`);
  assert.match(stopped.stderr, new RegExp(quote('on to step 2/4 backfill')));
  assert.match(stopped.stderr, new RegExp(`${quote('interrupted by ')}.* in step 2/4 backfill: \\d+% at cursor \\{"step":"backfill"`));

  const second = startCli(['work', JOB, ...on, '--heartbeat-interval', '300'], noRedis);
  await waitFor('the migration to complete', async () => {
    const status = await cli(['status', id, ...on, '--json']);
    return (JSON.parse(status.stdout) as { queueState: string }).queueState === 'completed';
  }, 30_000);
  second.child.kill('SIGTERM');
  const resumed = await ended(second, 'the second work');
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`${quote('resumed in step 2/4 backfill: ')}\\d+% after cursor`));
  const steps = resumed.stderr.split('\n').flatMap((line) => /: on to (step .*)$/.exec(line)?.[1] ?? []);
  assert.deepEqual(steps, ['step 3/4 verify', 'step 4/4 swap']);
  assert.deepEqual(stepLines(resumed.stdout), ['step 2/4 backfill done', 'step 3/4 verify started', 'step 3/4 verify done', 'step 4/4 swap started', 'step 4/4 swap done']);
  assert.deepEqual(await columnsOf(table), ['email', 'email_old', 'id'], 'swapped');
  const { rows } = await pool.query(`SELECT count(*)::int AS wrong FROM ${table} WHERE email IS DISTINCT FROM lower(btrim(email_old))`);
  assert.equal(rows[0].wrong, 0);
});
