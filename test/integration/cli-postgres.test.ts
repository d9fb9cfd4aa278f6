import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { exitedWithin, killAll, numbersIn, range, runCli, startCli, TEST_TIMEOUT_MS, waitFor } from '../support/process.js';
import { newPool, PG_URL, uniqueName } from '../support/postgres.js';
import { freePort } from '../support/redis-server.js';

// Nothing here may need Redis: REDIS_URL names a closed port, so a command that fell back to it would fail.
const NO_REDIS = { REDIS_URL: 'redis://127.0.0.1:1' };
const MODULE = 'test/fixtures/cli-jobs.mjs';
const dir = mkdtempSync(join(tmpdir(), 'ji-cli-pg-'));
const admin = newPool({ max: 2 });

after(async () => {
  killAll();
  await admin.end();
  rmSync(dir, { recursive: true, force: true });
});

/** A URL on a schema of its own, dropped when the test ends, and a queue name no other test uses. */
function fresh(ctx: TestContext) {
  const schema = uniqueName('cli');
  const url = new URL(PG_URL);
  url.searchParams.set('schema', schema);
  ctx.after(async () => {
    killAll();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });
  return { schema, url: url.toString(), queue: `ji-cli-pg-${randomUUID()}` };
}

function cli(args: string[], env: Record<string, string> = {}) {
  return runCli(args, { ...NO_REDIS, ...env });
}

async function enqueueNumbers(url: string, queue: string, params: { upTo: number; delayMs: number }) {
  const log = join(dir, `${queue}.log`);
  const result = await cli(['enqueue', MODULE, '--job', 'numbers', '--queue', queue, '--connection', url, '--params', JSON.stringify({ ...params, log })]);
  assert.equal(result.code, 0, result.stderr);
  return { id: result.stdout.trim(), log };
}

function work(url: string, queue: string, flags: string[] = []) {
  return startCli(['work', MODULE, '--queue', queue, '--connection', url, '--heartbeat-interval', '300', ...flags], NO_REDIS);
}

interface JobJson {
  id: string;
  status: string;
  queueState: string;
  control?: string;
  state?: { cursor?: number; iterations: number; status: string; timesInterrupted: number; timesStalled: number };
}

async function jobStatus(url: string, queue: string, id: string): Promise<JobJson> {
  const result = await cli(['status', id, '--queue', queue, '--connection', url, '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as JobJson;
}

async function queueStatus(url: string, queue: string) {
  const result = await cli(['status', '--queue', queue, '--connection', url, '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as { exists: boolean; processes: Array<{ role: string; pid: number; supervisorPid?: number }>; jobs: JobJson[]; counts: Record<string, number> };
}

async function schemaExists(schema: string): Promise<boolean> {
  return (await admin.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount === 1;
}

describe('job-iteration on PostgreSQL', () => {
  test('status on a database without the schema exits 2 and points at migrate, creating nothing; migrate creates it, twice is fine', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const { schema, url, queue } = fresh(t);
    for (const args of [['status', '--queue', queue], ['enqueue', MODULE, '--job', 'numbers', '--queue', queue, '--params', '{"upTo":1}'], ['pause', '1', '--queue', queue]]) {
      const refused = await cli([...args, '--connection', url]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, new RegExp(`no up-to-date BullMQ schema "${schema}".*job-iteration migrate --connection`));
      assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack');
    }
    assert.equal(await schemaExists(schema), false, 'looking created nothing');

    const migrated = await cli(['migrate', '--connection', url]);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout, new RegExp(`schema "${schema}" .*BullMQ at version \\d+`));
    const { rows } = await admin.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema]);
    const tables = rows.map((r) => r.table_name as string);
    for (const table of ['job', 'migration', 'job_iteration_state', 'job_iteration_process']) assert.ok(tables.includes(table), `${table} in ${tables.join(', ')}`);
    assert.equal((await cli(['migrate', '--connection', url])).code, 0, 'again: nothing to do');

    const status = await cli(['status', '--queue', queue, '--connection', url]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /no such queue/);
    assert.equal((await admin.query(`SELECT count(*)::int AS n FROM "${schema}".meta`)).rows[0].n, 0, 'looking at a queue writes nothing');

    const redis = await cli(['migrate']);
    assert.equal(redis.code, 2);
    assert.match(redis.stderr, /migrate is for a postgres:\/\/ connection/);
  });

  test('work --migrate on a fresh database runs an enqueued job to completion, every item once; status lists the processes and the job', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const { url, queue } = fresh(t);
    assert.equal((await cli(['migrate', '--connection', url])).code, 0);
    const { id, log } = await enqueueNumbers(url, queue, { upTo: 60, delayMs: 40 });
    const sup = work(url, queue, ['--processes', '2', '--migrate']);
    await waitFor('10 items done', () => numbersIn(log).length >= 10, 20_000);
    const running = await queueStatus(url, queue);
    assert.equal(running.exists, true);
    const supervisors = running.processes.filter((p) => p.role === 'supervisor');
    const workers = running.processes.filter((p) => p.role === 'worker');
    assert.deepEqual(supervisors.map((p) => p.pid), [sup.child.pid]);
    assert.equal(workers.length, 2, JSON.stringify(running.processes));
    assert.ok(workers.every((w) => w.supervisorPid === sup.child.pid));
    assert.deepEqual(running.jobs.map((j) => [j.id, j.queueState]), [[id, 'active']]);
    const table = await cli(['status', '--queue', queue, '--connection', url]);
    assert.match(table.stdout, /processes alive: 3/);
    assert.match(table.stdout, new RegExp(`^\\s+${id}\\s+numbers\\s+running\\s+active`, 'm'));

    await waitFor('job completed', async () => (await jobStatus(url, queue, id)).queueState === 'completed', 30_000, 200);
    assert.deepEqual(numbersIn(log), range(60), 'every item once, in order');
    sup.child.kill('SIGTERM');
    assert.equal((await exitedWithin(sup, 30_000, 'work')).code, 0, sup.stderr());
    assert.doesNotMatch(sup.stderr(), /Redis/, 'nothing on this path speaks of Redis');
    assert.deepEqual((await queueStatus(url, queue)).processes, [], 'heartbeats removed on a clean stop');
  });

  test('TERM to the supervisor mid-run: exit 0, the job back in the queue with its cursor; a new work resumes it and repeats nothing', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const { url, queue } = fresh(t);
    assert.equal((await cli(['migrate', '--connection', url])).code, 0);
    const { id, log } = await enqueueNumbers(url, queue, { upTo: 200, delayMs: 20 });
    const first = work(url, queue);
    await waitFor('20 items done', () => numbersIn(log).length >= 20, 20_000);
    first.child.kill('SIGTERM');
    assert.equal((await exitedWithin(first, 30_000, 'work')).code, 0, first.stderr());
    const done = numbersIn(log);
    assert.ok(done.length < 200, 'stopped mid-run');
    const back = await jobStatus(url, queue, id);
    assert.ok(['waiting', 'prioritized', 'delayed'].includes(back.queueState), back.queueState);
    assert.equal(back.state?.status, 'interrupted');
    assert.equal(back.state?.cursor, done.at(-1), 'saved cursor = last item finished');
    assert.equal(back.state?.timesInterrupted, 1);

    const second = work(url, queue);
    await waitFor('job completed', async () => (await jobStatus(url, queue, id)).queueState === 'completed', 40_000, 200);
    assert.match(second.stderr(), new RegExp(`job ${id} \\(numbers\\) on "${queue}": resumed after cursor ${done.at(-1)}`));
    assert.deepEqual(numbersIn(log), range(200), 'nothing repeated, nothing skipped');
    second.child.kill('SIGTERM');
    assert.equal((await exitedWithin(second, 30_000, 'work')).code, 0, second.stderr());
  });

  test('SIGKILL of a worker: the restarted worker resumes the job from its last checkpoint', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const { url, queue } = fresh(t);
    assert.equal((await cli(['migrate', '--connection', url])).code, 0);
    const { id, log } = await enqueueNumbers(url, queue, { upTo: 150, delayMs: 20 });
    const sup = work(url, queue, ['--lock-duration', '1000', '--stalled-interval', '500', '--checkpoint-interval', '0']);
    await waitFor('20 items done', () => numbersIn(log).length >= 20, 20_000);
    const [worker] = (await queueStatus(url, queue)).processes.filter((p) => p.role === 'worker');
    assert.ok(worker);
    process.kill(worker.pid, 'SIGKILL');
    await waitFor('restart logged', () => new RegExp(`worker ${worker.pid} exited unexpectedly with signal SIGKILL`).test(sup.stderr()));
    await waitFor('job completed', async () => (await jobStatus(url, queue, id)).queueState === 'completed', 40_000, 200);
    const items = numbersIn(log);
    assert.deepEqual([...new Set(items)].sort((a, b) => a - b), range(150), 'every item at least once');
    assert.ok(items.length - 150 <= 1, `at most the item in flight is redone with a 0 ms checkpoint interval; redone ${items.length - 150}`);
    assert.match(sup.stderr(), new RegExp(`job ${id} \\(numbers\\) on "${queue}": (its previous run ended without an outcome|resumed after cursor)`));
    sup.child.kill('SIGTERM');
    assert.equal((await exitedWithin(sup, 30_000, 'work')).code, 0, sup.stderr());
  });

  test('an active job whose worker is gone shows as stalled? in status', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const { url, queue } = fresh(t);
    assert.equal((await cli(['migrate', '--connection', url])).code, 0);
    const { id, log } = await enqueueNumbers(url, queue, { upTo: 500, delayMs: 20 });
    // A long stalled interval: nothing takes the job back before status looks at it.
    const sup = work(url, queue, ['--lock-duration', '1000', '--stalled-interval', '60000']);
    await waitFor('5 items done', () => numbersIn(log).length >= 5, 20_000);
    // The supervisor first, so no worker is restarted; then the worker, so its lock is never renewed.
    const [worker] = (await queueStatus(url, queue)).processes.filter((p) => p.role === 'worker');
    process.kill(sup.child.pid!, 'SIGKILL');
    process.kill(worker!.pid, 'SIGKILL');
    const seen = await waitFor(
      'stalled? in status',
      async () => {
        const out = (await cli(['status', '--queue', queue, '--connection', url])).stdout;
        return /stalled\?/.test(out) ? out : undefined;
      },
      10_000,
      300,
    );
    assert.match(seen, new RegExp(`job ${id}: active, but no worker holds its lock`));
  });

  test('pause, resume and cancel act on a running job', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const { url, queue } = fresh(t);
    assert.equal((await cli(['migrate', '--connection', url])).code, 0);
    const { id, log } = await enqueueNumbers(url, queue, { upTo: 2000, delayMs: 10 });
    const sup = work(url, queue);
    await waitFor('10 items done', () => numbersIn(log).length >= 10, 20_000);

    const paused = await cli(['pause', id, '--queue', queue, '--connection', url]);
    assert.equal(paused.code, 0, paused.stderr);
    assert.match(paused.stdout, new RegExp(`job ${id} \\(active\\): pause requested`));
    await waitFor('job parked', async () => (await jobStatus(url, queue, id)).status === 'paused', 20_000, 200);
    const parkedAt = numbersIn(log).length;

    const resumed = await cli(['resume', id, '--queue', queue, '--connection', url]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`job ${id} \\([a-z-]+\\): (resumed|resume requested)`));
    await waitFor('running again', () => numbersIn(log).length > parkedAt + 5, 20_000);

    const cancelled = await cli(['cancel', id, '--queue', queue, '--connection', url]);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    await waitFor('job cancelled', async () => (await jobStatus(url, queue, id)).status === 'cancelled', 20_000, 200);
    const final = await jobStatus(url, queue, id);
    assert.equal(final.queueState, 'failed');
    const items = numbersIn(log);
    assert.ok(items.length < 2000, 'stopped before the end');
    assert.deepEqual(items, range(items.length), 'nothing repeated across the pause');

    const unknown = await cli(['cancel', 'no-such-job', '--queue', queue, '--connection', url]);
    assert.equal(unknown.code, 2, unknown.stderr);
    sup.child.kill('SIGTERM');
    assert.equal((await exitedWithin(sup, 30_000, 'work')).code, 0, sup.stderr());
  });

  test('retry puts a failed job back to resume after its cursor; status --watch reports every second until Ctrl-C', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const { url, queue } = fresh(t);
    assert.equal((await cli(['migrate', '--connection', url])).code, 0);
    const { id, log } = await enqueueNumbers(url, queue, { upTo: 40, delayMs: 5 });
    const failing = startCli(['work', MODULE, '--queue', queue, '--connection', url, '--checkpoint-interval', '0'], { ...NO_REDIS, FAIL_AT: '12' });
    await waitFor('job failed', async () => (await jobStatus(url, queue, id)).queueState === 'failed', 20_000, 200);
    failing.child.kill('SIGTERM');
    assert.equal((await exitedWithin(failing, 30_000, 'work')).code, 0, failing.stderr());
    assert.deepEqual(numbersIn(log), range(12));

    const retried = await cli(['retry', id, '--queue', queue, '--connection', url]);
    assert.equal(retried.code, 0, retried.stderr);
    assert.match(retried.stdout, new RegExp(`job ${id}: back in the queue; it resumes after cursor 11`));
    const sup = work(url, queue);
    await waitFor('job completed', async () => (await jobStatus(url, queue, id)).queueState === 'completed', 20_000, 200);
    assert.deepEqual(numbersIn(log), range(40), 'resumed after its cursor, nothing repeated');

    const watching = startCli(['status', '--queue', queue, '--connection', url, '--watch', '--json'], NO_REDIS);
    await waitFor('two reports', () => watching.stdout().trim().split('\n').length >= 2, 20_000);
    watching.child.kill('SIGINT');
    assert.equal((await exitedWithin(watching, 10_000, 'status --watch')).code, 0, watching.stderr());
    for (const line of watching.stdout().trim().split('\n')) {
      const report = JSON.parse(line) as { exists: boolean; jobs: JobJson[] };
      assert.equal(report.exists, true);
      assert.deepEqual(report.jobs.map((j) => [j.id, j.queueState]), [[id, 'completed']]);
    }
    assert.equal(watching.stderr(), '');
    sup.child.kill('SIGTERM');
    assert.equal((await exitedWithin(sup, 30_000, 'work')).code, 0, sup.stderr());
  });

  test('bad input: PostgreSQL unreachable, no such database, a bad URL: exit 2 with one line naming the URL, password redacted', { timeout: TEST_TIMEOUT_MS }, async () => {
    const SECRET = 'pg-s3cret-pw';
    const port = await freePort();
    const unreachable = `postgres://app:${SECRET}@127.0.0.1:${port}/app`;
    for (const args of [['status'], ['work', MODULE], ['enqueue', MODULE, '--job', 'numbers', '--params', '{"upTo":1}'], ['migrate'], ['cancel', '1']]) {
      const result = await cli([...args, '--connection', unreachable]);
      assert.equal(result.code, 2, `${args[0]}: ${result.stderr}`);
      assert.ok(!`${result.stdout}${result.stderr}`.includes(SECRET), `${args[0]}: password shown: ${result.stderr}`);
      const lines = result.stderr.trim().split('\n');
      assert.match(lines[0]!, new RegExp(`^job-iteration: cannot reach PostgreSQL at postgres://app:\\*\\*\\*@127\\.0\\.0\\.1:${port}/app \\(from --connection\\) after 3 attempts: .*ECONNREFUSED`));
      assert.match(lines[1] ?? '', /^\(see: job-iteration \w+ --help\)$/);
      assert.equal(lines.length, 2, result.stderr);
    }
    // The older flag name is the same flag.
    const alias = await cli(['status', '--redis', unreachable]);
    assert.equal(alias.code, 2);
    assert.match(alias.stderr, /from --redis/);

    const noDb = new URL(PG_URL);
    noDb.pathname = `/ji_no_such_db_${randomUUID().slice(0, 8)}`;
    noDb.password = SECRET;
    const missing = await cli(['status', '--connection', noDb.toString()]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
    assert.match(missing.stderr, /refused the connection \(database "ji_no_such_db_\w+" does not exist\)/);
    assert.ok(!missing.stderr.includes(SECRET));

    for (const bad of [`mysql://u:${SECRET}@host/db`, `postgres://u:${SECRET}@127.0.0.1/db?schema=no-dashes`]) {
      const result = await cli(['status', '--connection', bad]);
      assert.equal(result.code, 2, result.stderr);
      assert.ok(!result.stderr.includes(SECRET), result.stderr);
      assert.match(result.stderr, /^job-iteration: --connection (is not a redis:\/\/, rediss:\/\/, postgres:\/\/ or postgresql:\/\/ URL|cannot be used)/);
    }
  });
});
