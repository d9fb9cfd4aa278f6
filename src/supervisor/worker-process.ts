/**
 * Entry point of a worker process forked by the supervisor. It owns this process's signals: TERM/INT stop it
 * gracefully (hooks, checkpoints, jobs back to the queue, exit 0); QUIT, which the supervisor sends to escalate,
 * stops it at once.
 */
// Only light modules load before the signal handlers are in place; the config (over IPC), bullmq, ioredis and the
// user's modules come afterwards, so a TERM during the first few hundred milliseconds is handled rather than fatal.
import type { IterationWorker } from '../bullmq/index.js';
import type { Heartbeat } from './heartbeat.js';
import type { Redis } from 'ioredis';
import { trapStopSignals, type StopSignal } from '../signals.js';
import { createLogger, logHookErrors } from './log.js';
import { isConfigMessage, type WorkerMessage, type WorkerProcessConfig } from './messages.js';
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
  // stop() fires onWorkerStop (the worker-stop flag flips), closes the BullMQ worker, then fires onWorkerExit.
  await w.stop(request.signal, { urgent: request.urgent });
  // An urgent request that arrived meanwhile has its own hand-backs in flight: the jobs must be back in the queue
  // before the process goes.
  if (request.urgent) await w.close({ urgent: true });
  await heartbeat?.stop();
  await closeRedis(redis);
  // A job this worker lost (its lock expired while the process was frozen or Redis was away) or had to let go is
  // not a clean stop, even if nothing is left running: say so, and exit 1.
  const lost = w.lostLocks + abandoned;
  const code = lost > 0 ? 1 : request.urgent ? 130 : 0;
  const losses = lost > 0 ? `; ${w.lostLocks} job(s) lost their lock and ${abandoned} could not be handed back (they resume from their last checkpoint)` : '';
  log(`stopped in ${Math.round(performance.now() - started)} ms; ${w.requeuedOnClose} job(s) returned to the queue${losses}; exiting ${code}`);
  process.exit(code);
}

let heartbeat: Heartbeat | undefined;
let redis: Redis | undefined;
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
log = createLogger('worker', { quiet: config.quiet });
shutdownTimeoutMs = config.shutdownTimeoutMs;

const [{ IterationWorker: Worker }, { loadJobs }, { closeRedis, createRedis }, { Heartbeat: HeartbeatClass }] = await Promise.all([
  import('../bullmq/index.js'),
  import('../process/load-jobs.js'),
  import('../process/redis-client.js'),
  import('./heartbeat.js'),
]);
const jobs = await loadJobs(config.modules);
if (stopRequest) {
  // Stopped before it took a job or fired a hook: nothing to hand back.
  log(`${stopRequest.signal} before start-up finished; exiting 0`);
  process.exit(0);
}
redis = createRedis(config.redisUrl);
heartbeat = new HeartbeatClass(redis, config.queue, 'worker', config.heartbeatMs, process.ppid);
await heartbeat.start();

worker = new Worker(config.queue, {
  jobs: [...jobs.values()],
  connection: { url: config.redisUrl },
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
// What an operator must hear about without turning on debug logs: work that failed, was lost or ran twice.
worker.on('failed', (job, error) => log(`job ${job?.id} (${job?.name}) failed: ${error.message}`));
worker.on('lockLost', (job) => log(`job ${job.id} (${job.name}): lock lost, another worker owns it now; stopped without writing`));
worker.on('stalledRun', (job, state) =>
  log(`job ${job.id} (${job.name}): its previous run ended without an outcome (stall ${state.timesStalled} in all); resuming after cursor ${JSON.stringify(state.cursor)}`),
);
worker.on('abandoned', (job, reason) => {
  abandoned++;
  log(`job ${job.id} (${job.name}): not handed back (${reason}); it resumes from its last checkpoint once its lock expires`);
});
await worker.start();
log(`started: queue "${config.queue}", concurrency ${config.concurrency}, jobs ${[...jobs.keys()].join(', ')}`);
send({ type: 'ready', jobs: [...jobs.keys()] });
if (stopRequest) stopping ??= stop(worker);
await stopping;
