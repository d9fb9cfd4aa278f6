import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { getIterationState } from '../../src/bullmq/index.js';
import { InvalidOptionError } from '../../src/errors.js';
import { redactUrl, redactUrls } from '../../src/redact.js';
import { killAll, numbersIn, runCli, startCli, TEST_TIMEOUT_MS, waitFor } from '../support/process.js';
import { freePort } from '../support/redis-server.js';

const MODULE = 'test/fixtures/cli-jobs.mjs';
// Planted where a leak would show: unique, so no other text can contain it by chance.
const SECRET = `planted-${randomUUID()}`;
const WRONG = `wrong-${randomUUID()}`;
const dir = mkdtempSync(join(tmpdir(), 'ji-cli-secrets-'));
let server: ChildProcess | undefined;
let port = 0;
let url = '';

/** A Redis of this test's own that wants a password, on a port nobody else took. */
async function startPasswordRedis(): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    const dataDir = mkdtempSync(join(dir, 'redis-'));
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--requirepass', SECRET, '--save', '', '--appendonly', 'no', '--dir', dataDir], { stdio: 'ignore' });
    const exited = new Promise<boolean>((resolve) => server!.once('exit', () => resolve(true)));
    const client = new Redis({ port, host: '127.0.0.1', password: SECRET, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    client.on('error', () => undefined);
    const up = await waitFor(
      'the password Redis to answer',
      async () => {
        if (server!.exitCode !== null) return 'exited';
        try {
          await client.connect();
          return (await client.ping()) === 'PONG' ? 'up' : undefined;
        } catch {
          client.disconnect();
          return undefined;
        }
      },
      10_000,
      50,
    );
    client.disconnect();
    if (up === 'up') break;
    await exited;
    // The port was taken between the probe and the start: try another.
    if (attempt === 3) throw new Error('redis-server would not start on a free port');
  }
  url = `redis://:${SECRET}@127.0.0.1:${port}`;
}

const queues: Queue[] = [];
function freshQueue(): Queue {
  const queue = new Queue(`ji-secrets-${randomUUID()}`, { connection: { host: '127.0.0.1', port, password: SECRET } });
  queues.push(queue);
  return queue;
}

before(startPasswordRedis);
after(async () => {
  killAll();
  for (const q of queues) {
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
  }
  server?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Fails naming where the planted password (or the wrong one) showed up. */
function assertNoSecret(where: string, text: string): void {
  for (const secret of [SECRET, WRONG]) {
    assert.ok(!text.includes(secret), `${where} contains a password:\n${text}`);
  }
}

function assertCleanRun(what: string, result: { stdout: string; stderr: string }): void {
  assertNoSecret(`${what}: stdout`, result.stdout);
  assertNoSecret(`${what}: stderr`, result.stderr);
}

/** Every file under `root`, by path. */
function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .map((name) => join(root, name))
    .filter((path) => statSync(path).isFile());
}

describe('passwords in Redis URLs never reach output, files or worker processes', () => {
  test('every command, with the password in --redis or REDIS_URL', { timeout: TEST_TIMEOUT_MS }, async () => {
    const redacted = `redis://:***@127.0.0.1:${port}`;
    const files = mkdtempSync(join(dir, 'files-'));

    // run needs no Redis, but a REDIS_URL in its environment must not leak through it either.
    const runLog = join(files, 'run.log');
    const run = await runCli(['run', MODULE, '--job', 'numbers', '--params', JSON.stringify({ upTo: 5, delayMs: 1, log: runLog }), '--state', join(files, 'run-state.json')], { REDIS_URL: url });
    assert.equal(run.code, 0, run.stderr);
    assertCleanRun('run', run);

    const queue = freshQueue();
    const q = ['--queue', queue.name];
    const logs = [join(files, 'a.log'), join(files, 'b.log')];
    const ids: string[] = [];
    for (const log of logs) {
      // One through the flag, one through the environment.
      const viaFlag = log === logs[0];
      const enqueue = await runCli(
        ['enqueue', MODULE, '--job', 'numbers', ...q, '--params', JSON.stringify({ upTo: 5000, delayMs: 10, log }), ...(viaFlag ? ['--redis', url] : [])],
        viaFlag ? {} : { REDIS_URL: url },
      );
      assert.equal(enqueue.code, 0, enqueue.stderr);
      assertCleanRun('enqueue', enqueue);
      ids.push(enqueue.stdout.trim());
    }

    // The supervisor gets the URL by flag: what a worker inherits from its environment is the caller's business,
    // what the supervisor adds to it is not.
    const sup = startCli(['work', MODULE, ...q, '--redis', url, '--concurrency', '2', '--heartbeat-interval', '500', '--checkpoint-interval', '0']);
    await waitFor('both jobs running', () => logs.every((log) => numbersIn(log).length >= 3), 20_000);
    const workerPids = [...sup.stderr().matchAll(/worker (\d+) ready/g)].map((m) => Number(m[1]));
    assert.equal(workerPids.length, 1, sup.stderr());
    for (const pid of workerPids) {
      assertNoSecret(`/proc/${pid}/environ`, readFileSync(`/proc/${pid}/environ`, 'latin1'));
      assertNoSecret(`/proc/${pid}/cmdline`, readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
    }

    const status = await runCli(['status', ...q, '--redis', url]);
    assert.equal(status.code, 0, status.stderr);
    assertCleanRun('status', status);
    assert.match(status.stdout, new RegExp(`^queue "${queue.name}" on redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}$`, 'm'));
    const json = await runCli(['status', ...q, '--json'], { REDIS_URL: url });
    assert.equal(json.code, 0, json.stderr);
    assertCleanRun('status --json', json);
    assert.equal(JSON.parse(json.stdout).redis, redacted);

    for (const action of ['pause', 'resume', 'cancel']) {
      const result = await runCli([action, ids[0]!, ...q, '--redis', url]);
      assert.equal(result.code, 0, result.stderr);
      assertCleanRun(action, result);
      if (action === 'pause') await waitFor('paused', async () => (await getIterationState(queue, ids[0]!))?.status === 'paused', 10_000, 50);
    }
    await waitFor('cancelled', async () => (await getIterationState(queue, ids[0]!))?.status === 'cancelled', 10_000, 50);

    sup.child.kill('SIGTERM');
    const exit = await sup.exited;
    assert.equal(exit.code, 0, sup.stderr());
    assert.match(sup.stderr(), /1 job\(s\) returned to the queue; exiting 0/, 'job b was running when TERM came');
    assertNoSecret('work: stdout', sup.stdout());
    assertNoSecret('work: stderr', sup.stderr());

    for (const file of filesUnder(files)) assertNoSecret(file, readFileSync(file, 'latin1'));
  });

  test('a malformed URL with a password: exit 2, the URL shown redacted, no stack trace', { timeout: TEST_TIMEOUT_MS }, async () => {
    const malformed = `redis://:${SECRET}@127.0.0.1:notaport`;
    for (const [args, env, source] of [
      [['status', '--redis', malformed], {}, '--redis'],
      [['status', '--json'], { REDIS_URL: malformed }, 'REDIS_URL'],
      [['work', MODULE, '--redis', malformed], {}, '--redis'],
      [['enqueue', MODULE, '--job', 'numbers'], { REDIS_URL: malformed }, 'REDIS_URL'],
      [['cancel', '1', '--redis', malformed], {}, '--redis'],
    ] as const) {
      const result = await runCli([...args], env);
      assert.equal(result.code, 2, result.stderr);
      assertCleanRun(args.join(' '), result);
      assert.match(result.stderr, new RegExp(`^job-iteration: ${source} is not a redis:// or rediss:// URL: redis://:\\*\\*\\*@127\\.0\\.0\\.1:notaport `, 'm'));
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  test('a wrong or missing password: an authentication error (exit 2, one line), not "cannot reach"', { timeout: TEST_TIMEOUT_MS }, async () => {
    const wrong = `redis://:${WRONG}@127.0.0.1:${port}`;
    for (const args of [['status', '--redis', wrong], ['work', MODULE, '--redis', wrong], ['pause', '1', '--redis', wrong]]) {
      const result = await runCli(args);
      assert.equal(result.code, 2, result.stderr);
      assertCleanRun(args.join(' '), result);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(`^job-iteration: Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port} \\(from --redis\\) refused the credentials \\(WRONGPASS [^)]*\\); check the user name and password in --redis\\.\n$`),
      );
    }
    const none = await runCli(['status'], { REDIS_URL: `redis://127.0.0.1:${port}` });
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, new RegExp(`^job-iteration: Redis at redis://127\\.0\\.0\\.1:${port} \\(from REDIS_URL\\) refused the credentials \\(NOAUTH `));
  });

  test('an unreachable URL with a password: "cannot reach", redacted', { timeout: TEST_TIMEOUT_MS }, async () => {
    const nobody = await freePort();
    const result = await runCli(['status', '--redis', `redis://user:${SECRET}@127.0.0.1:${nobody}`]);
    assert.equal(result.code, 2, result.stderr);
    assertCleanRun('status, unreachable', result);
    assert.match(result.stderr, new RegExp(`^job-iteration: cannot reach Redis at redis://user:\\*\\*\\*@127\\.0\\.0\\.1:${nobody} \\(from --redis\\) after 3 attempts: `, 'm'));
  });

  test('library errors quote connection URLs redacted', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { IterationWorker } = await import('../../src/bullmq/index.js');
    const { Counter } = await import('../fixtures/jobs.js');
    assert.throws(
      () => new IterationWorker('q', { jobs: [Counter], connection: `redis://:${SECRET}@127.0.0.1:notaport`, autorun: false, handleSignals: false }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError);
        assertNoSecret('InvalidOptionError message', error.message);
        assert.match(error.message, /"redis:\/\/:\*\*\*@127\.0\.0\.1:notaport"/);
        return true;
      },
    );
    assert.equal(redactUrl('redis://user:p@ss w/rd@host:6379/2'), 'redis://user:***@host:6379/2');
    assert.equal(redactUrls('a redis://:x@h:1 and rediss://u:y@h?password=z&db=1'), 'a redis://:***@h:1 and rediss://u:***@h?password=***&db=1');
    assert.equal(redactUrl('redis://user@host:6379'), 'redis://user@host:6379', 'a user name alone is not a secret');
  });
});
