import { createPostgresBackend, Queue, withBackend, type JobsOptions } from 'bullmq';
import { isPostgresBackend, postgresUrlConfig } from '../bullmq/backend.js';
import { JobNotFoundError } from '../bullmq/errors.js';
import { cancelJob, DEFAULT_LOCK_DURATION_MS, enqueue, getIterationState, listIterableJobs, pauseJob, resumeJob, retryJob, stallSuspects, type AnyQueue, type ControlResult, type IterationJobInfo } from '../bullmq/index.js';
import type { IterationProgress } from '../bullmq/options.js';
import { listProcesses, PostgresHeartbeatStore, RedisHeartbeatStore, type HeartbeatStore, type ProcessRecord } from '../supervisor/heartbeat.js';
import { intFlag, paramsFlag, queueFlag } from './args.js';
import type { controlFlags, enqueueFlags, Parsed, retryFlags, statusFlags } from './flags.js';
import { pickJob } from './pick-job.js';
import { loadJobs } from '../process/load-jobs.js';
import { redactUrl, redactUrls } from '../redact.js';
import { createRedis } from '../process/redis-client.js';
import { ConnectionWatch } from '../process/connection-watch.js';
import { assertReachable } from '../process/redis-probe.js';
import { connectionTarget, type ConnectionTarget } from '../process/redis-url.js';
import { describeProgressStep } from '../extent.js';
import { shorten } from './text.js';
import { enqueuePartitionedJob, groupPartitions, partitionLines, partitionsFlag } from './partitions.js';
import { ExitCode, UsageError } from './usage.js';
import { quoteIdent } from '../store/postgres-store.js';

/**
 * A queue as the commands use it, on either backend: BullMQ's Queue, plus what BullMQ has no call for (whether the
 * queue exists, the live processes, which active jobs have lost their lock), each answered in the backend's own
 * terms.
 */
export interface QueueAccess {
  queue: AnyQueue;
  target: ConnectionTarget;
  /** Whether anything was ever added to the queue. */
  exists(): Promise<boolean>;
  processes(): Promise<ProcessRecord[]>;
  /** Those of `ids` (active jobs) that no worker holds a live lock on. */
  /** `status --watch`: connection losses and returns go to `watch`. */
  watchConnection(watch: ConnectionWatch): void;
}

/** Opens the queue after checking the server answers (and, on PostgreSQL, that BullMQ's schema is there); always closes it. */
export async function withQueue<T>(values: { queue?: string; connection?: string; redis?: string }, use: (access: QueueAccess) => Promise<T>): Promise<T> {
  const target = connectionTarget(values);
  const name = queueFlag(values.queue);
  await assertReachable(target);
  return target.kind === 'postgres' ? withPostgresQueue(target, name, use) : withRedisQueue(target, name, use);
}

async function withRedisQueue<T>(target: ConnectionTarget, name: string, use: (access: QueueAccess) => Promise<T>): Promise<T> {
  const connection = createRedis(target.url);
  // Looking at a queue must not create it: BullMQ writes a queue's meta key when a Queue object starts.
  const queue = new Queue(name, { connection, skipMetasUpdate: true });
  const heartbeats = new RedisHeartbeatStore(connection);
  try {
    return await use({
      queue,
      target,
      // A queue nothing was ever added to has neither its meta key nor its id counter.
      exists: async () => (await connection.exists(queue.keys.meta!, queue.keys.id!)) > 0,
      processes: () => listProcesses(heartbeats, name),
      watchConnection: (watch) => {
        watch.watch(connection);
        queue.on('error', (error) => watch.lost(error));
      },
    });
  } finally {
    // Redis gone (a `status --watch` stopped during an outage): there is nothing to say goodbye to, and waiting on
    // the close would hang the command.
    if (connection.status === 'ready') {
      await queue.close();
      await connection.quit().catch(() => undefined);
    } else {
      connection.disconnect();
    }
  }
}

const { Queue: PostgresQueue } = withBackend(createPostgresBackend);

async function withPostgresQueue<T>(target: ConnectionTarget, name: string, use: (access: QueueAccess) => Promise<T>): Promise<T> {
  // `migrate: false`: the schema was checked, and a command other than `migrate` never creates it. Every wait is
  // bounded, so a server that goes away fails a report instead of hanging it.
  const connection = { ...postgresUrlConfig(target.url), migrate: false, max: 2, connectionTimeoutMillis: 5000, query_timeout: 15_000 };
  const queue = new PostgresQueue(name, { connection, skipMetasUpdate: true }) as unknown as AnyQueue;
  const backend = queue.getBackend();
  if (!isPostgresBackend(backend)) throw new Error('BullMQ did not give a PostgreSQL backend for a postgres:// connection');
  const job = `${quoteIdent(backend.schema)}.job`;
  const heartbeats: HeartbeatStore = new PostgresHeartbeatStore(backend, backend.schema);
  // An error event with no listener would end the process; the watch, when there is one, hears them instead.
  let watching: ConnectionWatch | undefined;
  queue.on('error', (error) => watching?.lost(error));
  try {
    return await use({
      queue,
      target,
      // A queue is its jobs' rows; reading them creates nothing.
      exists: async () => (await backend.query(`SELECT EXISTS (SELECT 1 FROM ${job} WHERE queue = $1) AS present`, [name])).rows[0]?.present === true,
      processes: () => listProcesses(heartbeats, name),
      watchConnection: (watch) => {
        watching = watch;
      },
    });
  } finally {
    // The pool's end waits for its clients; a server gone must not hold the command.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([queue.close().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, 2000)))]);
    clearTimeout(timer);
  }
}

/** `job-iteration enqueue <module> --job <name> --params <json>` */
export async function enqueueCommand({ values, positionals }: Parsed<typeof enqueueFlags>): Promise<number> {
  if (positionals.length !== 1) throw new UsageError(`enqueue takes one module; got ${positionals.length ? positionals.join(' ') : 'none'}`);
  const params = paramsFlag(values.params);
  const delay = intFlag('delay', values.delay, 0, 0);
  const options: JobsOptions = delay ? { delay } : {};
  if (values.attempts !== undefined) options.attempts = intFlag('attempts', values.attempts, 1, 1);
  if (values.backoff !== undefined) options.backoff = backoffFlag(values.backoff);
  const partitions = values.partitions === undefined ? undefined : partitionsFlag(values.partitions);
  const JobClass = pickJob(await loadJobs(positionals), values.job);
  return withQueue(values, async ({ queue }) => {
    if (partitions !== undefined) return enqueuePartitionedJob(queue, JobClass, params, partitions, options);
    const job = await enqueue(queue, JobClass, params, options);
    console.log(job.id);
    console.error(`enqueued ${job.name} as job ${job.id} on queue "${queue.name}"`);
    return ExitCode.ok;
  });
}

/** A control call on one job; a job id the queue does not know is bad input. */
async function control(act: (queue: AnyQueue, jobId: string) => Promise<ControlResult>, queue: AnyQueue, jobId: string): Promise<ControlResult> {
  try {
    return await act(queue, jobId);
  } catch (error) {
    if (error instanceof JobNotFoundError) throw new UsageError(error.message);
    throw error;
  }
}

/** `--backoff`: `<ms>` (a fixed wait), `fixed:<ms>` or `exponential:<ms>`. */
function backoffFlag(value: string): NonNullable<JobsOptions['backoff']> {
  const match = /^(?:(fixed|exponential):)?(\d+)$/.exec(value.trim());
  if (!match) throw new UsageError(`--backoff must be <ms>, fixed:<ms> or exponential:<ms>; got "${value}"`);
  return { type: (match[1] ?? 'fixed') as 'fixed' | 'exponential', delay: Number(match[2]) };
}

/** `job-iteration retry <jobId>` or `retry --all-failed`: failed jobs back in the queue, resuming from their cursor. */
export async function retryCommand({ values, positionals }: Parsed<typeof retryFlags>): Promise<number> {
  const all = values['all-failed'] === true;
  if (all ? positionals.length !== 0 : positionals.length !== 1) {
    throw new UsageError(all ? 'retry --all-failed takes no job id' : `retry takes one job id, or --all-failed; got ${positionals.length ? positionals.join(' ') : 'none'}`);
  }
  return withQueue(values, async ({ queue }) => {
    const ids = all ? (await queue.getFailed(0, -1)).map((job) => job.id!).filter(Boolean) : [positionals[0]!];
    let retried = 0;
    for (const id of ids) {
      const result = await control(retryJob, queue, id);
      if (result.effect === 'applied') {
        retried++;
        const from = result.cursor === undefined ? 'from its start (it failed before its first item)' : `after cursor ${JSON.stringify(result.cursor)}`;
        console.log(`job ${id}: back in the queue; it resumes ${from}`);
      } else {
        console.log(`job ${id} (${result.queueState}): not retried, ${result.reason ?? `only a failed job is retried`}`);
      }
    }
    if (all) console.error(`${retried} of ${ids.length} failed job(s) on queue "${queue.name}" back in the queue`);
    return ExitCode.ok;
  });
}

/** `job-iteration cancel|pause|resume <jobId>` */
export function controlCommand(action: 'cancel' | 'pause' | 'resume') {
  const act = { cancel: cancelJob, pause: pauseJob, resume: resumeJob }[action];
  return async ({ values, positionals }: Parsed<typeof controlFlags>): Promise<number> => {
    if (positionals.length !== 1) throw new UsageError(`${action} takes one job id; got ${positionals.length ? positionals.join(' ') : 'none'}`);
    const jobId = positionals[0]!;
    return withQueue(values, async ({ queue }) => {
      const result = await control(act, queue, jobId);
      const what = {
        requested: action === 'resume' ? 'resume requested' : `${action} requested; a worker acts on it at the job's next checkpoint`,
        applied: `${action === 'cancel' ? 'cancelled' : action === 'pause' ? 'paused' : 'resumed'}`,
        none: `nothing to do (job is ${result.queueState})`,
      }[result.effect];
      console.log(`job ${jobId} (${result.queueState}): ${what}`);
      return ExitCode.ok;
    });
  };
}

/** `job-iteration status`: who is alive, and where every iterable job stands; with `--watch`, again every second. */
export async function statusCommand({ values, positionals }: Parsed<typeof statusFlags>): Promise<number> {
  if (positionals.length > 1) throw new UsageError(`status takes at most one job id; got ${positionals.join(' ')}`);
  const limit = intFlag('limit', values.limit, 50);
  const json = values.json === true;
  return withQueue(values, async (access) => {
    const service = access.target.kind === 'postgres' ? 'PostgreSQL' : 'Redis';
    const show = (print: Print) =>
      positionals.length === 1 ? showJob(access.queue, positionals[0]!, json, print) : showQueue(access, limit, json, print);
    if (!values.watch) {
      await show((line) => console.log(line));
      return ExitCode.ok;
    }
    // One line on stderr when the server goes and one when it is back, not a client's stack for every retry.
    const connection = new ConnectionWatch((line) => console.error(`job-iteration status: ${line}`), service);
    access.watchConnection(connection);
    // A pool has no connection events: a report that went through is the sign it is back.
    const report = async (print: Print) => {
      await show(print);
      connection.back();
    };
    return watch(report, json, service);
  });
}

type Print = (line: string) => void;

/**
 * `status --watch`: the report again every second until Ctrl-C or TERM (exit 0). On a terminal each report replaces
 * the last, as `watch(1)` does; elsewhere (a log, a pipe) reports follow each other under a time stamp, and `--json`
 * prints one JSON document per line. A report that fails (Redis away for a moment) says why and the next one is tried
 * a second later; a job id that does not exist ends it with exit 2 as it would without `--watch`.
 */
async function watch(report: (print: Print) => Promise<void>, json: boolean, service: 'Redis' | 'PostgreSQL'): Promise<number> {
  const tty = process.stdout.isTTY === true && !json;
  let wake: (() => void) | undefined;
  let stopped = false;
  const onSignal = () => {
    stopped = true;
    wake?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  /** Resolves after `ms`, or at once on Ctrl-C/TERM. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  // A report waiting on Redis is not asked again until it answers: requests would only pile up in the client.
  let pending: { done: Promise<string[]>; since: number } | undefined;
  try {
    while (!stopped) {
      if (!pending) {
        const lines: string[] = [];
        pending = { done: report((line) => lines.push(json ? JSON.stringify(JSON.parse(line)) : line)).then(() => lines), since: Date.now() };
      }
      const asked = pending;
      let lines: string[] | undefined;
      let failure: string | undefined;
      await Promise.race([
        asked.done.then(
          (got) => {
            lines = got;
          },
          (error: unknown) => {
            if (error instanceof UsageError) throw error;
            failure = redactUrls(error instanceof Error ? error.message : String(error));
          },
        ),
        pause(REPORT_PATIENCE_MS),
      ]);
      if (stopped) break;
      if (lines !== undefined || failure !== undefined) pending = undefined;
      else failure = `no answer from ${service} for ${Math.round((Date.now() - asked.since) / 1000)} s`;
      const stamp = `${new Date().toISOString()}  (every 1 s; Ctrl-C to stop)`;
      if (json) process.stdout.write(`${lines ? lines.join('\n') : JSON.stringify({ at: new Date().toISOString(), error: failure })}\n`);
      else {
        const body = lines ?? [`status failed: ${failure}; trying again`];
        process.stdout.write(tty ? `\x1b[H\x1b[2J${stamp}\n\n${body.join('\n')}\n` : `--- ${stamp}\n${body.join('\n')}\n\n`);
      }
      await pause(1000);
    }
    return ExitCode.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** How long `--watch` waits for one report before it says Redis is not answering. */
const REPORT_PATIENCE_MS = 3000;

async function showQueue(access: QueueAccess, limit: number, json: boolean, print: Print): Promise<void> {
  const { queue, target } = access;
  const url = target.url;
  // `redis` stays the key's name in JSON, whatever the backend, for the scripts that read it.
  const where = { redis: redactUrl(url), connection: redactUrl(url) };
  if (!(await access.exists())) {
    if (json) print(JSON.stringify({ queue: queue.name, ...where, exists: false, processes: [], counts: {}, jobs: [] }, null, 2));
    else print(`queue "${queue.name}" on ${redactUrl(url)}: no such queue (nothing was ever added to it)`);
    return;
  }
  const [processes, jobs, counts] = await Promise.all([
    access.processes(),
    listIterableJobs(queue, { limit }),
    queue.getJobCounts('active', 'waiting', 'waiting-children', 'prioritized', 'delayed', 'completed', 'failed'),
  ]);
  if (json) {
    print(JSON.stringify({ queue: queue.name, ...where, exists: true, processes, counts, jobs: jobs.map(withIsoTimes) }, null, 2));
    return;
  }
  print(`queue "${queue.name}" on ${redactUrl(url)}`);
  print(`jobs by state: ${Object.entries(counts).map(([state, n]) => `${state} ${n}`).join(', ')}`);
  print(`\nprocesses alive: ${processes.length}`);
  for (const p of processes) print(`  ${formatProcess(p)}`);
  print(`\niterable jobs: ${jobs.length}${jobs.length === limit ? ` (first ${limit}; --limit for more)` : ''}`);
  // An active job that lost its worker, or went quiet under it, is not running, whatever its saved status says.
  // The workers publish their lock duration with their heartbeat.
  const lockMs = Math.max(0, ...processes.map((p) => p.lockDurationMs ?? 0)) || DEFAULT_LOCK_DURATION_MS;
  const suspects = await stallSuspects(queue, jobs, lockMs);
  const rows = groupPartitions(jobs).map(({ job, partition }) => {
    const row = jobRow(job, suspects.has(job.id));
    // A partition sits indented under its parent.
    if (partition) row[0] = `  ${row[0]}`;
    return row;
  });
  if (rows.length > 0) printTable(rows, print);
  // Why a job cannot run or did not finish, in full: the table has room for its start only, and it is what a
  // person needs.
  for (const job of jobs) {
    const problem = problemOf(job);
    if (problem) print(`  job ${job.id}: ${redactUrls(problem)}`);
    if (suspects.get(job.id) === 'lockless') {
      print(`  job ${job.id}: active, but no worker holds its lock (crashed, killed or frozen); BullMQ's stalled-job check hands it to a worker, which resumes after its last saved cursor`);
    }
    if (suspects.get(job.id) === 'silent') {
      print(`  job ${job.id}: active, but nothing saved for ${ago(job.state!.updatedAt!)}, longer than a lock lasts (${span(lockMs)}) past its checkpoint interval: an item is hung or very slow; status ${job.id} shows its log`);
    }
  }
}

/** Why a job cannot run (its data is not a job) or did not finish. */
function problemOf(job: IterationJobInfo): string | undefined {
  return job.invalid ?? (job.queueState === 'failed' ? job.failedReason : undefined);
}

/** Epoch-millisecond fields as ISO times, as every other time in the JSON output is. */
function withIsoTimes(job: IterationJobInfo): Record<string, unknown> {
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  return { ...job, timestamp: iso(job.timestamp), processedOn: iso(job.processedOn), finishedOn: iso(job.finishedOn) };
}

/** `status <jobId>`: one job in full: params, state, cursor, progress, error with its stack, and its log lines. */
async function showJob(queue: AnyQueue, jobId: string, json: boolean, print: Print): Promise<void> {
  const info = await getIterationState(queue, jobId);
  if (!info) throw new UsageError(`no job ${jobId} in queue "${queue.name}"`);
  const [job, { logs }] = await Promise.all([queue.getJob(jobId).catch(() => undefined), queue.getJobLogs(jobId)]);
  const stacktrace = job?.stacktrace ?? [];
  if (json) {
    print(JSON.stringify({ ...withIsoTimes(info), attempts: Math.max(1, job?.opts.attempts ?? 1), stacktrace, logs }, null, 2));
    return;
  }
  const progress = (info.progress && typeof info.progress === 'object' ? info.progress : {}) as Partial<IterationProgress>;
  const percent = progress.percentage !== undefined ? ` (${progress.percentage}%)` : '';
  // A measured enumeration counts in its own unit (rows, bytes, a step job's current step), not in items.
  const measured = progress.done !== undefined && progress.unit !== undefined;
  const step = describeProgressStep(progress);
  const lines: Array<[string, string]> = [
    ['job', `${info.id} (${info.name}) on queue "${queue.name}"`],
    ['status', `${info.status}; BullMQ state ${info.queueState}${info.control ? `; ${info.control} requested` : ''}`],
    ['params', JSON.stringify(info.params)],
    ['cursor', info.state && 'cursor' in info.state ? JSON.stringify(info.state.cursor) : info.partitions ? 'one per partition, below' : 'none yet'],
    ...(step !== undefined ? [['step', step] as [string, string]] : []),
    ...(measured && step === undefined ? [['done', `${progress.done}${progress.total !== undefined ? ` of ${progress.total}` : ''} ${progress.unit}${percent}`] as [string, string]] : []),
    ['items', `${info.state?.iterations ?? progress.iterations ?? 0}${!measured && progress.total !== undefined ? ` of ${progress.total}${percent}` : ''}`],
    ['runs', `interrupted ${info.state?.timesInterrupted ?? 0} time(s), stalled ${info.state?.timesStalled ?? 0} time(s), ${((info.state?.totalTimeMs ?? 0) / 1000).toFixed(1)} s in all`],
    ['attempts', `${info.attemptsMade} of ${Math.max(1, job?.opts.attempts ?? 1)}`],
    ['added', new Date(info.timestamp).toISOString()],
  ];
  if (info.state?.updatedAt) lines.push(['saved', `${info.state.updatedAt} (${ago(info.state.updatedAt)} ago)`]);
  if (info.state?.lastInterruption) {
    const last = info.state.lastInterruption;
    lines.push(['last stop', `${last.adapter} (${last.reason}) at ${last.at}${last.retryAfterMs !== undefined ? `, retry after ${last.retryAfterMs} ms` : ''}`]);
  }
  if (info.invalid) lines.push(['invalid', info.invalid]);
  if (info.failedReason) lines.push(['error', info.failedReason]);
  const width = Math.max(...lines.map(([k]) => k.length));
  for (const [key, value] of lines) print(`${key.padEnd(width)}  ${redactUrls(value)}`);
  for (const line of partitionLines(info)) print(redactUrls(line));
  if (stacktrace.length > 0) print(`\nstack:\n${redactUrls(stacktrace.at(-1)!)}`);
  if (logs.length > 0) print(`\nlog:\n${logs.map((l) => `  ${redactUrls(l)}`).join('\n')}`);
}

function ago(iso: string): string {
  return span(Date.now() - Date.parse(iso));
}

/** A duration, rounded to the unit a person reads at a glance: `42s`, `17m`, `3h`. */
function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

function formatProcess(p: ProcessRecord): string {
  const parent = p.supervisorPid ? ` supervisor ${p.supervisorPid}` : '';
  return `${p.role.padEnd(10)} pid ${String(p.pid).padEnd(7)} host ${p.hostname}  up ${ago(p.startedAt)}  last beat ${ago(p.beatAt)} ago${parent}`;
}

function jobRow(job: IterationJobInfo, stalled: boolean): string[] {
  const progress = (job.progress && typeof job.progress === 'object' ? job.progress : {}) as Partial<IterationProgress>;
  const iterations = job.state?.iterations ?? progress.iterations ?? 0;
  // Items over a total of items only: a measured enumeration's total counts rows, bytes or a step job's steps.
  const total = progress.done === undefined ? progress.total : undefined;
  const cursor = job.state && 'cursor' in job.state ? JSON.stringify(job.state.cursor) : '-';
  const running = job.queueState === 'active';
  return [
    job.id,
    job.name,
    stalled ? 'stalled?' : job.status,
    job.queueState,
    total !== undefined ? `${iterations}/${total}` : String(iterations),
    describeProgressStep(progress) ?? (progress.percentage !== undefined ? `${progress.percentage.toFixed(1)}%` : '-'),
    shorten(cursor, 30),
    String(job.state?.timesInterrupted ?? 0),
    String(job.state?.timesStalled ?? 0),
    String(job.attemptsMade),
    job.state?.updatedAt ? `${ago(job.state.updatedAt)} ago` : '-',
    job.state?.totalTimeMs ? span(job.state.totalTimeMs) : '-',
    running && !stalled && progress.etaMs !== undefined ? span(progress.etaMs) : '-',
    shorten(redactUrls(problemOf(job) ?? '-').split('\n')[0]!, 40),
  ];
}

function printTable(rows: string[][], print: Print): void {
  const header = ['ID', 'JOB', 'STATUS', 'QUEUE STATE', 'ITEMS', 'DONE', 'CURSOR', 'INTERRUPTED', 'STALLED', 'ATTEMPTS', 'SAVED', 'ELAPSED', 'ETA', 'ERROR'];
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  for (const row of all) print(`  ${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()}`);
}
