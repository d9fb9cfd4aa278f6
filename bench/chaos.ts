/**
 * The chaos suite. Long jobs, a poison job, corrupted jobs and a burst of tiny jobs run under `job-iteration work`
 * against a redis-server of the suite's own, while a seeded schedule deploys, double-TERMs, kills workers and
 * whole supervisor groups, SIGSTOPs workers past their lock, and restarts, pauses, freezes and kills Redis, also in
 * the middle of shutdowns. A final supervisor then finishes the work, and the item records in PostgreSQL are
 * checked against the runtime's contract (docs/reliability.md#the-chaos-suite).
 *
 *   npm run chaos -- [--seconds 60] [--seed <n>] [--jobs 12] [--items 3000] [--burst 1000] [--keep]
 *
 * Needs a built dist/ (`npm run build`), redis-server and redis-cli on the PATH, and PostgreSQL
 * (CHAOS_PG_URL, default postgres://postgres@127.0.0.1:5432/test). Exit 0: no breach; 1: a breach; 2: could not run.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { STATE_FIELD } from '../src/store/redis-store.js';
import { analyseJob, boundPerJob, boundsFor, expose, type Fault, type FaultKind, type JobReport } from './chaos/analysis.js';
import { checkCorruption, checkPoison, type FinalJob } from './chaos/checks.js';
import { tryCorrupt, VARIANTS, type Corruption } from './chaos/corrupt.js';
import { Records } from './chaos/records.js';
import { RedisServer } from './chaos/redis-server.js';
import { alive, killGroup, pidsOf, readyOrTimeout, Supervisors, type Supervisor } from './chaos/supervisors.js';
import { prng, within } from './chaos/util.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli/main.js');
const FIXTURE = join(ROOT, 'test/fixtures/chaos-jobs.mjs');

function usage(message: string): never {
  console.error(`chaos: ${message}\nusage: npm run chaos -- [--seconds 60] [--seed <n>] [--jobs 12] [--items 3000] [--burst 1000] [--keep]`);
  process.exit(2);
}
const { values: flags } = (() => {
  try {
    return parseArgs({
      options: {
        seconds: { type: 'string' },
        seed: { type: 'string' },
        jobs: { type: 'string' },
        items: { type: 'string' },
        burst: { type: 'string' },
        keep: { type: 'boolean' },
      },
    });
  } catch (error) {
    return usage((error as Error).message);
  }
})();
function intFlag(name: keyof typeof flags, fallback: number, min: number): number {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) usage(`--${name} must be an integer >= ${min}; got ${JSON.stringify(raw)}`);
  return value;
}

const SECONDS = intFlag('seconds', 60, 0);
const SEED = intFlag('seed', randomInt(1, 2 ** 31 - 1), 0);
const JOBS = intFlag('jobs', 12, 1);
const ITEMS = intFlag('items', 3000, 200);
const BURST = intFlag('burst', 1000, 0);
const KEEP = flags.keep === true;
const ITEM_MS = 2;
const CHECKPOINT_MS = 200;
const LOCK_MS = 2000;
const STALLED_MS = 1000;
const SHUTDOWN_S = 5;
/** IterationWorker's default; `work` has no flag for it. */
const MAX_STALLED = 3;
const POISON_AT = 100;
/** Corrupt jobs have slower items (10 s of work at least), so they still run when their corruption comes due. */
const CORRUPT_ITEMS = Math.max(ITEMS, 1000);
const CORRUPT_ITEM_MS = 10;
const BURST_ITEMS = 5;
/**
 * A run that did an item this shortly before a fault was going when it struck: well over an item plus a checkpoint
 * write, short of the lock expiry and restart it takes before a killed run's job runs again.
 */
const EXPOSURE_MS = 1000;
/** The item in flight at a stop finishes within this (2 ms of work and one insert). */
const IN_FLIGHT_MS = 100;
const SETTLE_MS = 300;
const BOUNDS = boundsFor(CHECKPOINT_MS, ITEM_MS);
const REPRODUCE = `npm run chaos -- --seconds ${SECONDS} --seed ${SEED}` +
  (JOBS !== 12 ? ` --jobs ${JOBS}` : '') + (ITEMS !== 3000 ? ` --items ${ITEMS}` : '') + (BURST !== 1000 ? ` --burst ${BURST}` : '');

const random = prng(SEED);
const between = (lo: number, hi: number) => lo + random() * (hi - lo);
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

const started = Date.now();
const clock = () => `+${((Date.now() - started) / 1000).toFixed(1)}s`;
const say = (line: string) => console.log(`  ${clock().padStart(7)}  ${line}`);

// Everything below is torn down by `teardown`, on every way out: success, breach, error, Ctrl-C.
const logDir = mkdtempSync(join(tmpdir(), 'ji-chaos-'));
let server: RedisServer | undefined;
let records: Records | undefined;
let supervisors: Supervisors | undefined;
let queue: Queue | undefined;
let redis: Redis | undefined;

process.on('exit', () => {
  supervisors?.killAll();
  server?.destroy();
  if (!KEEP) rmSync(logDir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log(`\nchaos: ${signal}: stopping everything it started`);
    void teardown().finally(() => process.exit(130));
  });
}

async function teardown(): Promise<void> {
  supervisors?.killAll();
  redis?.disconnect();
  await within(5000, 'closing the queue', queue?.close() ?? Promise.resolve()).catch(() => undefined);
  await server?.stop();
  if (records && KEEP) console.log(`chaos: records kept in schema ${records.schema} (DROP SCHEMA ${records.schema} CASCADE when done)`);
  else if (records) {
    await within(10_000, 'dropping the schema', records.drop()).catch((error) => console.error(`chaos: ${String(error)}`));
    await within(5000, 'closing the pool', records.close()).catch(() => undefined);
  }
}

interface JobSpec {
  key: string;
  id: string;
  params: { key: string; items: number; delayMs: number; poisonAt?: number };
  role: 'healthy' | 'burst' | 'poison' | 'corrupt';
}

const jobs = new Map<string, JobSpec>();
const faults: Fault[] = [];
const corruptions: Corruption[] = [];
const breaches: string[] = [];
const warnings: string[] = [];
let burstAt: number | undefined;

async function add(key: string, items: number, role: JobSpec['role'], extra: { poisonAt?: number; delayMs?: number } = {}): Promise<void> {
  const params = { key, items, delayMs: extra.delayMs ?? ITEM_MS, ...(extra.poisonAt === undefined ? {} : { poisonAt: extra.poisonAt }) };
  // `{ params }` is what `enqueue()` of job-iteration/bullmq stores.
  const job = await within(10_000, `enqueue ${key}`, queue!.add('chaos-items', { params }));
  jobs.set(key, { key, id: job.id!, params, role });
}

function record(kind: FaultKind, target: string, pids: Iterable<number>): Fault {
  const atMs = Date.now();
  const fault: Fault = { n: faults.length + 1, kind, atMs, untilMs: atMs + IN_FLIGHT_MS, target, pids: new Set(pids), exposed: new Set(), duplicates: 0, redos: 0 };
  faults.push(fault);
  return fault;
}

async function aWorker(sup: Supervisor): Promise<number | undefined> {
  const until = Date.now() + 5000;
  while (Date.now() < until) {
    const pids = [...sup.workers].filter(alive).sort((a, b) => a - b);
    if (pids.length) return pick(pids);
    await sleep(100);
  }
  return undefined;
}

const REDIS_OUTAGES = ['restart', 'pause', 'sleep', 'kill'] as const;
type Outage = (typeof REDIS_OUTAGES)[number];

/** One Redis outage of the given kind; returns once Redis answers again. */
async function outage(kind: Outage): Promise<string> {
  switch (kind) {
    case 'restart': {
      const down = Math.round(between(200, 1500));
      await server!.restart(down);
      return `SHUTDOWN, down ${down} ms`;
    }
    case 'pause': {
      const ms = Math.round(between(500, LOCK_MS + 1500));
      await server!.pause(ms);
      await sleep(ms);
      return `CLIENT PAUSE ${ms} ALL`;
    }
    case 'sleep': {
      const seconds = Math.round(between(0.5, (LOCK_MS + 1500) / 1000) * 10) / 10;
      await server!.freeze(seconds);
      return `DEBUG SLEEP ${seconds}`;
    }
    case 'kill': {
      const down = Math.round(between(200, 1500));
      await server!.crash(down);
      return `kill -9, down ${down} ms`;
    }
  }
}

type Kind = Exclude<FaultKind, 'poison'>;
const KINDS: Kind[] = ['deploy', 'urgent', 'kill-worker', 'kill-group', 'sigstop', 'redis-restart', 'redis-pause', 'redis-sleep', 'redis-kill', 'outage-at-shutdown'];
let deck: Kind[] = [];
/** Every kind once per round, in a seeded order: even a short run meets most of them. */
function nextKind(): Kind {
  if (!deck.length) {
    deck = [...KINDS];
    for (let i = deck.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [deck[i], deck[j]] = [deck[j]!, deck[i]!];
    }
  }
  return deck.pop()!;
}

async function fault(current: Supervisor, kind: Kind): Promise<Supervisor> {
  // A TERM that lands before Node has even loaded the CLI kills it by default: that tests nothing.
  await readyOrTimeout(current);
  const sup = supervisors!;
  switch (kind) {
    case 'deploy': {
      record(kind, `supervisor ${current.pid}`, pidsOf(current));
      current.stoppedAs = 'deploy';
      current.child.kill('SIGTERM');
      await corruptDue(1000);
      const next = sup.start();
      say(`deploy: TERM supervisor ${current.pid}, started ${next.pid}`);
      return next;
    }
    case 'urgent': {
      record(kind, `supervisor ${current.pid}`, pidsOf(current));
      current.stoppedAs = 'urgent';
      current.child.kill('SIGTERM');
      // Close behind the first TERM, so the graceful stop is still under way when the escalation lands.
      await sleep(20);
      current.child.kill('SIGTERM');
      await sleep(SETTLE_MS);
      await corruptDue(1000);
      const next = sup.start();
      say(`urgent: TERM+TERM supervisor ${current.pid}, started ${next.pid}`);
      return next;
    }
    case 'kill-worker':
    case 'sigstop': {
      const pid = await aWorker(current);
      if (pid === undefined) {
        say(`${kind}: skipped, supervisor ${current.pid} has no live worker`);
        return current;
      }
      if (kind === 'kill-worker') {
        record(kind, `worker ${pid}`, [pid]);
        process.kill(pid, 'SIGKILL');
        say(`kill-worker: KILL worker ${pid} of supervisor ${current.pid}`);
        return current;
      }
      // Stopped past its lock: the job is recovered by another worker while this one still believes it owns it.
      const ms = Math.round(between(LOCK_MS + STALLED_MS, LOCK_MS + 3 * STALLED_MS));
      const stop = record(kind, `worker ${pid}`, [pid]);
      process.kill(pid, 'SIGSTOP');
      await sleep(ms);
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // Its supervisor killed it meanwhile (shutdown timeout): nothing left to continue.
      }
      // Once continued, it finishes the item it was in and stops at its lock check, or at a refused checkpoint write
      // or a failed lock renewal. On a loaded machine (the suite runs beside other tests) a continued process can
      // take seconds to get there, and Redis may be frozen by the next fault: its effect lasts two lock durations.
      stop.untilMs = Date.now() + CHECKPOINT_MS + 2 * LOCK_MS;
      say(`sigstop: STOP worker ${pid} of supervisor ${current.pid} for ${ms} ms, then CONT`);
      return current;
    }
    case 'kill-group': {
      record(kind, `supervisor ${current.pid} group`, pidsOf(current));
      current.stoppedAs = 'kill-group';
      killGroup(current.pid);
      await sleep(SETTLE_MS);
      await corruptDue(LOCK_MS + 500);
      const next = sup.start();
      say(`kill-group: KILL -${current.pid}, started ${next.pid}`);
      return next;
    }
    case 'redis-restart':
    case 'redis-pause':
    case 'redis-sleep':
    case 'redis-kill': {
      const what = kind.slice('redis-'.length) as Outage;
      const fault = record(kind, `redis ${what}`, sup.alivePids());
      const how = await outage(what);
      // Runs keep doing items while Redis is away, until a checkpoint write blocks: all of them were hit.
      fault.untilMs = Date.now() + IN_FLIGHT_MS;
      say(`${kind}: ${how}, during runs`);
      return current;
    }
    case 'outage-at-shutdown': {
      const what = pick(REDIS_OUTAGES);
      const fault = record(kind, `supervisor ${current.pid} + redis ${what}`, sup.alivePids());
      current.stoppedAs = 'outage-at-shutdown';
      current.child.kill('SIGTERM');
      await sleep(between(0, 50));
      const how = await outage(what);
      fault.untilMs = Date.now() + IN_FLIGHT_MS;
      await corruptDue(1000);
      // Only now: a supervisor refuses to start while Redis is away.
      const next = sup.start();
      say(`outage-at-shutdown: TERM supervisor ${current.pid}, then redis ${how}; started ${next.pid}`);
      return next;
    }
  }
}

/**
 * Writes every due corruption that can land now, trying for up to `patienceMs` while the job is locked. Faults that
 * replace the supervisor call it between the stop and the start: the one moment a running job is sure to be
 * unlocked (once a killed run's lock has expired).
 */
async function corruptDue(patienceMs: number): Promise<void> {
  for (const c of corruptions) {
    if (c.applied || c.missed || Date.now() < c.dueMs) continue;
    const until = Date.now() + patienceMs;
    const params = jobs.get(c.key)!.params;
    while (!(await within(10_000, 'corrupting', tryCorrupt(redis!, (id) => queue!.toKey(id), c, params)))) {
      if (Date.now() >= until) break;
      await sleep(25);
    }
    // tryCorrupt fills it in; the narrowing from the `continue` above does not know that.
    const applied = c.applied as Corruption['applied'];
    if (applied) say(`corrupt: job ${c.jobId} (${c.key}) data set to ${c.variant} (saved cursor ${applied.cursor ?? 'none'})`);
  }
}

/**
 * Waits for every job to finish or fail. The poison and corrupt jobs get a grace period once the healthy ones are
 * done; a poison job already past its attempt bound, or nothing settling for a while, means waiting longer would
 * only delay the report of what is stuck.
 */
async function waitSettled(deadlineMs: number): Promise<boolean> {
  // The jobs meant to fail. The extra-key job is corrupt only in name: it must complete like a healthy one, so the
  // wait is for it too.
  const special = [...jobs.values()].filter((j) => j.role === 'poison' || (j.role === 'corrupt' && j.key !== 'corrupt-extra-key'));
  const until = Date.now() + deadlineMs;
  let last = '';
  let lastChange = Date.now();
  let healthyDoneAt: number | undefined;
  let lastSettled = -1;
  let lastSettledChange = Date.now();
  while (Date.now() < until) {
    const counts = await within(10_000, 'job counts', queue!.getJobCounts('completed', 'failed'));
    const settled = (counts.completed ?? 0) + (counts.failed ?? 0);
    if (settled >= jobs.size) return true;
    const specialStates = await within(10_000, 'job states', Promise.all(special.map((j) => queue!.getJobState(j.id))));
    const specialSettled = specialStates.filter((s) => s === 'completed' || s === 'failed').length;
    const now = `${settled}/${await within(10_000, 'row count', records!.count())}`;
    if (now !== last) [last, lastChange] = [now, Date.now()];
    if (settled !== lastSettled) [lastSettled, lastSettledChange] = [settled, Date.now()];
    if (settled - specialSettled >= jobs.size - special.length) {
      healthyDoneAt ??= Date.now();
      const poisonDone = specialStates[special.findIndex((j) => j.role === 'poison')] === 'failed' || (await records!.attempts()).length > MAX_STALLED + 2;
      if (Date.now() - healthyDoneAt > 45_000) return false;
      if (poisonDone && Date.now() - lastSettledChange > 15_000) return false;
    } else if (Date.now() - lastChange > 30_000) {
      // Nothing finished and no item done for this long: what is left is stuck, not slow.
      return false;
    }
    await sleep(500);
  }
  return false;
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  server = await RedisServer.start();
  const pgUrl = process.env.CHAOS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  records = new Records(pgUrl, `chaos_${process.pid}_${randomBytes(4).toString('hex')}`);
  await within(15_000, 'creating the schema', records.create());
  const connection = { host: '127.0.0.1', port: server.port, maxRetriesPerRequest: null };
  queue = new Queue('chaos', { connection });
  redis = new Redis({ ...connection });
  // The suite takes its own Redis away on purpose; its clients reconnect, and every call has a deadline.
  queue.on('error', () => undefined);
  redis.on('error', () => undefined);
  const workArgs = [FIXTURE, '--queue', 'chaos', '--redis', server.url, '--processes', '2', '--concurrency', '3', '--shutdown-timeout', String(SHUTDOWN_S)];
  workArgs.push('--lock-duration', String(LOCK_MS), '--stalled-interval', String(STALLED_MS), '--checkpoint-interval', String(CHECKPOINT_MS));
  supervisors = new Supervisors({
    cli: CLI,
    cwd: ROOT,
    args: workArgs,
    env: { CHAOS_PG_URL: pgUrl, CHAOS_PG_SCHEMA: records.schema },
    log: join(logDir, 'supervisors.log'),
    clock,
  });

  console.log(`chaos: seed ${SEED}, ${SECONDS} s of faults, ${JOBS} jobs x ${ITEMS} items of ${ITEM_MS} ms, ${VARIANTS.length} corrupt jobs x ${CORRUPT_ITEMS} of ${CORRUPT_ITEM_MS} ms, 1 poison job (item ${POISON_AT}), burst of ${BURST} x ${BURST_ITEMS}`);
  console.log(`  redis-server :${server.port} (pid ${server.pid}, dir ${server.dir}), postgres schema ${records.schema}, node ${process.version}`);
  console.log(`  work ${workArgs.slice(1).join(' ')}`);

  // Corrupt jobs first, so they have run and saved a cursor by the time their data is corrupted.
  for (const variant of VARIANTS) await add(`corrupt-${variant}`, CORRUPT_ITEMS, 'corrupt', { delayMs: CORRUPT_ITEM_MS });
  await add('poison', ITEMS, 'poison', { poisonAt: POISON_AT });
  for (let i = 0; i < JOBS; i++) await add(`job-${i}`, ITEMS, 'healthy');
  for (const variant of VARIANTS) {
    const job = jobs.get(`corrupt-${variant}`)!;
    corruptions.push({ key: job.key, jobId: job.id, variant, dueMs: started + between(1000, Math.max(1000, Math.min(0.3 * SECONDS * 1000, 10_000))) });
  }
  if (BURST > 0) burstAt = started + between(0.1, 0.6) * SECONDS * 1000;

  let current = supervisors.start();
  const chaosEnd = started + SECONDS * 1000;
  while (true) {
    await sleep(between(300, 1500));
    if (Date.now() >= chaosEnd) break;
    await corruptDue(0);
    if (burstAt !== undefined && Date.now() >= burstAt) {
      burstAt = undefined;
      const bulk = Array.from({ length: BURST }, (_, i) => {
        const key = `burst-${i}`;
        return { name: 'chaos-items', data: { params: { key, items: BURST_ITEMS, delayMs: 1 } } };
      });
      const added = await within(30_000, 'burst', queue.addBulk(bulk));
      added.forEach((job, i) => jobs.set(`burst-${i}`, { key: `burst-${i}`, id: job.id!, params: bulk[i]!.data.params, role: 'burst' }));
      say(`burst: enqueued ${BURST} jobs of ${BURST_ITEMS} items`);
      continue;
    }
    current = await fault(current, nextKind());
  }

  say('faults over: stopping the last supervisor, writing any corruption still due, then a final supervisor');
  await readyOrTimeout(current);
  current.stoppedAs = 'deploy';
  current.child.kill('SIGTERM');
  await within((SHUTDOWN_S + 10) * 1000, `supervisor ${current.pid} exit`, current.exit).catch((e) => warnings.push(String(e)));
  for (const c of corruptions) c.dueMs = Math.min(c.dueMs, Date.now());
  // A killed run's lock outlives it by at most the lock duration.
  await corruptDue(LOCK_MS + 1000);
  for (const c of corruptions) if (!c.applied && !c.missed) c.missed = 'the job stayed locked';
  const final = supervisors.start();
  await readyOrTimeout(final);
  const work = JOBS * ITEMS * (ITEM_MS + 1) + CORRUPT_ITEMS * (CORRUPT_ITEM_MS + 1) + BURST * 20;
  const settled = await waitSettled(60_000 + work);
  say(settled ? 'every job finished or failed' : 'jobs left unsettled: stopping anyway');
  final.stoppedAs = 'final';
  final.child.kill('SIGTERM');
  const finalExit = await within((SHUTDOWN_S + 10) * 1000, 'final supervisor exit', final.exit).catch(() => undefined);
  if (finalExit?.code !== 0) breaches.push(`the final supervisor did not stop cleanly: ${finalExit ? (finalExit.signal ?? `exit ${finalExit.code}`) : 'still running'}`);

  const left = await supervisors.waitAllGone(10_000);
  if (left.length) breaches.push(`processes left in the groups of supervisor(s) ${left.join(', ')}`);
  supervisors.killAll();
  await report(settled);
}

async function report(settled: boolean): Promise<void> {
  const q = queue!;
  const states = new Map<string, FinalJob>();
  for (const spec of jobs.values()) {
    const [state, fields] = await within(10_000, 'job state', Promise.all([q.getJobState(spec.id), redis!.hmget(q.toKey(spec.id), 'failedReason', 'data', STATE_FIELD)]));
    states.set(spec.key, { state, failedReason: fields[0] ?? '', data: fields[1] ?? null, savedState: fields[2] ?? null });
  }
  const activeLeft = await within(10_000, 'active count', q.getActiveCount());
  if (activeLeft) breaches.push(`${activeLeft} job(s) still in active after the final supervisor stopped`);
  // Redis is not needed any more: stopping it now puts its absence in the report.
  redis!.disconnect();
  await within(5000, 'closing the queue', q.close()).catch(() => undefined);
  await server!.stop();
  const redisLeft = server!.pids.filter(alive);
  if (redisLeft.length) breaches.push(`redis-server ${redisLeft.join(', ')} still running after it was stopped`);
  for (const sup of supervisors!.all) {
    const exit = sup.stoppedAs === 'deploy' && sup.exited ? await sup.exit : undefined;
    // The exit code is the supervisor's contract with its process manager, not the jobs' safety: a warning.
    if (exit && exit.code !== 0) warnings.push(`supervisor ${sup.pid}, stopped by one TERM, exited with ${exit.signal ?? `code ${exit.code}`}, expected 0`);
  }

  const rows = await within(120_000, 'loading the records', records!.itemsByJob());
  const attempts = (await records!.attempts()).filter((a) => a.key === 'poison');
  // The poison item's kills are faults too: the other runs on that worker die with it. The kill follows the
  // attempt's own insert: items the other runs finish meanwhile belong to the lost runs too.
  for (const a of attempts) faults.push({ n: 0, kind: 'poison', atMs: a.atMs, untilMs: a.atMs + IN_FLIGHT_MS, target: `worker ${a.pid}`, pids: new Set([a.pid]), exposed: new Set(), duplicates: 0, redos: 0 });
  faults.sort((a, b) => a.atMs - b.atMs);
  expose(faults, rows, (key) => jobs.get(key)?.params.items ?? 0, EXPOSURE_MS);

  const extra = corruptions.find((c) => c.variant === 'extra-key')!;
  const checked = [...jobs.values()].filter((j) => j.role === 'healthy' || j.role === 'burst' || j.key === extra.key);
  const reports: JobReport[] = [];
  let expected = 0;
  const unfinished: string[] = [];
  for (const spec of checked) {
    const r = analyseJob(spec.key, spec.params.items, rows.get(spec.key) ?? [], faults, BOUNDS, EXPOSURE_MS);
    reports.push(r);
    expected += spec.params.items;
    const s = states.get(spec.key)!;
    if (s.state === 'completed' && !r.missing.length) continue;
    const missing = r.missing.length ? `, ${r.missing.length} item(s) never processed (${r.missing.slice(0, 8).join(', ')}${r.missing.length > 8 ? ', ...' : ''})` : '';
    unfinished.push(`${spec.key} (job ${spec.id}) is ${s.state}${s.failedReason ? ` (${s.failedReason.slice(0, 100)})` : ''}${missing}`);
  }
  // A stuck queue leaves hundreds of burst jobs behind: a few examples say as much as all of them.
  if (unfinished.length > 8) breaches.push(`${unfinished.length} healthy jobs not completed with every item, among them: ${unfinished.slice(0, 8).join('; ')}`);
  else breaches.push(...unfinished.map((u) => `${u}, expected completed with every item`));

  for (const c of corruptions) breaches.push(...checkCorruption(c, states.get(c.key)!, rows.get(c.key) ?? [], BOUNDS.crash));
  const ps = states.get('poison')!;
  const cleanStops = faults.filter((f) => (f.kind === 'deploy' || f.kind === 'urgent') && f.exposed.has('poison')).length;
  breaches.push(...checkPoison(jobs.get('poison')!.id, ps, attempts.length, MAX_STALLED, POISON_AT, cleanStops));

  // Duplicates by fault, then by kind.
  const unexplained = reports.flatMap((r) => r.redos.filter((x) => !x.cause).map((x) => ({ key: r.key, ...x })));
  for (const f of faults) {
    const bound = f.exposed.size * boundPerJob(f.kind, BOUNDS);
    if (f.duplicates > bound) breaches.push(`fault ${f.kind} ${f.target} at ${new Date(f.atMs).toISOString()}: ${f.duplicates} duplicates over ${f.redos} redo(s), bound ${bound} (${f.exposed.size} run(s) x ${boundPerJob(f.kind, BOUNDS)})`);
  }
  for (const u of unexplained) breaches.push(`${u.key}: ${u.duplicates} duplicate(s) from ${new Date(u.startMs).toISOString()} that no fault explains (bound 0)`);

  const rowsTotal = reports.reduce((s, r) => s + r.rows, 0);
  const dupTotal = reports.reduce((s, r) => s + r.duplicates, 0);
  const missingTotal = reports.reduce((s, r) => s + r.missing.length, 0);
  console.log('\nchaos summary');
  console.log(`  seed ${SEED}; ${SECONDS} s of faults; wall time ${((Date.now() - started) / 1000).toFixed(1)} s; supervisors started ${supervisors!.all.length}; all jobs settled: ${settled ? 'yes' : 'NO'}`);
  const actions = [`corrupt ${corruptions.filter((c) => c.applied).length} (${corruptions.map((c) => `${c.variant}${c.applied ? '' : ' not applied'}`).join(', ')})`, `burst ${burstAt === undefined && BURST > 0 ? 1 : 0} (${BURST} jobs)`];
  const byKind = [...KINDS, 'poison' as const].map((k) => `${k} ${faults.filter((f) => f.kind === k).length}`);
  console.log(`  faults: ${byKind.join(', ')}; ${actions.join(', ')}`);
  console.log(`  items: ${reports.length} checked jobs (${JOBS} long, ${reports.length - JOBS - 1} burst, 1 extra-key), ${expected} items, ${rowsTotal} processed, ${missingTotal} missing, ${dupTotal} duplicates`);
  console.log(`  duplicates per fault kind (bound = runs hit x per-run bound; ${BOUNDS.itemsPerInterval} items per ${CHECKPOINT_MS} ms checkpoint interval):`);
  console.log(`    ${'kind'.padEnd(19)} ${'faults'.padStart(6)} ${'runs hit'.padStart(8)} ${'duplicates'.padStart(10)} ${'bound'.padStart(7)}  per-run bound`);
  for (const kind of [...KINDS, 'poison' as const]) {
    const list = faults.filter((f) => f.kind === kind);
    const hit = list.reduce((s, f) => s + f.exposed.size, 0);
    const dups = list.reduce((s, f) => s + f.duplicates, 0);
    console.log(`    ${kind.padEnd(19)} ${String(list.length).padStart(6)} ${String(hit).padStart(8)} ${String(dups).padStart(10)} ${String(hit * boundPerJob(kind, BOUNDS)).padStart(7)}  ${boundPerJob(kind, BOUNDS)}`);
  }
  for (const f of faults.filter((x) => x.duplicates > 0)) {
    const at = `+${((f.atMs - started) / 1000).toFixed(1)}s`;
    const hit = [...f.exposed];
    console.log(`      ${at.padStart(7)} ${f.kind} ${f.target}: ${f.duplicates} in ${f.redos} redo(s); ${hit.length} run(s) hit: ${hit.slice(0, 6).join(' ')}${hit.length > 6 ? ' ...' : ''}`);
  }
  console.log(`    ${'no fault'.padEnd(19)} ${''.padStart(6)} ${''.padStart(8)} ${String(unexplained.reduce((s, u) => s + u.duplicates, 0)).padStart(10)} ${'0'.padStart(7)}  0`);
  console.log(`  poison: item ${POISON_AT} attempted ${attempts.length} time(s) (bound ${MAX_STALLED + 2} per clean stretch); job ${ps.state}${ps.failedReason ? `: ${ps.failedReason.slice(0, 100)}` : ''}`);
  for (const c of corruptions) {
    const s = states.get(c.key)!;
    console.log(`  corrupt ${c.variant.padEnd(12)} job ${c.jobId}: ${c.applied ? `written at cursor ${c.applied.cursor ?? 'none'}` : `not written (${c.missed})`}; ${s.state}${s.failedReason ? `: ${s.failedReason.slice(0, 100)}` : ''}`);
  }
  for (const w of warnings) console.log(`  warning: ${w}`);
  for (const b of breaches) console.log(`  BREACH: ${b}`);
  console.log(`  reproduce: ${REPRODUCE}`);
  console.log(`${breaches.length ? 'FAIL' : 'PASS'}: seed ${SEED}, ${faults.length} faults, ${expected} items, ${dupTotal} duplicates, ${breaches.length} breach(es)`);
  if (KEEP) console.log(`supervisor logs kept in ${logDir}`);
}

let code = 2;
try {
  await main();
  code = breaches.length ? 1 : 0;
} catch (error) {
  console.error('chaos: could not complete the run:', error);
} finally {
  await teardown();
}
process.exit(code);
