import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { getIterationState } from '../../src/bullmq/index.js';
import { listProcesses } from '../../src/supervisor/heartbeat.js';
import { exitedWithin, killAll, numbersIn, range, runCli, startCli, startCliInPty, TEST_TIMEOUT_MS, waitFor } from '../support/process.js';
import { freePort, startOwnRedis } from '../support/redis-server.js';
import { setTimeout as sleep } from 'node:timers/promises';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const MODULE = 'test/fixtures/cli-jobs.mjs';
const dir = mkdtempSync(join(tmpdir(), 'ji-cli-work-'));
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
const queues: Queue[] = [];

after(async () => {
  killAll();
  for (const q of queues) {
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
  }
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

function freshQueue() {
  const queue = new Queue(`ji-work-${randomUUID()}`, { connection: { url: REDIS_URL } });
  queues.push(queue);
  return queue;
}

function work(queue: Queue, flags: string[] = [], env: Record<string, string> = {}) {
  const started = startCli(['work', MODULE, '--queue', queue.name, '--heartbeat-interval', '500', ...flags], env);
  return started;
}

async function enqueueNumbers(queue: Queue, count: number, params: { upTo: number; delayMs: number; stuckAt?: number }) {
  const ids: string[] = [];
  const logs: string[] = [];
  for (let i = 0; i < count; i++) {
    const log = join(dir, `${queue.name}-${i}.log`);
    const result = await runCli(['enqueue', MODULE, '--job', 'numbers', '--queue', queue.name, '--params', JSON.stringify({ ...params, log })]);
    assert.equal(result.code, 0, result.stderr);
    ids.push(result.stdout.trim());
    logs.push(log);
  }
  return { ids, logs };
}

async function workersOf(queue: Queue) {
  return (await listProcesses(redis, queue.name)).filter((p) => p.role === 'worker');
}

/** A job handed back by a stop: waiting in the queue again, with the last item its log shows as its cursor. */
function assertBackInQueue(info: Awaited<ReturnType<typeof states>>[number], log: string) {
  assert.ok(['waiting', 'delayed', 'prioritized'].includes(info.queueState), `job ${info.id} is ${info.queueState}`);
  assert.equal(info.state?.status, 'interrupted');
  assert.equal(info.state?.cursor, numbersIn(log).at(-1), 'saved cursor = last item finished');
}

/** The pids of a process's children (Linux). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Whether a process has trapped its stop signals: SIGQUIT (bit 3 of SigCgt in /proc/<pid>/status) is trapped with
 * TERM and INT, and, unlike those two, is not caught by Node itself from the start.
 */
function trappedStop(pid: number): boolean {
  try {
    const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return mask !== undefined && (BigInt(`0x${mask}`) & (1n << 2n)) !== 0n;
  } catch {
    return false;
  }
}

async function states(queue: Queue, ids: string[]) {
  return Promise.all(ids.map(async (id) => (await getIterationState(queue, id))!));
}

describe('job-iteration work', () => {
  test('TERM to the supervisor: hooks in order in every process, every job back in the queue with its cursor, exit 0 within about one iteration', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const hooks = join(dir, `${queue.name}-hooks.log`);
    const { ids, logs } = await enqueueNumbers(queue, 4, { upTo: 400, delayMs: 20 });
    const sup = work(queue, ['--processes', '2', '--concurrency', '2'], { HOOK_LOG: hooks });
    await waitFor('all 4 jobs running', async () => logs.every((log) => numbersIn(log).length >= 5), 20_000);

    const termAt = performance.now();
    sup.child.kill('SIGTERM');
    const exit = await sup.exited;
    const tookMs = exit.at - termAt;
    assert.equal(exit.code, 0, sup.stderr());
    assert.ok(tookMs < 2000, `supervisor exited ${Math.round(tookMs)} ms after TERM (items take 20 ms)`);
    assert.match(sup.stderr(), /SIGTERM received: running onStop hooks, then stopping 2 worker\(s\)/);
    assert.match(sup.stderr(), /all workers stopped in \d+ ms; exiting 0/);
    assert.equal((sup.stderr().match(/workerStop hook failed \(the other hooks still ran\): Error: flaky hook/g) ?? []).length, 2, 'logged by both workers');

    for (const [i, info] of (await states(queue, ids)).entries()) {
      assertBackInQueue(info, logs[i]!);
      assert.equal(info.state?.timesInterrupted, 1);
    }

    // Hooks: the supervisor's start/stop, and workerStart/workerStop/workerExit in each of the two workers, with
    // the supervisor's stop before any worker's stop.
    const lines = readFileSync(hooks, 'utf8').trim().split('\n').map((l) => l.split(' '));
    const supPid = String(sup.child.pid);
    const byPid = new Map<string, string[]>();
    for (const [pid, hook] of lines) byPid.set(pid!, [...(byPid.get(pid!) ?? []), hook!]);
    assert.deepEqual(byPid.get(supPid), ['start', 'stop']);
    const workers = [...byPid.keys()].filter((p) => p !== supPid);
    assert.equal(workers.length, 2);
    for (const pid of workers) assert.deepEqual(byPid.get(pid), ['workerStart', 'workerStop', 'workerExit']);
    const firstWorkerStop = lines.findIndex(([, hook]) => hook === 'workerStop');
    const supStop = lines.findIndex(([pid, hook]) => pid === supPid && hook === 'stop');
    assert.ok(supStop < firstWorkerStop, 'onStop runs before TERM reaches the workers');
    assert.deepEqual(await listProcesses(redis, queue.name), [], 'heartbeats removed on a clean stop');

    // A new supervisor finishes every job: each item exactly once.
    const second = work(queue, ['--processes', '2', '--concurrency', '2']);
    await waitFor('all jobs completed', async () => (await states(queue, ids)).every((s) => s.queueState === 'completed'), 60_000, 100);
    second.child.kill('SIGTERM');
    assert.equal((await second.exited).code, 0);
    for (const log of logs) assert.deepEqual(numbersIn(log), range(400));
  });

  test('an item that outlasts the shutdown timeout: TERM, then QUIT before the deadline saves its last finished item and hands the job back; exit 0 within the timeout', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids, logs } = await enqueueNumbers(queue, 1, { upTo: 100, delayMs: 5, stuckAt: 20 });
    // No checkpoint after the start: killed at the deadline, the job would lose every item since then.
    const sup = work(queue, ['--shutdown-timeout', '2', '--checkpoint-interval', '600000'], { STUCK: '1' });
    await waitFor('items 0-19 done, item 20 stuck', () => numbersIn(logs[0]!).length === 20, 20_000);
    const termAt = performance.now();
    sup.child.kill('SIGTERM');
    const exit = await sup.exited;
    const tookMs = exit.at - termAt;
    assert.equal(exit.code, 0, sup.stderr());
    assert.ok(tookMs >= 1000 && tookMs < 2000, `exited ${Math.round(tookMs)} ms after TERM: after the 1 s urgent step, before the 2 s timeout`);
    assert.match(sup.stderr(), /SIGTERM received: running onStop hooks, then stopping 1 worker\(s\) \(SIGQUIT after 1 s, SIGKILL at the 2 s shutdown timeout\)/);
    assert.match(sup.stderr(), /still stopping 1 worker\(s\) 1 s after SIGTERM: sending SIGQUIT so they save their last finished item and hand their jobs back now/);
    assert.match(sup.stderr(), /worker\[\d+\] stopped in \d+ ms; 1 job\(s\) returned to the queue; exiting 130/);
    assert.doesNotMatch(sup.stderr(), /killing it/);
    const [info] = await states(queue, ids);
    assertBackInQueue(info!, logs[0]!);
    assert.equal(info!.state?.cursor, 19);

    const second = work(queue);
    await waitFor('job completed', async () => (await states(queue, ids))[0]!.queueState === 'completed', 30_000, 100);
    second.child.kill('SIGTERM');
    assert.equal((await second.exited).code, 0);
    assert.deepEqual(numbersIn(logs[0]!), range(100), 'no item redone: the stuck one was never finished');
  });

  test('a worker that does not even hear QUIT is killed at the timeout (exit 1), and its job completes later from its last checkpoint', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids, logs } = await enqueueNumbers(queue, 1, { upTo: 30, delayMs: 5, stuckAt: 10 });
    const crashFlags = ['--lock-duration', '1000', '--stalled-interval', '500', '--checkpoint-interval', '0'];
    const sup = work(queue, ['--shutdown-timeout', '1', ...crashFlags], { STUCK: 'busy' });
    await waitFor('item 9 done, item 10 stuck', () => numbersIn(logs[0]!).length === 10);
    const termAt = performance.now();
    sup.child.kill('SIGTERM');
    const exit = await sup.exited;
    assert.equal(exit.code, 1, sup.stderr());
    const tookMs = exit.at - termAt;
    assert.ok(tookMs >= 1000 && tookMs < 4000, `killed after ${Math.round(tookMs)} ms for a 1 s timeout`);
    assert.match(sup.stderr(), /still running after the 1 s shutdown timeout: killing it; its jobs resume from their last checkpoint/);
    const [stuck] = await states(queue, ids);
    assert.equal(stuck!.state?.cursor, 9, 'the persisted cursor is the last item finished');

    assert.match(sup.stderr(), /still stopping 1 worker\(s\) 0\.5 s after SIGTERM: sending SIGQUIT/);
    const second = work(queue, crashFlags);
    await waitFor('job completed after stalled recovery', async () => (await states(queue, ids))[0]!.queueState === 'completed', 30_000, 100);
    second.child.kill('SIGTERM');
    await second.exited;
    assert.deepEqual(numbersIn(logs[0]!), range(30));
  });

  test('a second TERM stops at once: no waiting for the slow item in flight, jobs back in the queue from the last finished item', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids, logs } = await enqueueNumbers(queue, 2, { upTo: 100, delayMs: 2500 });
    const sup = work(queue, ['--concurrency', '2']);
    await waitFor('both jobs past their first item', () => logs.every((log) => numbersIn(log).length >= 1), 20_000);
    sup.child.kill('SIGTERM');
    await waitFor('graceful stop begun', () => /SIGTERM received/.test(sup.stderr()));
    const secondAt = performance.now();
    sup.child.kill('SIGTERM');
    const exit = await sup.exited;
    const tookMs = exit.at - secondAt;
    assert.ok(tookMs < 1500, `exited ${Math.round(tookMs)} ms after the second TERM (items take 2.5 s)`);
    assert.equal(exit.code, 0, sup.stderr());
    assert.match(sup.stderr(), /SIGTERM: stopping now; sending SIGQUIT to 1 worker/);
    assert.match(sup.stderr(), /worker\[\d+\] stopped in \d+ ms; 2 job\(s\) returned to the queue; exiting 130/);
    for (const [i, info] of (await states(queue, ids)).entries()) assertBackInQueue(info, logs[i]!);
  });

  test('TERM while the workers are still starting: each worker has already trapped it and exits 0 without taking a job', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids } = await enqueueNumbers(queue, 1, { upTo: 100, delayMs: 5 });
    const sup = work(queue, ['--processes', '2']);
    // The moment each worker's TERM handler is in place (SigCgt in /proc), before its config, modules or Redis.
    const trapped = await waitFor(
      'both workers to trap TERM',
      () => {
        const pids = childrenOf(sup.child.pid!);
        return pids.length === 2 && pids.every(trappedStop) && !/ready \(jobs:/.test(sup.stderr()) ? pids : undefined;
      },
      20_000,
      1,
    );
    sup.child.kill('SIGTERM');
    const exit = await sup.exited;
    assert.equal(exit.code, 0, sup.stderr());
    assert.doesNotMatch(sup.stderr(), /signal SIGTERM/, 'no worker died of the signal itself');
    for (const pid of trapped) {
      assert.match(sup.stderr(), new RegExp(`worker\\[${pid}\\] SIGTERM before start-up finished; exiting 0`));
      assert.match(sup.stderr(), new RegExp(`worker ${pid} exited with code 0`));
    }
    const [info] = await states(queue, ids);
    assert.ok(['waiting', 'prioritized'].includes(info!.queueState), `job is ${info!.queueState}`);
  });

  test('a crashed worker is restarted, and its job resumes from its last checkpoint', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids, logs } = await enqueueNumbers(queue, 1, { upTo: 150, delayMs: 10 });
    const sup = work(queue, ['--lock-duration', '1000', '--stalled-interval', '500', '--checkpoint-interval', '0']);
    await waitFor('20 items done', () => numbersIn(logs[0]!).length >= 20, 20_000);
    const workers = await workersOf(queue);
    assert.equal(workers.length, 1);
    process.kill(workers[0]!.pid, 'SIGKILL');
    await waitFor('restart logged', () => new RegExp(`worker ${workers[0]!.pid} exited unexpectedly with signal SIGKILL .*restarting it in 1 s`).test(sup.stderr()));
    await waitFor('a new worker ready', () => (sup.stderr().match(/ready \(jobs:/g) ?? []).length >= 2, 20_000);
    await waitFor('job completed', async () => (await states(queue, ids))[0]!.queueState === 'completed', 30_000, 100);
    const items = numbersIn(logs[0]!);
    assert.deepEqual([...new Set(items)].sort((a, b) => a - b), range(150), 'every item at least once');
    assert.ok(items.length - 150 <= 1, `at most the item in flight is redone with a 0 ms checkpoint interval; redone ${items.length - 150}`);
    sup.child.kill('SIGTERM');
    assert.equal((await sup.exited).code, 0);
  });

  test('a worker frozen past its lock: the new owner logs the stall, the frozen one reports its lost lock when it stops and exits 1', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids, logs } = await enqueueNumbers(queue, 1, { upTo: 300, delayMs: 10 });
    const fast = ['--lock-duration', '1000', '--stalled-interval', '500', '--checkpoint-interval', '100'];
    const first = work(queue, fast);
    await waitFor('20 items done', () => numbersIn(logs[0]!).length >= 20, 20_000);
    const [frozen] = await workersOf(queue);
    process.kill(frozen!.pid, 'SIGSTOP');
    const second = work(queue, fast);
    await waitFor('the stall logged by the new owner', () => /its previous run ended without an outcome \(stall 1 in all\)/.test(second.stderr()), 20_000);
    process.kill(frozen!.pid, 'SIGCONT');
    await waitFor('the lost lock logged by the frozen worker', () => new RegExp(`worker\\[${frozen!.pid}\\] job ${ids[0]} \\(numbers\\) on "${queue.name}": lock lost`).test(first.stderr()), 10_000);
    first.child.kill('SIGTERM');
    await first.exited;
    assert.match(first.stderr(), new RegExp(`worker\\[${frozen!.pid}\\] stopped in \\d+ ms; 0 job\\(s\\) returned to the queue; 1 job\\(s\\) lost their lock .*; exiting 1`));
    await waitFor('job completed by the new owner', async () => (await states(queue, ids))[0]!.queueState === 'completed', 30_000, 100);
    const [done] = await states(queue, ids);
    assert.equal(done!.state?.timesStalled, 1);
    second.child.kill('SIGTERM');
    assert.equal((await second.exited).code, 0);
  });

  test('TERM straight to one worker process is as clean: its job goes back with its cursor and is finished', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids, logs } = await enqueueNumbers(queue, 1, { upTo: 120, delayMs: 10 });
    const sup = work(queue);
    await waitFor('10 items done', () => numbersIn(logs[0]!).length >= 10, 20_000);
    const [worker] = await workersOf(queue);
    process.kill(worker!.pid, 'SIGTERM');
    await waitFor('the worker stopped cleanly', () => new RegExp(`worker ${worker!.pid} exited unexpectedly with code 0`).test(sup.stderr()));
    assert.match(sup.stderr(), new RegExp(`worker\\[${worker!.pid}\\] stopped in \\d+ ms; 1 job\\(s\\) returned to the queue; exiting 0`));
    await waitFor('job completed by the restarted worker', async () => (await states(queue, ids))[0]!.queueState === 'completed', 30_000, 100);
    assert.deepEqual(numbersIn(logs[0]!), range(120), 'exactly once across the stop');
    const [done] = await states(queue, ids);
    assert.equal(done!.state?.timesInterrupted, 1);
    sup.child.kill('SIGTERM');
    assert.equal((await sup.exited).code, 0);
  });
});

describe('job log lines', () => {
  test('work logs one line per job event, with job id, name and queue: started, interrupted, resumed, completed', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids, logs } = await enqueueNumbers(queue, 1, { upTo: 300, delayMs: 5 });
    const id = ids[0]!;
    const about = `job ${id} \\(numbers\\) on "${queue.name}"`;
    const first = work(queue);
    await waitFor('20 items', () => numbersIn(logs[0]!).length >= 20, 20_000);
    first.child.kill('SIGTERM');
    assert.equal((await first.exited).code, 0, first.stderr());
    assert.match(first.stderr(), new RegExp(`worker\\[\\d+\\] ${about}: started$`, 'm'));
    const stopped = new RegExp(`${about}: interrupted by bullmq \\(worker closing\\) at cursor (\\d+) after (\\d+) items; back in the queue$`, 'm').exec(first.stderr());
    assert.ok(stopped, first.stderr());
    assert.equal(Number(stopped[1]), numbersIn(logs[0]!).at(-1));

    const second = work(queue);
    await waitFor('the job completed', async () => (await states(queue, ids))[0]?.queueState === 'completed', 30_000, 100);
    second.child.kill('SIGTERM');
    assert.equal((await second.exited).code, 0);
    assert.match(second.stderr(), new RegExp(`${about}: resumed after cursor ${stopped[1]} \\(${stopped[2]} items done, interrupted 1 time\\(s\\)\\)$`, 'm'));
    assert.match(second.stderr(), new RegExp(`${about}: completed, 300 items in \\d+\\.\\d s \\(\\d+ items/s\\)$`, 'm'));
  });

  test('--log-format json prints the same events as JSON lines; a failed job says its attempt and the cursor it keeps', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids } = await enqueueNumbers(queue, 1, { upTo: 50, delayMs: 1 });
    const sup = work(queue, ['--log-format', 'json'], { FAIL_AT: '7' });
    await waitFor('the job failed', async () => (await states(queue, ids))[0]?.queueState === 'failed', 30_000, 100);
    sup.child.kill('SIGTERM');
    assert.equal((await sup.exited).code, 0, sup.stderr());
    const lines = sup.stderr().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const line of lines) {
      assert.equal(typeof line.time, 'string');
      assert.ok(line.role === 'supervisor' || line.role === 'worker');
      assert.equal(typeof line.message, 'string');
    }
    const events = lines.filter((l) => l.jobId === ids[0]);
    assert.deepEqual(events.map((e) => e.event), ['started', 'failed']);
    assert.deepEqual(
      { ...events[1], time: undefined, pid: undefined, message: undefined },
      { time: undefined, pid: undefined, message: undefined, role: 'worker', event: 'failed', queue: queue.name, jobId: ids[0], jobName: 'numbers', error: 'item 7 failed', attemptsMade: 1, attempts: 1, retried: false, cursor: 6 },
    );
    assert.match(String(events[1]!.message), /failed \(attempt 1 of 1\): item 7 failed; cursor 6 kept$/);
  });
});

describe('retries', () => {
  test('enqueue --attempts --backoff sets the job\'s retries; retry <id> puts a failed job back to resume after its cursor; retry --all-failed takes every one', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const log = join(dir, `${queue.name}-retry.log`);
    const enqueued = await runCli(['enqueue', MODULE, '--job', 'numbers', '--queue', queue.name, '--params', JSON.stringify({ upTo: 20, delayMs: 1, log }), '--attempts', '1', '--backoff', 'exponential:100']);
    assert.equal(enqueued.code, 0, enqueued.stderr);
    const id = enqueued.stdout.trim();
    const job = await queue.getJob(id);
    assert.equal(job?.opts.attempts, 1);
    assert.deepEqual(job?.opts.backoff, { type: 'exponential', delay: 100 });
    const { ids } = await enqueueNumbers(queue, 1, { upTo: 10, delayMs: 1 });

    const failing = work(queue, [], { FAIL_AT: '7' });
    await waitFor('both jobs failed', async () => (await states(queue, [id, ...ids])).every((s) => s.queueState === 'failed'), 30_000, 100);
    failing.child.kill('SIGTERM');
    assert.equal((await failing.exited).code, 0);

    const one = await runCli(['retry', id, '--queue', queue.name]);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout.trim(), `job ${id}: back in the queue; it resumes after cursor 6`);
    const again = await runCli(['retry', id, '--queue', queue.name]);
    assert.match(again.stdout, new RegExp(`^job ${id} \\((waiting|prioritized)\\): not retried, only a failed job is retried$`, 'm'));
    const all = await runCli(['retry', '--all-failed', '--queue', queue.name]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, new RegExp(`^job ${ids[0]}: back in the queue; it resumes after cursor 6$`, 'm'));
    assert.match(all.stderr, /1 of 1 failed job\(s\) on queue .* back in the queue/);

    const fixed = work(queue);
    await waitFor('both jobs completed', async () => (await states(queue, [id, ...ids])).every((s) => s.queueState === 'completed'), 30_000, 100);
    fixed.child.kill('SIGTERM');
    assert.equal((await fixed.exited).code, 0);
    assert.deepEqual(numbersIn(log), range(20), 'items 0..6 ran once: the retry resumed after the cursor');

    const bad = await runCli(['enqueue', MODULE, '--job', 'numbers', '--queue', queue.name, '--backoff', 'soon']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--backoff must be <ms>, fixed:<ms> or exponential:<ms>; got "soon"/);
    const none = await runCli(['retry', '--queue', queue.name]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /retry takes one job id, or --all-failed; got none/);
  });
});

describe('process-group signals', () => {
  test('Ctrl-C reaching the whole process group (a terminal, systemd) is one graceful stop, not an escalation', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids, logs } = await enqueueNumbers(queue, 2, { upTo: 1000, delayMs: 10 });
    const sup = work(queue, ['--processes', '2']);
    await waitFor('both jobs running', () => logs.every((log) => numbersIn(log).length >= 5), 20_000);
    process.kill(-sup.child.pid!, 'SIGINT'); // the supervisor is the leader of its own group
    const exit = await sup.exited;
    assert.equal(exit.code, 0, sup.stderr());
    assert.equal((sup.stderr().match(/exiting 0/g) ?? []).length, 3, 'both workers and the supervisor exit 0');
    assert.doesNotMatch(sup.stderr(), /stopping now|exiting 130/);
    for (const [i, info] of (await states(queue, ids)).entries()) assertBackInQueue(info, logs[i]!);
  });
  test('a fast double Ctrl-C never leaves the job active: right after the exit it is back in the queue with its cursor, and the next worker takes it at once', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids, logs } = await enqueueNumbers(queue, 1, { upTo: 100_000, delayMs: 100 });
    // Gaps between the two signals, to the whole group as a terminal sends them and to the supervisor alone. Each
    // round's worker is also the check of the round before: it must resume the job at once, not after a stall.
    const rounds: Array<{ gapMs: number; group: boolean }> = [0, 1, 5, 10, 20, 50].flatMap((gapMs, i) => [{ gapMs, group: i % 2 === 0 }, { gapMs, group: i % 2 === 1 }]);
    const problems: string[] = [];
    for (const [round, { gapMs, group }] of rounds.entries()) {
      const before = numbersIn(logs[0]!).length;
      const startedAt = performance.now();
      const sup = work(queue);
      await waitFor(`round ${round}: items again`, () => numbersIn(logs[0]!).length >= before + 2, 20_000, 5);
      const took = performance.now() - startedAt;
      // BullMQ's stalled-job check runs every 30 s: a job left active would come back only after it.
      if (took > 10_000) problems.push(`round ${round}: the job was resumed only ${Math.round(took)} ms after start`);
      const send = () => {
        try {
          process.kill(group ? -sup.child.pid! : sup.child.pid!, 'SIGINT');
        } catch {
          // Already gone: the first signal was enough.
        }
      };
      send();
      if (gapMs > 0) await sleep(gapMs);
      send();
      const exit = await sup.exited;
      const [info] = await states(queue, ids);
      const what = `round ${round} (${group ? 'group' : 'supervisor'}, ${gapMs} ms)`;
      if (!['waiting', 'delayed', 'prioritized'].includes(info!.queueState)) problems.push(`${what}: job ${info!.queueState} after exit ${exit.code}\n${sup.stderr()}`);
      else {
        // An urgent stop saves the last item the engine saw finish; the one in flight may have written its line.
        const last = numbersIn(logs[0]!).at(-1)!;
        const cursor = info!.state?.cursor as number | undefined;
        if (cursor !== last && cursor !== last - 1) problems.push(`${what}: cursor ${cursor}, last item ${last}`);
      }
      if (exit.code !== 0) problems.push(`${what}: exit ${exit.code ?? exit.signal}\n${sup.stderr()}`);
    }
    const before = numbersIn(logs[0]!).length;
    const last = work(queue);
    await waitFor('the last round\'s job taken at once', () => numbersIn(logs[0]!).length > before, 10_000, 5);
    last.child.kill('SIGTERM');
    assert.equal((await last.exited).code, 0);
    assert.deepEqual(problems, []);
  });
});

describe('orphans', () => {
  test('workers whose supervisor is killed stop gracefully on their own, handing their jobs back', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids, logs } = await enqueueNumbers(queue, 1, { upTo: 1000, delayMs: 10 });
    const sup = work(queue);
    await waitFor('running', () => numbersIn(logs[0]!).length >= 5, 20_000);
    const [worker] = await workersOf(queue);
    sup.child.kill('SIGKILL');
    await waitFor('the orphaned worker to exit', () => {
      try {
        process.kill(worker!.pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    const [info] = await states(queue, ids);
    assertBackInQueue(info!, logs[0]!);
  });
});

describe('queue commands', () => {
  test('status lists live processes and iterable jobs; pause, resume and cancel act on a job', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids, logs } = await enqueueNumbers(queue, 1, { upTo: 2000, delayMs: 10 });
    const sup = work(queue);
    await waitFor('a saved cursor', async () => (await states(queue, ids))[0]!.state?.cursor !== undefined, 20_000, 50);
    const status = await runCli(['status', '--queue', queue.name]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /processes alive: 2/);
    assert.match(status.stdout, /supervisor pid \d+/);
    assert.match(status.stdout, new RegExp(`\\n  ${ids[0]}\\s+numbers\\s+running\\s+active\\s+\\d+/2000\\s+\\d+\\.\\d%\\s+\\d+\\s+0`));
    const json = JSON.parse((await runCli(['status', '--queue', queue.name, '--json'])).stdout);
    assert.equal(json.jobs[0].id, ids[0]);
    assert.equal(json.processes.length, 2);

    const paused = await runCli(['pause', ids[0]!, '--queue', queue.name]);
    assert.equal(paused.code, 0, paused.stderr);
    await waitFor('parked', async () => (await states(queue, ids))[0]!.status === 'paused', 10_000, 50);
    const atPause = numbersIn(logs[0]!).length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(numbersIn(logs[0]!).length, atPause, 'a paused job is not picked up');

    assert.equal((await runCli(['resume', ids[0]!, '--queue', queue.name])).code, 0);
    await waitFor('running again', () => numbersIn(logs[0]!).length > atPause + 5, 10_000);

    assert.equal((await runCli(['cancel', ids[0]!, '--queue', queue.name])).code, 0);
    await waitFor('cancelled', async () => (await states(queue, ids))[0]!.status === 'cancelled', 10_000, 50);
    const items = numbersIn(logs[0]!);
    assert.deepEqual(items, range(items.length), 'exactly once, in order, across pause and resume');
    sup.child.kill('SIGTERM');
    assert.equal((await sup.exited).code, 0);
  });
});

const CLOSED_PORT_URL = 'redis://127.0.0.1:<free port>';

describe('Redis outage under work', () => {
  test('one line when Redis goes and one when it comes back, in each process; no stack traces; the job finishes', { timeout: TEST_TIMEOUT_MS }, async () => {
    const own = await startOwnRedis();
    const queue = new Queue(`ji-work-${randomUUID()}`, { connection: { url: own.url } });
    try {
      const log = join(dir, `${queue.name}.log`);
      const enqueued = await runCli(['enqueue', MODULE, '--job', 'numbers', '--queue', queue.name, '--redis', own.url, '--params', JSON.stringify({ upTo: 300, delayMs: 10, log })]);
      assert.equal(enqueued.code, 0, enqueued.stderr);
      const sup = startCli(['work', MODULE, '--queue', queue.name, '--redis', own.url, '--heartbeat-interval', '500']);
      await waitFor('20 items', () => numbersIn(log).length >= 20, 20_000);
      await own.kill();
      await waitFor('the outage logged', () => (sup.stderr().match(/Redis connection lost/g) ?? []).length >= 2, 20_000);
      await sleep(1500);
      await own.start();
      await waitFor('the job completed', () => numbersIn(log).length >= 300, 60_000, 100);
      await waitFor('the return logged', () => (sup.stderr().match(/Redis connection back/g) ?? []).length >= 2, 20_000);
      sup.child.kill('SIGTERM');
      assert.equal((await sup.exited).code, 0, sup.stderr());
      const err = sup.stderr();
      assert.equal((err.match(/supervisor\[\d+\] Redis connection lost/g) ?? []).length, 1, err);
      assert.equal((err.match(/supervisor\[\d+\] Redis connection back/g) ?? []).length, 1, err);
      assert.equal((err.match(/worker\[\d+\] Redis connection lost/g) ?? []).length, 1, err);
      assert.equal((err.match(/worker\[\d+\] Redis connection back/g) ?? []).length, 1, err);
      assert.doesNotMatch(err, /Unhandled error event|^\s+at /m, 'no stack traces');
      assert.deepEqual([...new Set(numbersIn(log))].sort((a, b) => a - b), range(300));
    } finally {
      // A queue whose server is gone would retry for ever and keep the test process alive.
      await queue.disconnect();
      await queue.close().catch(() => undefined);
      await own.destroy();
    }
  });
});

describe('stopping during a Redis outage', () => {
  /** Takes the supervisor's Redis away, waits until both processes have seen it, then TERMs the supervisor. */
  async function termDuringOutage(sup: ReturnType<typeof startCli>, own: { kill(): Promise<void> }) {
    await own.kill();
    await waitFor('the outage seen by both processes', () => (sup.stderr().match(/Redis connection lost/g) ?? []).length >= 2, 20_000);
    const termAt = performance.now();
    sup.child.kill('SIGTERM');
    const exit = await sup.exited;
    return { exit, tookMs: exit.at - termAt };
  }

  test('status --watch says Redis is not answering in place of the report, one line on stderr, no stacks, and Ctrl-C still stops it (exit 0)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const own = await startOwnRedis();
    try {
      const name = `ji-work-${randomUUID()}`;
      const enqueued = await runCli(['enqueue', MODULE, '--job', 'numbers', '--queue', name, '--redis', own.url, '--params', '{"upTo":3}']);
      assert.equal(enqueued.code, 0, enqueued.stderr);
      const watching = startCli(['status', '--watch', '--queue', name, '--redis', own.url]);
      const json = startCli(['status', '--watch', '--json', '--queue', name, '--redis', own.url]);
      await waitFor('reports', () => /waiting 1,/.test(watching.stdout()) && json.stdout().includes('"waiting":1'), 10_000);
      await own.kill();
      await waitFor('the outage said in place of the report', () => /^status failed: no answer from Redis for \d+ s; trying again$/m.test(watching.stdout()), 15_000);
      await waitFor('the outage as JSON', () => /^\{"at":"[^"]+","error":"no answer from Redis for \d+ s"\}$/m.test(json.stdout()), 15_000);
      watching.child.kill('SIGINT');
      json.child.kill('SIGINT');
      assert.equal((await exitedWithin(watching, 10_000, 'status --watch')).code, 0, watching.stderr());
      assert.equal((await exitedWithin(json, 10_000, 'status --watch --json')).code, 0, json.stderr());
      assert.equal((watching.stderr().match(/Redis connection lost/g) ?? []).length, 1, watching.stderr());
      assert.doesNotMatch(watching.stderr() + json.stderr(), /^\s+at |Unhandled error event/m, 'no stack traces');
      for (const line of json.stdout().trim().split('\n')) JSON.parse(line);
    } finally {
      await own.destroy();
    }
  });

  test('an idle work: TERM while Redis is away exits 0 at once, not at the shutdown timeout', { timeout: TEST_TIMEOUT_MS }, async () => {
    const own = await startOwnRedis();
    try {
      const sup = startCli(['work', MODULE, '--queue', `ji-work-${randomUUID()}`, '--redis', own.url, '--heartbeat-interval', '500', '--shutdown-timeout', '20']);
      await waitFor('the worker ready', () => /ready \(jobs:/.test(sup.stderr()), 20_000);
      const { exit, tookMs } = await termDuringOutage(sup, own);
      assert.equal(exit.code, 0, sup.stderr());
      // It used to wait out the worker's close bound (4 s here) and a second on each goodbye to Redis: about 8 s.
      assert.ok(tookMs < 3500, `exited ${Math.round(tookMs)} ms after TERM`);
      assert.match(sup.stderr(), /worker\[\d+\] Redis is unreachable and no job is running: nothing to hand back, so not waiting for Redis/);
      assert.match(sup.stderr(), /worker\[\d+\] stopped in \d+ ms; 0 job\(s\) returned to the queue; exiting 0/);
      assert.match(sup.stderr(), /all workers stopped in \d+ ms; exiting 0/);
    } finally {
      await own.destroy();
    }
  });

  test('a job running: TERM while Redis is away the worker lets the job go after its close bound (a fifth of the timeout) and exits 1; the supervisor exits 0 well within the timeout', { timeout: TEST_TIMEOUT_MS }, async () => {
    const own = await startOwnRedis();
    // No Queue client here: one would keep retrying, with errors, while its server is down.
    const queue = { name: `ji-work-${randomUUID()}` };
    try {
      const log = join(dir, `${queue.name}.log`);
      const enqueued = await runCli(['enqueue', MODULE, '--job', 'numbers', '--queue', queue.name, '--redis', own.url, '--params', JSON.stringify({ upTo: 100_000, delayMs: 10, log })]);
      assert.equal(enqueued.code, 0, enqueued.stderr);
      const sup = startCli(['work', MODULE, '--queue', queue.name, '--redis', own.url, '--heartbeat-interval', '500', '--shutdown-timeout', '20']);
      await waitFor('20 items', () => numbersIn(log).length >= 20, 20_000);
      const { exit, tookMs } = await termDuringOutage(sup, own);
      assert.equal(exit.code, 0, sup.stderr());
      assert.ok(tookMs >= 3900 && tookMs < 6000, `exited ${Math.round(tookMs)} ms after TERM: the 4 s close bound, not the 20 s timeout`);
      assert.match(sup.stderr(), /: not handed back \(Redis unreachable for 4000 ms during close\); it resumes from its last checkpoint once its lock expires/);
      assert.match(sup.stderr(), /worker\[\d+\] stopped in \d+ ms; 0 job\(s\) returned to the queue; 0 job\(s\) lost their lock and 1 could not be handed back .*; exiting 1/);
      assert.doesNotMatch(sup.stderr(), /killing it/);
    } finally {
      await own.destroy();
    }
  });
});

describe('status', () => {
  test('--watch shows the report again every second until Ctrl-C (exit 0): stamped reports in a log, one JSON document per line with --json, a redrawn screen on a terminal', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    await enqueueNumbers(queue, 1, { upTo: 5, delayMs: 5 });
    const plain = startCli(['status', '--queue', queue.name, '--watch']);
    const json = startCli(['status', '--queue', queue.name, '--watch', '--json']);
    const pidFile = join(dir, `watch-${randomUUID()}.pid`);
    const tty = startCliInPty(['status', '--queue', queue.name, '-w'], { columns: 120, pidFile });
    try {
      await waitFor('a first report', () => /waiting 1,/.test(plain.stdout()) && json.stdout().includes('\n'), 10_000);
      // Something changes between reports, and the next one shows it.
      await enqueueNumbers(queue, 1, { upTo: 5, delayMs: 5 });
      await waitFor('a report with the second job', () => /waiting 2,/.test(plain.stdout()) && json.stdout().includes('"waiting":2'), 10_000);
      await waitFor('two reports on the terminal', () => (tty.stdout().match(/\x1b\[H\x1b\[2J/g) ?? []).length >= 2, 10_000);
      plain.child.kill('SIGINT');
      json.child.kill('SIGTERM');
      process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGINT');
      for (const [name, started] of [['plain', plain], ['json', json], ['terminal', tty]] as const) {
        assert.equal((await exitedWithin(started, 10_000, `status --watch (${name})`)).code, 0, started.stderr());
      }
    } finally {
      killAll();
    }
    const stamps = plain.stdout().match(/^--- \d{4}-\d\d-\d\dT[\d:.]+Z {2}\(every 1 s; Ctrl-C to stop\)$/gm) ?? [];
    assert.ok(stamps.length >= 2, plain.stdout());
    const times = stamps.map((line) => Date.parse(line.slice(4, 28)));
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= 900, `a second apart: ${stamps.join(', ')}`);
    const documents = json.stdout().trim().split('\n').map((line) => JSON.parse(line) as { queue: string; counts: Record<string, number> });
    assert.ok(documents.length >= 2 && documents.every((d) => d.queue === queue.name), json.stdout());
    assert.match(tty.stdout(), /\x1b\[H\x1b\[2J\d{4}-[\d-]+T[\d:.]+Z {2}\(every 1 s; Ctrl-C to stop\)/, 'each report replaces the last on a terminal');
    assert.doesNotMatch(tty.stdout(), /^--- /m);
  });

  test('an active job whose worker was killed shows as stalled?, not running, with the age of its last checkpoint', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids, logs } = await enqueueNumbers(queue, 1, { upTo: 2000, delayMs: 10 });
    // A short lock, and a stalled-job check far off, so the job stays active without a lock long enough to look.
    const sup = work(queue, ['--lock-duration', '1000', '--stalled-interval', '60000', '--checkpoint-interval', '100']);
    await waitFor('20 items', () => numbersIn(logs[0]!).length >= 20, 20_000);
    const before = await runCli(['status', '--queue', queue.name]);
    // ATTEMPTS 0, SAVED, ELAPSED, ETA and no ERROR.
    assert.match(before.stdout, new RegExp(`\\n  ${ids[0]}\\s+numbers\\s+running\\s+active\\s+.*\\s+0\\s+\\d+s ago\\s+\\d+s\\s+\\d+[smh]\\s+-\\n`));
    const [worker] = await workersOf(queue);
    process.kill(worker!.pid, 'SIGKILL');
    await sleep(1500);
    const after = await runCli(['status', '--queue', queue.name]);
    assert.equal(after.code, 0, after.stderr);
    assert.match(after.stdout, new RegExp(`\\n  ${ids[0]}\\s+numbers\\s+stalled\\?\\s+active\\s`), after.stdout);
    assert.match(after.stdout, new RegExp(`job ${ids[0]}: active, but no worker holds its lock`));
    sup.child.kill('SIGTERM');
    await sup.exited;
  });

  test('an active job whose worker holds its lock but has saved nothing for longer than a lock lasts shows as stalled?, saying an item is hung or slow', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids, logs } = await enqueueNumbers(queue, 1, { upTo: 100, delayMs: 1, stuckAt: 10 });
    // STUCK=1: item 10 awaits far past any deadline, with the event loop free, so BullMQ keeps renewing the lock.
    const sup = work(queue, ['--lock-duration', '1000', '--checkpoint-interval', '0'], { STUCK: '1' });
    try {
      await waitFor('the item before the stuck one', () => numbersIn(logs[0]!).includes(9), 20_000);
      await sleep(2000);
      const result = await runCli(['status', '--queue', queue.name]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`\\n  ${ids[0]}\\s+numbers\\s+stalled\\?\\s+active\\s`), result.stdout);
      assert.match(result.stdout, new RegExp(`job ${ids[0]}: active, but nothing saved for \\d+s, longer than a lock lasts \\(1s\\) past its checkpoint interval: an item is hung or very slow`), result.stdout);
      assert.doesNotMatch(result.stdout, /no worker holds its lock/, 'its lock is held');
    } finally {
      sup.child.kill('SIGKILL');
      await sup.exited;
      killAll();
    }
  });

  test('a healthy job that checkpoints less often than a lock lasts is running, not stalled?', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids, logs } = await enqueueNumbers(queue, 1, { upTo: 2000, delayMs: 5 });
    const sup = work(queue, ['--lock-duration', '1000', '--checkpoint-interval', '60000']);
    try {
      await waitFor('items', () => numbersIn(logs[0]!).length >= 5, 20_000);
      await sleep(2000);
      const result = await runCli(['status', '--queue', queue.name]);
      assert.match(result.stdout, new RegExp(`\\n  ${ids[0]}\\s+numbers\\s+running\\s+active\\s`), result.stdout);
      assert.doesNotMatch(result.stdout, /stalled\?|nothing saved for/);
    } finally {
      sup.child.kill('SIGTERM');
      await sup.exited;
    }
  });

  test('a queue that does not exist is said to be so, and looking writes nothing to Redis', { timeout: TEST_TIMEOUT_MS }, async () => {
    const name = `ji-work-${randomUUID()}`;
    const result = await runCli(['status', '--queue', name]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^queue "${name}" on redis://[^ ]+: no such queue \\(nothing was ever added to it\\)$`, 'm'));
    assert.deepEqual(await redis.keys(`bull:${name}*`), []);
  });

  test('counts per state, --limit over the whole list, --json with ISO times, and status <id> with params, cursor, error, stack and log', { timeout: TEST_TIMEOUT_MS }, async () => {
    const queue = freshQueue();
    const { ids } = await enqueueNumbers(queue, 3, { upTo: 20, delayMs: 1 });
    const sup = work(queue, [], { FAIL_AT: '9' });
    await waitFor('the jobs failed', async () => (await states(queue, ids)).every((s) => s.queueState === 'failed'), 30_000, 100);
    sup.child.kill('SIGTERM');
    assert.equal((await sup.exited).code, 0);

    const table = await runCli(['status', '--queue', queue.name, '--limit', '2']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^jobs by state: active 0, waiting 0, waiting-children 0, prioritized 0, delayed 0, completed 0, failed 3$/m);
    assert.match(table.stdout, /^iterable jobs: 2 \(first 2; --limit for more\)$/m);
    assert.match(table.stdout, /^ {2}ID +JOB +STATUS +QUEUE STATE +ITEMS +DONE +CURSOR +INTERRUPTED +STALLED +ATTEMPTS +SAVED +ELAPSED +ETA +ERROR$/m);
    assert.match(table.stdout, /^ {2}\S+ +numbers +failed +failed +9\/20 +45\.0% +8 +0 +0 +1 +\d+s ago +\d+s +- +item 9 failed$/m, 'the error, shortened, in its column');

    const json = await runCli(['status', '--queue', queue.name, '--json']);
    const parsed = JSON.parse(json.stdout) as { counts: Record<string, number>; jobs: Array<{ timestamp: string; finishedOn: string }> };
    assert.equal(parsed.counts.failed, 3);
    assert.equal(parsed.jobs.length, 3);
    for (const job of parsed.jobs) {
      assert.match(job.timestamp, /^\d{4}-\d\d-\d\dT/);
      assert.match(job.finishedOn, /^\d{4}-\d\d-\d\dT/);
    }

    const one = await runCli(['status', ids[0]!, '--queue', queue.name]);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, new RegExp(`^job +${ids[0]} \\(numbers\\) on queue "${queue.name}"$`, 'm'));
    assert.match(one.stdout, /^status +failed; BullMQ state failed$/m);
    assert.match(one.stdout, /^params +\{"upTo":20,"delayMs":1,"log":".*"\}$/m);
    assert.match(one.stdout, /^cursor +8$/m);
    assert.match(one.stdout, /^attempts +1 of 1$/m);
    assert.match(one.stdout, /^error +item 9 failed$/m);
    assert.match(one.stdout, /^stack:\nError: item 9 failed\n +at /m);
    assert.match(one.stdout, /^log:\n {2}failed at attempt 1: item 9 failed; cursor 8 kept$/m);

    const missing = await runCli(['status', 'no-such-job', '--queue', queue.name]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, new RegExp(`^job-iteration: no job no-such-job in queue "${queue.name}"$`, 'm'));
  });
});

describe('bad input exits 2 with a one-line error', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['unreachable Redis, naming the URL', ['work', MODULE, '--redis', CLOSED_PORT_URL], /^job-iteration: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ \(from --redis\) after 3 attempts: /m],
    ['unreachable Redis for status', ['status', '--redis', CLOSED_PORT_URL], /^job-iteration: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/m],
    ['unknown flag', ['work', MODULE, '--proceses', '2'], /^job-iteration: work: unknown option '--proceses'$/m],
    ['bad log format', ['work', MODULE, '--log-format', 'xml'], /^job-iteration: --log-format must be text or json; got "xml"$/m],
    ['bad number', ['work', MODULE, '--processes', 'two'], /^job-iteration: --processes must be an integer >= 1; got "two"$/m],
    ['zero shutdown timeout', ['work', MODULE, '--shutdown-timeout', '0'], /^job-iteration: --shutdown-timeout must be at least 0\.1 seconds; got "0"$/m],
    ['missing module', ['work', 'nope.mjs'], /^job-iteration: module not found: nope\.mjs/m],
    ['module without jobs', ['work', 'test/fixtures/no-jobs.mjs'], /exports no IterableJob subclass/],
    ['unknown job for enqueue', ['enqueue', MODULE, '--job', 'nope'], /^job-iteration: unknown job "nope" \(known: letters, numbers\)$/m],
    ['params refused for enqueue', ['enqueue', MODULE, '--job', 'numbers', '--params', '{"upTo":"3"}'], /^job-iteration: Params of job "numbers" are refused: upTo must be an integer >= 0; got "3"$/m],
    ['empty queue name for work', ['work', MODULE, '--queue', ''], /^job-iteration: --queue must not be empty$/m],
    ['queue name with a colon', ['enqueue', MODULE, '--job', 'numbers', '--params', '{"upTo":3}', '--queue', 'a:b'], /^job-iteration: --queue must not contain ":" \(BullMQ's key separator\); got "a:b"$/m],
    ['unsupported URL scheme', ['status', '--redis', 'http://127.0.0.1:6379'], /^job-iteration: --redis is not a redis:\/\/, rediss:\/\/, postgres:\/\/ or postgresql:\/\/ URL: http:\/\/127\.0\.0\.1:6379 /m],
    ['a database number that is not a number', ['status', '--redis', 'redis://127.0.0.1:6379/x'], /^job-iteration: --redis is not a redis:\/\/ or rediss:\/\/ URL: redis:\/\/127\.0\.0\.1:6379\/x /m],
    ['a database Redis does not have', ['work', MODULE, '--redis', 'redis://127.0.0.1:6379/99'], /^job-iteration: --redis names a database Redis does not have: redis:\/\/127\.0\.0\.1:6379\/99 \(Redis says: DB index is out of range\)$/m],
    ['not a URL at all', ['work', MODULE, '--redis', 'localhost'], /^job-iteration: --redis is not a redis:\/\/, rediss:\/\/, postgres:\/\/ or postgresql:\/\/ URL: localhost /m],
    ['params not JSON for enqueue', ['enqueue', MODULE, '--job', 'numbers', '--params', 'upTo=3'], /^job-iteration: --params is not valid JSON/m],
    ['unknown job id', ['cancel', 'no-such-job', '--queue', `ji-work-${randomUUID()}`], /^job-iteration: .*no-such-job/m],
  ];
  for (const [name, args, message] of cases) {
    test(name, { timeout: TEST_TIMEOUT_MS }, async () => {
      // A port found free just now, not a fixed one: something may well listen on any port a test hard-codes.
      const closed = `redis://127.0.0.1:${await freePort()}`;
      const result = await runCli(args.map((arg) => (arg === CLOSED_PORT_URL ? closed : arg)));
      assert.equal(result.code, 2, `${result.stdout}\n${result.stderr}`);
      assert.match(result.stderr, message);
    });
  }
});
