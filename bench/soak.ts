/**
 * Chaos soak: K jobs of N items run under `job-iteration work` while supervisors and workers are stopped and killed
 * at random (graceful deploys, SIGKILL of one worker, SIGKILL of a whole supervisor group, double TERM). A final
 * supervisor then finishes every job, and the per-job item logs are checked: every item at least once, graceful
 * stops cost nothing, and each crash costs at most one checkpoint interval of items.
 *
 *   npm run soak      (SOAK_JOBS=6 SOAK_ITEMS=3000 SOAK_SECONDS=60 SOAK_SEED=<random>; SOAK_KEEP=1 keeps the logs)
 *
 * Needs a built dist/ (`npm run build`): the CLI and the fixture module load the package from there.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli/main.js');
const FIXTURE = join(ROOT, 'test/fixtures/cli-jobs.mjs');

function envInt(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) {
    console.error(`${name} must be an integer >= ${min}; got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

const JOBS = envInt('SOAK_JOBS', 6, 1);
const ITEMS = envInt('SOAK_ITEMS', 3000, 1);
const SECONDS = envInt('SOAK_SECONDS', 60, 0);
const SEED = envInt('SOAK_SEED', randomInt(1, 2 ** 31 - 1), 0);
const KEEP = process.env.SOAK_KEEP === '1';
const ITEM_MS = 2;
const CHECKPOINT_MS = 200;
const LOCK_MS = 2000;
const STALLED_MS = 1000;
/** Items a crash may cost a job: everything since the last checkpoint (one interval of items), plus the one in flight. */
const CRASH_BOUND = Math.ceil(CHECKPOINT_MS / ITEM_MS) + 1;
/**
 * An urgent stop saves the last finished cursor, but the fixture's item does not watch `ctx.signal`, so the item
 * in flight may still append its line before the process exits: one redone item per active job at most.
 */
const URGENT_BOUND = 1;
/** A killed worker's jobs come back once the lock expires and the stalled checker runs; later stalls are not its. */
const STALL_WINDOW_MS = LOCK_MS + 2 * STALLED_MS + 3000;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisUrl = new URL(REDIS_URL);
const connection = { host: redisUrl.hostname, port: Number(redisUrl.port || 6379) };

/** mulberry32: tiny, seedable, good enough to make a chaos schedule replayable from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(SEED);

type EventKind = 'deploy' | 'kill-worker' | 'kill-group' | 'urgent';
const KINDS: EventKind[] = ['deploy', 'kill-worker', 'kill-group', 'urgent'];

interface Supervisor {
  pid: number;
  child: ChildProcess;
  /** Workers reported ready and not reported exited. */
  workers: Set<number>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: boolean;
  /** Resolves once the supervisor has trapped its signals (it logs "starting" after that), or has exited. */
  ready: Promise<void>;
  /** Its "exiting <code>" line came: a signal after it finds the stop signals untrapped. */
  announcedExit: boolean;
  /** Workers that died of a TERM before they had trapped it (a stop landing during their start-up). */
  workersKilledByTerm: number;
  /** Why the soak stopped it, to judge its exit code. */
  stoppedAs?: 'deploy' | 'urgent' | 'kill-group' | 'final';
}

interface Run {
  token: string;
  iterations: number | undefined;
}

interface ChaosEvent {
  n: number;
  kind: EventKind;
  atMs: number;
  target: string;
  /** Jobs active at the moment of the event (any worker, including runs already dead but not yet recovered). */
  active: string[];
  /** Live runs at the moment of the event: job id to its BullMQ lock token and iterations so far. */
  runs: Map<string, Run>;
  /** Jobs whose run this event killed or stopped urgently: the only ones it may cost duplicates. */
  exposed: Set<string>;
  /**
   * Byte size of each job's log once the event has settled (the stopped runs wrote their last line, no resume has
   * started yet: that takes a lock expiry or a new supervisor). A redo caused by this event starts exactly there.
   */
  logSizeAfter: Map<string, number>;
  duplicates: number;
  redos: number;
}

const started = performance.now();
const elapsed = () => performance.now() - started;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

const queueName = `ji-soak-${randomUUID()}`;
const dir = mkdtempSync(join(tmpdir(), 'ji-soak-'));
const supervisorLog = join(dir, 'supervisors.log');
const supervisors: Supervisor[] = [];
const events: ChaosEvent[] = [];
const stalls: { jobId: string; atMs: number }[] = [];
const failures: { jobId: string; reason: string }[] = [];
const logOf = new Map<string, string>();

const queue = new Queue(queueName, { connection });
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
/**
 * Lock tokens of runs that were killed: BullMQ lists their jobs as active until the stalled checker moves them, and a
 * later kill must not be charged for a run that was already dead.
 */
const deadTokens = new Set<string>();
const queueEvents = new QueueEvents(queueName, { connection });
queueEvents.on('stalled', ({ jobId }) => stalls.push({ jobId, atMs: elapsed() }));
queueEvents.on('failed', ({ jobId, failedReason }) => failures.push({ jobId, reason: failedReason }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function startSupervisor(): Supervisor {
  const args = [CLI, 'work', FIXTURE, '--queue', queueName, '--redis', REDIS_URL, '--processes', '2', '--concurrency', '3'];
  args.push('--lock-duration', String(LOCK_MS), '--stalled-interval', String(STALLED_MS), '--checkpoint-interval', String(CHECKPOINT_MS));
  // Its own process group, so that one kill(-pid) takes the supervisor and its forked workers down together, as a
  // lost machine or an OOM-killed container would.
  const child = spawn(process.execPath, args, { cwd: ROOT, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  if (child.pid === undefined) throw new Error('could not spawn a supervisor');
  let markReady!: () => void;
  const sup: Supervisor = {
    ready: new Promise((resolve) => (markReady = resolve)),
    pid: child.pid,
    child,
    workers: new Set(),
    exited: false,
    announcedExit: false,
    workersKilledByTerm: 0,
    exit: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  void sup.exit.then(() => {
    sup.exited = true;
    markReady();
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    appendFileSync(supervisorLog, `[soak +${secs(elapsed())} sup ${sup.pid}] ${line}\n`);
    if (/supervisor\[\d+\] starting/.test(line)) markReady();
    const ready = /supervisor\[\d+\] worker (\d+) ready/.exec(line);
    if (ready) sup.workers.add(Number(ready[1]));
    const gone = /supervisor\[\d+\] worker (\d+) exited/.exec(line);
    if (gone) sup.workers.delete(Number(gone[1]));
    if (/supervisor\[\d+\] worker \d+ exited with signal SIGTERM/.test(line)) sup.workersKilledByTerm++;
    if (/supervisor\[\d+\] all workers stopped in \d+ ms; exiting/.test(line)) sup.announcedExit = true;
  });
  supervisors.push(sup);
  return sup;
}

async function activeJobIds(): Promise<string[]> {
  const jobs = await queue.getActive();
  return jobs.map((job) => job.id!).sort((a, b) => Number(a) - Number(b));
}

async function readRun(id: string): Promise<Run | undefined> {
  const [token, progress] = await Promise.all([redis.get(queue.toKey(`${id}:lock`)), redis.hget(queue.toKey(id), 'progress')]);
  if (token === null) return undefined;
  let iterations: number | undefined;
  try {
    const parsed = JSON.parse(progress ?? 'null') as { iterations?: unknown } | null;
    if (typeof parsed?.iterations === 'number') iterations = parsed.iterations;
  } catch {
    // A job that has not checkpointed yet has no iteration progress.
  }
  return { token, iterations };
}

/** BullMQ tokens are `<worker id>:<n>`: runs with the same prefix belong to the same worker process. */
const workerOf = (token: string) => token.slice(0, token.lastIndexOf(':'));

async function liveRuns(ids: string[]): Promise<Map<string, Run>> {
  const runs = new Map<string, Run>();
  for (const id of ids) {
    const run = await readRun(id);
    if (run && !deadTokens.has(run.token)) runs.set(id, run);
  }
  return runs;
}

function markDead(event: ChaosEvent, ids: Iterable<string>): void {
  for (const id of ids) {
    event.exposed.add(id);
    deadTokens.add(event.runs.get(id)!.token);
  }
}

function logSizes(): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const [id, file] of logOf) sizes.set(id, existsSync(file) ? statSync(file).size : 0);
  return sizes;
}

async function record(kind: EventKind, target: string): Promise<ChaosEvent> {
  const active = await activeJobIds();
  const event: ChaosEvent = {
    n: events.length + 1,
    kind,
    atMs: elapsed(),
    target,
    active,
    runs: await liveRuns(active),
    exposed: new Set(),
    logSizeAfter: new Map(),
    duplicates: 0,
    redos: 0,
  };
  events.push(event);
  return event;
}

/** Sends SIGKILL to a process group we spawned, if anything of it is left. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is gone already.
  }
}

/** Well under the ~1 s a kill's jobs need to come back (lock expiry) and an urgent stop's (a new supervisor). */
const SETTLE_MS = 300;

async function settle(event: ChaosEvent, sinceMs: number): Promise<void> {
  await sleep(Math.max(0, SETTLE_MS - (elapsed() - sinceMs)));
  event.logSizeAfter = logSizes();
}

async function chaos(current: Supervisor, kind: EventKind): Promise<Supervisor> {
  // A TERM that lands before Node has even loaded the CLI kills the process by default: that tests nothing.
  await Promise.race([current.ready, sleep(10_000)]);
  switch (kind) {
    case 'deploy': {
      const event = await record(kind, `supervisor ${current.pid}`);
      current.stoppedAs = 'deploy';
      current.child.kill('SIGTERM');
      // A rolling deploy: the new supervisor starts while the old one hands its jobs back.
      const next = startSupervisor();
      console.log(`  ${secs(event.atMs).padStart(6)}  #${event.n} deploy: TERM supervisor ${current.pid}, started ${next.pid} (active jobs ${event.active.join(',') || '-'})`);
      return next;
    }
    case 'kill-worker': {
      const pids = [...current.workers].filter(alive);
      const pid = pids[Math.floor(random() * pids.length)]!;
      const event = await record(kind, `worker ${pid}`);
      process.kill(pid, 'SIGKILL');
      // Which runs were on the killed worker: a live worker checkpoints every CHECKPOINT_MS, a dead one never
      // again, and its lock keeps the same token until the lock expires. The baseline is read after the kill: a
      // checkpoint landing between a pre-kill read and the kill would make a dead run look alive, and a job picked
      // up in between would be missed.
      event.runs = await liveRuns(await activeJobIds());
      await sleep(Math.min(LOCK_MS / 2, CHECKPOINT_MS * 2.5));
      const stillByWorker = new Map<string, boolean>();
      for (const [id, before] of event.runs) {
        const after = await readRun(id);
        const frozen = after?.token === before.token && after.iterations === before.iterations;
        const worker = workerOf(before.token);
        stillByWorker.set(worker, (stillByWorker.get(worker) ?? true) && frozen);
      }
      markDead(event, [...event.runs].filter(([, run]) => stillByWorker.get(workerOf(run.token))).map(([id]) => id));
      event.logSizeAfter = logSizes();
      console.log(`  ${secs(event.atMs).padStart(6)}  #${event.n} kill-worker: KILL worker ${pid} of supervisor ${current.pid} (active jobs ${event.active.join(',') || '-'})`);
      return current;
    }
    case 'kill-group': {
      const event = await record(kind, `supervisor ${current.pid} group`);
      current.stoppedAs = 'kill-group';
      killGroup(current.pid);
      // Read again after the kill: a job the group picked up after the first read died with it too.
      event.runs = new Map([...event.runs, ...(await liveRuns(await activeJobIds()))]);
      await settle(event, elapsed());
      // Every run there is exposed: nothing of the group survives to hand anything back.
      markDead(event, event.runs.keys());
      const next = startSupervisor();
      console.log(`  ${secs(event.atMs).padStart(6)}  #${event.n} kill-group: KILL -${current.pid}, started ${next.pid} (active jobs ${event.active.join(',') || '-'})`);
      return next;
    }
    case 'urgent': {
      const event = await record(kind, `supervisor ${current.pid}`);
      current.stoppedAs = 'urgent';
      current.child.kill('SIGTERM');
      // Close enough behind the first TERM that the graceful stop is still in flight when the escalation lands; the
      // read in between catches jobs picked up since the first one.
      const [runs] = await Promise.all([liveRuns(await activeJobIds()), sleep(20)]);
      event.runs = new Map([...event.runs, ...runs]);
      for (const id of event.runs.keys()) event.exposed.add(id);
      current.child.kill('SIGTERM');
      await settle(event, elapsed());
      const next = startSupervisor();
      console.log(`  ${secs(event.atMs).padStart(6)}  #${event.n} urgent: TERM+TERM supervisor ${current.pid}, started ${next.pid} (active jobs ${event.active.join(',') || '-'})`);
      return next;
    }
  }
}

function pickKind(current: Supervisor): EventKind {
  const canKillWorker = [...current.workers].some(alive);
  const kinds = canKillWorker ? KINDS : KINDS.filter((k) => k !== 'kill-worker');
  return kinds[Math.floor(random() * kinds.length)]!;
}

function enqueue(upTo: number, log: string): string {
  const params = JSON.stringify({ upTo, delayMs: ITEM_MS, log });
  const result = spawnSync(process.execPath, [CLI, 'enqueue', FIXTURE, '--job', 'numbers', '--params', params, '--queue', queueName, '--redis', REDIS_URL], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`enqueue failed (exit ${result.status}): ${result.stderr}`);
  return result.stdout.trim();
}

interface JobReport {
  id: string;
  state: string;
  lines: number;
  missing: number[];
  duplicates: number;
  /** Each resume that redid items: where it started in the log (bytes) and how many items it redid. */
  redos: { offset: number; duplicates: number }[];
}

/** Reads a job's log as written by one worker at a time: a resume behind the highest item so far is a redo. */
function analyse(id: string, state: string): JobReport {
  const file = logOf.get(id)!;
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const seen = new Uint32Array(ITEMS);
  const redos: JobReport['redos'] = [];
  let offset = 0;
  let highest = -1;
  let lastItem = -1;
  let lines = 0;
  let current: JobReport['redos'][number] | undefined;
  for (const line of text.split('\n')) {
    const lineStart = offset;
    offset += Buffer.byteLength(line) + 1;
    if (line === '') continue;
    const item = Number(line);
    lines++;
    if (!Number.isInteger(item) || item < 0 || item >= ITEMS) throw new Error(`job ${id}: unexpected log line ${JSON.stringify(line)}`);
    if (item > highest) {
      highest = item;
      current = undefined;
    } else if (current === undefined || item !== lastItem + 1) {
      // A resume redoes items in order from its cursor; any other step back is another resume.
      current = { offset: lineStart, duplicates: 0 };
      redos.push(current);
    }
    if (seen[item]! > 0) current!.duplicates++;
    seen[item]!++;
    lastItem = item;
  }
  const missing: number[] = [];
  for (let i = 0; i < ITEMS; i++) if (seen[i] === 0) missing.push(i);
  const duplicates = redos.reduce((sum, r) => sum + r.duplicates, 0);
  return { id, state, lines, missing, duplicates, redos: redos.filter((r) => r.duplicates > 0) };
}
async function waitForAll(deadlineMs: number): Promise<boolean> {
  const until = performance.now() + deadlineMs;
  while (performance.now() < until) {
    const counts = await queue.getJobCounts('completed', 'failed');
    if ((counts.completed ?? 0) + (counts.failed ?? 0) >= JOBS) return true;
    await sleep(250);
  }
  return false;
}

async function cleanup(): Promise<void> {
  for (const sup of supervisors) {
    const leftovers = !sup.exited || [...sup.workers].some(alive);
    if (leftovers) killGroup(sup.pid);
  }
  await queueEvents.close().catch(() => undefined);
  // Obliterate leaves the supervisors' heartbeat keys; killed processes' keys would linger until they expire.
  const heartbeats = await redis.keys(`job-iteration:{${queueName}}:process:*`).catch(() => [] as string[]);
  if (heartbeats.length) await redis.del(...heartbeats).catch(() => undefined);
  redis.disconnect();
  await queue.obliterate({ force: true }).catch((error) => console.error(`obliterate failed: ${String(error)}`));
  await queue.close().catch(() => undefined);
  if (KEEP) console.log(`logs kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<boolean> {
  if (!existsSync(CLI)) {
    console.error(`${CLI} is missing: run \`npm run build\` first`);
    return false;
  }
  console.log(`soak: queue ${queueName}, seed ${SEED}, ${JOBS} jobs x ${ITEMS} items of ${ITEM_MS} ms, ${SECONDS} s of chaos, node ${process.version}`);
  console.log(`  work --processes 2 --concurrency 3 --lock-duration ${LOCK_MS} --stalled-interval ${STALLED_MS} --checkpoint-interval ${CHECKPOINT_MS}`);
  await queueEvents.waitUntilReady();
  for (let i = 0; i < JOBS; i++) {
    const log = join(dir, `job-${i}.log`);
    const id = enqueue(ITEMS, log);
    logOf.set(id, log);
  }
  console.log(`  enqueued jobs ${[...logOf.keys()].join(', ')}`);

  let current = startSupervisor();
  const chaosEnd = performance.now() + SECONDS * 1000;
  while (true) {
    await sleep(500 + random() * 2500);
    if (performance.now() >= chaosEnd) break;
    current = await chaos(current, pickKind(current));
  }

  // The last chaos supervisor may be mid-backoff after worker kills; a fresh one finishes the run at full speed.
  console.log(`  ${secs(elapsed()).padStart(6)}  chaos over: deploy to a final supervisor and wait for every job`);
  await Promise.race([current.ready, sleep(10_000)]);
  current.stoppedAs = 'deploy';
  current.child.kill('SIGTERM');
  const final = startSupervisor();
  await Promise.race([final.ready, sleep(10_000)]);
  const deadlineMs = 120_000 + (JOBS * ITEMS * ITEM_MS * 4) / 6;
  const settled = await waitForAll(deadlineMs);
  const drainMs = elapsed();
  final.stoppedAs = 'final';
  final.child.kill('SIGTERM');
  await Promise.race([final.exit, sleep(10_000)]);
  // Stalls show up after the lock expires; give the last kills' stalls time to be seen before attributing them.
  await sleep(500);

  const reports: JobReport[] = [];
  for (const id of logOf.keys()) reports.push(analyse(id, await queue.getJobState(id)));

  // Only a killed run should ever stall: the lock of a run that hands itself back is released, not left to expire.
  const unexplainedStalls = stalls.filter(
    (stall) =>
      !events.some(
        (e) => (e.kind === 'kill-worker' || e.kind === 'kill-group') && e.atMs <= stall.atMs && stall.atMs - e.atMs <= STALL_WINDOW_MS && e.exposed.has(stall.jobId),
      ),
  );

  // A redo is charged to the event after which the job's log stood exactly where the redo starts. When several
  // did (a resumed run killed again before writing anything), the earliest one lost the work.
  const unexplainedRedos: { id: string; offset: number; duplicates: number }[] = [];
  for (const report of reports) {
    const used = new Set<ChaosEvent>();
    for (const redo of report.redos) {
      const cause = [...events]
        .find((e) => !used.has(e) && e.exposed.has(report.id) && e.logSizeAfter.get(report.id) === redo.offset);
      if (!cause) {
        unexplainedRedos.push({ id: report.id, ...redo });
        continue;
      }
      used.add(cause);
      cause.duplicates += redo.duplicates;
      cause.redos++;
    }
  }

  const problems: string[] = [];
  const count = (kind: EventKind) => events.filter((e) => e.kind === kind).length;
  const totalDuplicates = reports.reduce((sum, r) => sum + r.duplicates, 0);
  const crashEvents = events.filter((e) => e.kind === 'kill-worker' || e.kind === 'kill-group');
  const urgentEvents = events.filter((e) => e.kind === 'urgent');
  const crashDuplicates = crashEvents.reduce((sum, e) => sum + e.duplicates, 0);
  const urgentDuplicates = urgentEvents.reduce((sum, e) => sum + e.duplicates, 0);
  const crashExposures = crashEvents.reduce((sum, e) => sum + e.exposed.size, 0);
  const perRedo = reports.flatMap((r) => r.redos.map((redo) => redo.duplicates));

  console.log('');
  console.log(`events: ${events.length} (deploy ${count('deploy')}, kill-worker ${count('kill-worker')}, kill-group ${count('kill-group')}, urgent ${count('urgent')}); supervisors started ${supervisors.length}`);
  console.log(`stalled jobs reported by BullMQ: ${stalls.length} (${unexplainedStalls.length} not after a kill)`);
  console.log('jobs:');
  for (const r of reports) {
    const big = r.redos.length ? `, largest redo ${Math.max(...r.redos.map((x) => x.duplicates))}` : '';
    console.log(
      `  job ${r.id.padStart(3)}: ${r.state.padEnd(9)} ${r.lines} lines, missing ${r.missing.length}, duplicates ${r.duplicates} in ${r.redos.length} redo(s)${big}`,
    );
    if (r.state !== 'completed') problems.push(`job ${r.id} is ${r.state}, not completed`);
    if (r.missing.length) problems.push(`job ${r.id} never processed ${r.missing.length} item(s): ${r.missing.slice(0, 10).join(', ')}${r.missing.length > 10 ? ', ...' : ''}`);
  }
  for (const f of failures) problems.push(`job ${f.jobId} failed: ${f.reason}`);
  if (!settled) problems.push(`not every job settled within ${secs(deadlineMs)} after the chaos`);

  console.log(`duplicates: ${totalDuplicates} total`);
  console.log(
    `  crashes (kill-worker + kill-group): ${crashEvents.length} events, ${crashExposures} job runs killed, ${crashDuplicates} duplicates` +
      ` (${crashExposures ? (crashDuplicates / crashExposures).toFixed(1) : '0'} per killed run, bound ${CRASH_BOUND})`,
  );
  console.log(`  urgent stops: ${urgentEvents.length} events, ${urgentEvents.reduce((s, e) => s + e.exposed.size, 0)} job runs stopped, ${urgentDuplicates} duplicates (bound ${URGENT_BOUND} per run)`);
  console.log(`  graceful deploys: ${count('deploy')} events, ${unexplainedRedos.reduce((s, r) => s + r.duplicates, 0)} duplicates not explained by a crash or urgent stop (bound 0)`);
  console.log(`  largest single redo: ${perRedo.length ? Math.max(...perRedo) : 0} items (bound ${CRASH_BOUND})`);
  for (const e of events) {
    if (e.kind === 'deploy') continue;
    const bound = e.exposed.size * (e.kind === 'urgent' ? URGENT_BOUND : CRASH_BOUND);
    console.log(
      `    #${String(e.n).padEnd(3)} ${secs(e.atMs).padStart(6)} ${e.kind.padEnd(11)} ${e.target.padEnd(24)} runs hit ${e.exposed.size} (jobs ${[...e.exposed].join(',') || '-'}): ` +
        `${e.duplicates} duplicates in ${e.redos} redo(s), bound ${bound}`,
    );
  }
  for (const e of events) {
    if (e.kind === 'deploy') continue;
    const bound = e.exposed.size * (e.kind === 'urgent' ? URGENT_BOUND : CRASH_BOUND);
    if (e.duplicates > bound) {
      problems.push(`event #${e.n} (${e.kind} ${e.target} at ${secs(e.atMs)}) cost ${e.duplicates} duplicates, over its bound ${bound} (${e.exposed.size} job(s) exposed: ${[...e.exposed].join(',')})`);
    }
  }
  for (const r of reports) {
    for (const redo of r.redos) {
      if (redo.duplicates > CRASH_BOUND) problems.push(`job ${r.id}: one redo repeated ${redo.duplicates} items, over the crash bound ${CRASH_BOUND}`);
    }
  }
  for (const u of unexplainedRedos) problems.push(`job ${u.id}: ${u.duplicates} duplicate(s) at log byte ${u.offset} that no crash or urgent stop explains`);
  for (const s of unexplainedStalls) problems.push(`job ${s.jobId} stalled at ${secs(s.atMs)} with no kill just before it`);
  // Exit codes are the supervisor's contract with its process manager, not the jobs' safety: warnings, not failures.
  const warnings: string[] = [];
  for (const sup of supervisors) {
    if (sup.workersKilledByTerm > 0) {
      warnings.push(`supervisor ${sup.pid}: ${sup.workersKilledByTerm} worker(s) died of SIGTERM itself (stopped during start-up, before trapping signals)`);
    }
    if (!sup.exited || (sup.stoppedAs !== 'deploy' && sup.stoppedAs !== 'urgent' && sup.stoppedAs !== 'final')) continue;
    const { code, signal } = await sup.exit;
    if (code === 0) continue;
    const late = signal !== null && sup.announcedExit ? ' after logging "exiting 0" (a stop signal landed once it had released its signal traps)' : '';
    warnings.push(`supervisor ${sup.pid} (${sup.stoppedAs}) exited with ${signal ?? `code ${code}`}, expected 0${late}`);
  }
  console.log(`wall time: ${secs(elapsed())} (chaos ${SECONDS} s, all jobs settled at ${secs(drainMs)})`);
  for (const w of warnings) console.log(`  warning: ${w}`);
  for (const p of problems) console.log(`  problem: ${p}`);
  const pass = problems.length === 0;
  console.log(`${pass ? 'PASS' : 'FAIL'}: ${JOBS} jobs x ${ITEMS} items, seed ${SEED}, ${events.length} events, ${totalDuplicates} duplicates, ${problems.length} problem(s), ${warnings.length} warning(s)`);
  if (!pass && !KEEP) console.log(`(SOAK_SEED=${SEED} SOAK_KEEP=1 npm run soak keeps the item and supervisor logs for a look)`);
  return pass;
}

let pass = false;
try {
  pass = await main();
} catch (error) {
  console.error(error);
} finally {
  await cleanup();
}
process.exit(pass ? 0 : 1);
