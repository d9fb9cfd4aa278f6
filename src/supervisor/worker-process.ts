/**
 * Entry point of a worker process forked by the supervisor. It owns this process's signals: TERM/INT stop it
 * gracefully (hooks, checkpoints, jobs back to the queue, exit 0); QUIT, which the supervisor sends to escalate,
 * stops it at once.
 */
// Only light modules load before the signal handlers are in place; the config (over IPC), bullmq, ioredis, pg and the
// user's modules come afterwards, so a TERM during the first few hundred milliseconds is handled rather than fatal.
import type { IterationWorker } from '../bullmq/index.js';
import type { Heartbeat } from './heartbeat.js';
import type { HeartbeatConnection } from './connection.js';
import { trapStopSignals, type StopSignal } from '../signals.js';
import { createLogger, logHookErrors } from './log.js';
import { isConfigMessage, type WorkerMessage, type WorkerProcessConfig } from './messages.js';
import { describeProgressStep, stepLabelOf } from '../extent.js';
import { urgentStepMs } from './shutdown.js';

if (!process.send) {
  process.stderr.write('job-iteration worker: no IPC channel; this file is forked by `job-iteration work`, which sends its config.\n');
  process.exit(2);
}
// Until the config says whether to be quiet, lines go to the debug namespace only.
let log = createLogger('worker', { quiet: true });
const send = (message: WorkerMessage) => {
  // After the supervisor is gone the channel is closed, and a send would throw.
  if (process.connected) process.send?.(message);
};
logHookErrors((message) => log(message));

let worker: IterationWorker | undefined;
let stopRequest: { signal: StopSignal; urgent: boolean } | undefined;
let stopping: Promise<void> | undefined;

// Trapped before anything slow (module import, Redis), so a stop that arrives during start-up is kept, not lost.
trapStopSignals(
  {
    graceful: (signal) => requestStop(signal, false),
    urgent: (signal) => requestStop(signal, true),
  },
  { repeatIsUrgent: false },
);

// The IPC channel closes when the supervisor dies, however it dies (even SIGKILL). An orphan worker would keep
// taking jobs with no one to stop it, so it stops as on TERM, and applies the supervisor's steps to itself: urgent
// at the same point before the shutdown timeout, gone at the timeout.
let shutdownTimeoutMs: number | undefined;
process.on('disconnect', () => {
  log('supervisor is gone (IPC channel closed)');
  // Gone before it sent the config: nothing was started, nothing to hand back.
  if (shutdownTimeoutMs === undefined) process.exit(1);
  requestStop('SIGTERM', false);
  setTimeout(() => requestStop('SIGQUIT', true), urgentStepMs(shutdownTimeoutMs)).unref();
  setTimeout(() => process.exit(1), shutdownTimeoutMs).unref();
});

function requestStop(signal: StopSignal, urgent: boolean): void {
  if (stopRequest) {
    if (urgent && !stopRequest.urgent) {
      // Overtakes the graceful stop in flight, which then waits for these hand-backs before the process exits.
      stopRequest.urgent = true;
      log(`${signal}: stopping now; active jobs return to the queue from their last finished item`);
      void worker?.close({ urgent: true });
    } else {
      log(`${signal} received again; already stopping`);
    }
    return;
  }
  stopRequest = { signal, urgent };
  if (worker) stopping ??= stop(worker);
}

/** The one stop sequence of this process; it ends with the exit. */
async function stop(w: IterationWorker): Promise<void> {
  const request = stopRequest!;
  log(
    `${request.signal}: ${request.urgent ? 'stopping now' : 'stopping'}; ${w.activeCount} active job(s) ` +
      (request.urgent ? 'return to the queue from their last finished item' : 'checkpoint after their current item and return to the queue'),
  );
  const started = performance.now();
  const service = isPostgres ? 'PostgreSQL' : 'Redis';
  if (connection?.watch.down && w.activeCount === 0) log(`${service} is unreachable and no job is running: nothing to hand back, so not waiting for ${service}`);
  // stop() fires onWorkerStop (the worker-stop flag flips), closes the BullMQ worker, then fires onWorkerExit.
  await w.stop(request.signal, { urgent: request.urgent });
  // An urgent request that arrived meanwhile has its own hand-backs in flight: the jobs must be back in the queue
  // before the process goes.
  if (request.urgent) await w.close({ urgent: true });
  await heartbeat?.stop();
  await connection?.close();
  // A job this worker lost (its lock expired while the process was frozen or Redis was away) or had to let go is
  // not a clean stop, even if nothing is left running: say so, and exit 1.
  const lost = w.lostLocks + abandoned;
  const code = lost > 0 ? 1 : request.urgent ? 130 : 0;
  const losses = lost > 0 ? `; ${w.lostLocks} job(s) lost their lock and ${abandoned} could not be handed back (they resume from their last checkpoint)` : '';
  log(`stopped in ${Math.round(performance.now() - started)} ms; ${w.requeuedOnClose} job(s) returned to the queue${losses}; exiting ${code}`);
  process.exit(code);
}

let heartbeat: Heartbeat | undefined;
let connection: HeartbeatConnection | undefined;
let isPostgres = false;
let abandoned = 0;

// The supervisor sends it right after the fork; the listener also keeps the process alive until then.
const config = await new Promise<WorkerProcessConfig>((resolve) => {
  const onMessage = (message: unknown) => {
    if (!isConfigMessage(message)) return;
    process.off('message', onMessage);
    resolve(message.config);
  };
  process.on('message', onMessage);
});
log = createLogger('worker', { quiet: config.quiet, format: config.logFormat });
shutdownTimeoutMs = config.shutdownTimeoutMs;

const [{ IterationWorker: Worker }, { loadJobs }, { openHeartbeatConnection, isConnectionError, isPostgresUrl }, { Heartbeat: HeartbeatClass }, { postgresUrlConfig }] = await Promise.all([
  import('../bullmq/index.js'),
  import('../process/load-jobs.js'),
  import('./connection.js'),
  import('./heartbeat.js'),
  import('../bullmq/backend.js'),
]);
isPostgres = isPostgresUrl(config.connectionUrl);
const jobs = await loadJobs(config.modules);
if (stopRequest) {
  // Stopped before it took a job or fired a hook: nothing to hand back.
  log(`${stopRequest.signal} before start-up finished; exiting 0`);
  process.exit(0);
}
connection = await openHeartbeatConnection(config.connectionUrl, (line) => log(line));
const watch = connection.watch;
heartbeat = new HeartbeatClass(connection.store, config.queue, 'worker', config.heartbeatMs, process.ppid, config.lockDuration ?? 30_000 /* BullMQ's default */, connection.onBeat);
await heartbeat.start();

worker = new Worker(config.queue, {
  jobs: [...jobs.values()],
  // The supervisor checked (or made) the schema before it forked this worker: a worker never migrates on its own.
  connection: isPostgres ? { ...postgresUrlConfig(config.connectionUrl), migrate: false } : { url: config.connectionUrl },
  concurrency: config.concurrency,
  handleSignals: false,
  autorun: false,
  // The worker's own bound on waiting for Redis must fit inside the supervisor's deadline, or the supervisor kills it
  // first, with jobs it could still have handed back.
  closeTimeoutMs: Math.min(5000, Math.max(500, Math.floor(config.shutdownTimeoutMs / 5))),
  ...(config.lockDuration !== undefined ? { lockDuration: config.lockDuration } : {}),
  ...(config.stalledInterval !== undefined ? { stalledInterval: config.stalledInterval } : {}),
  ...(config.checkpointIntervalMs !== undefined ? { checkpointIntervalMs: config.checkpointIntervalMs } : {}),
});
// One line per job event, with the job's id, name and queue, so a log tells every job's story without debug logs:
// what started and resumed where, what stopped and why, what completed, failed, was lost or ran twice.
const { queue } = config;
const about = (job: { id?: string | undefined; name: string }) => `job ${job.id} (${job.name}) on "${queue}"`;
const fieldsOf = (event: string, job: { id?: string | undefined; name: string }, more: Record<string, unknown> = {}) => ({ event, queue, jobId: job.id, jobName: job.name, ...more });
const cursorText = (cursor: unknown) => (cursor === undefined ? 'none' : JSON.stringify(cursor));
// A step job's lines say which step it is in, and how far that step is: `in step 2/4 backfill: 41%`.
const inStep = (job: { progress?: unknown }) => {
  const step = describeProgressStep(job.progress);
  return step === undefined ? '' : ` in ${step}`;
};
worker.on('started', (job, { resumed, state }) => {
  if (!resumed) return log(`${about(job)}: started`, fieldsOf('started', job));
  log(
    `${about(job)}: resumed${inStep(job)} after cursor ${cursorText(state.cursor)} (${state.iterations} items done, interrupted ${state.timesInterrupted} time(s))`,
    fieldsOf('resumed', job, { cursor: state.cursor ?? null, iterations: state.iterations, timesInterrupted: state.timesInterrupted }),
  );
});
worker.on('step', (job, { step, state }) =>
  log(`${about(job)}: on to ${stepLabelOf(step)}`, fieldsOf('step', job, { step: step.name, position: step.position, steps: step.count, iterations: state.iterations })),
);
worker.on('interrupted', (job, info) => {
  const { state } = info;
  const fields = { adapter: info.adapter, reason: info.reason, cursor: state.cursor ?? null, iterations: state.iterations, delayMs: info.delayMs };
  if (info.retryAfterMs !== undefined) {
    return log(
      `${about(job)}: throttled by ${info.adapter} (${info.reason}) at cursor ${cursorText(state.cursor)}; back in the queue in ${info.delayMs} ms`,
      fieldsOf('throttled', job, { ...fields, retryAfterMs: info.retryAfterMs }),
    );
  }
  log(
    `${about(job)}: interrupted by ${info.adapter} (${info.reason})${inStep(job)} at cursor ${cursorText(state.cursor)} after ${state.iterations} items; back in the queue${info.delayMs > 0 ? ` in ${info.delayMs} ms` : ''}`,
    fieldsOf('interrupted', job, fields),
  );
});
worker.on('completed', (job, result) => {
  const { iterations, totalTimeMs, cursor } = (result ?? {}) as { iterations?: number; totalTimeMs?: number; cursor?: unknown };
  const seconds = (totalTimeMs ?? 0) / 1000;
  const rate = seconds > 0 && iterations !== undefined ? Math.round(iterations / seconds) : undefined;
  log(
    `${about(job)}: completed, ${iterations} items in ${seconds.toFixed(1)} s${rate === undefined ? '' : ` (${rate} items/s)`}`,
    fieldsOf('completed', job, { iterations, totalTimeMs, itemsPerSecond: rate, cursor: cursor ?? null }),
  );
});
worker.on('failed', (job, error) => {
  if (!job) return log(`a job failed: ${error.message}`, { event: 'failed', queue, error: error.message });
  // BullMQ stores no attempts as 0, which means one.
  const attempts = Math.max(1, job.opts.attempts ?? 1);
  const cursor = (job.progress as { cursor?: unknown } | undefined)?.cursor;
  const retried = job.attemptsMade < attempts && error.name !== 'UnrecoverableError' && !/^ERR_/.test(error.message);
  log(
    `${about(job)}: failed (attempt ${job.attemptsMade} of ${attempts}${retried ? ', retried' : ''}): ${error.message}; cursor ${cursorText(cursor)} kept`,
    fieldsOf('failed', job, { error: error.message, attemptsMade: job.attemptsMade, attempts, retried, cursor: cursor ?? null }),
  );
});
worker.on('parked', (job, state) =>
  log(`${about(job)}: paused at cursor ${cursorText(state?.cursor)}; parked until resumed`, fieldsOf('paused', job, { cursor: state?.cursor ?? null })),
);
worker.on('cancelled', (job, state) =>
  log(`${about(job)}: cancelled at cursor ${cursorText(state.cursor)} after ${state.iterations} items`, fieldsOf('cancelled', job, { cursor: state.cursor ?? null, iterations: state.iterations })),
);
worker.on('lockLost', (job) =>
  log(`${about(job)}: lock lost, another worker owns it now; stopped without writing`, fieldsOf('lockLost', job)),
);
worker.on('stalledRun', (job, state) =>
  log(
    `${about(job)}: its previous run ended without an outcome (stall ${state.timesStalled} in all); resuming after cursor ${cursorText(state.cursor)}`,
    fieldsOf('stalled', job, { cursor: state.cursor ?? null, timesStalled: state.timesStalled }),
  ),
);
worker.on('abandoned', (job, reason) => {
  abandoned++;
  log(`${about(job)}: not handed back (${reason}); it resumes from its last checkpoint once its lock expires`, fieldsOf('abandoned', job, { reason }));
});
// The worker's own clients report errors through it; they count towards the same outage as the heartbeat's.
worker.on('error', (error) => {
  if (isConnectionError(error)) watch.lost(error);
  else log(`worker error: ${error.message}`);
});
await worker.start();
log(`started: queue "${config.queue}", concurrency ${config.concurrency}, jobs ${[...jobs.keys()].join(', ')}`);
send({ type: 'ready', jobs: [...jobs.keys()] });
if (stopRequest) stopping ??= stop(worker);
await stopping;
