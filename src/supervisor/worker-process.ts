/**
 * Entry point of a worker process forked by the supervisor. It owns this process's signals: TERM/INT stop it
 * gracefully (hooks, checkpoints, jobs back to the queue, exit 0); QUIT, which the supervisor sends to escalate,
 * stops it at once.
 */
import { IterationWorker } from '../bullmq/index.js';
import { loadJobs } from '../cli/load-jobs.js';
import { createRedis } from '../cli/redis.js';
import { trapStopSignals, type StopSignal } from '../signals.js';
import { Heartbeat } from './heartbeat.js';
import { createLogger, logHookErrors } from './log.js';
import { WORKER_CONFIG_ENV, type WorkerMessage, type WorkerProcessConfig } from './messages.js';

const config = JSON.parse(process.env[WORKER_CONFIG_ENV] ?? 'null') as WorkerProcessConfig | null;
if (!config) {
  process.stderr.write(`job-iteration worker: ${WORKER_CONFIG_ENV} is not set; this file is started by \`job-iteration work\`.\n`);
  process.exit(2);
}
const log = createLogger('worker', config.quiet);
const send = (message: WorkerMessage) => {
  if (process.connected) process.send?.(message);
};
logHookErrors(log);

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
// taking jobs with no one to stop it, so it stops gracefully, as on TERM.
process.on('disconnect', () => {
  log('supervisor is gone (IPC channel closed)');
  requestStop('SIGTERM', false);
});

function requestStop(signal: StopSignal, urgent: boolean): void {
  if (stopRequest && !(urgent && !stopRequest.urgent)) {
    log(`${signal} received again; already stopping`);
    return;
  }
  stopRequest = { signal, urgent };
  if (worker) stopping = stop(worker, signal, urgent);
}

async function stop(w: IterationWorker, signal: StopSignal, urgent: boolean): Promise<void> {
  const active = w.activeCount;
  log(`${signal}: ${urgent ? 'stopping now' : 'stopping'}; ${active} active job(s) ${urgent ? 'return to the queue from their last finished item' : 'checkpoint after their current item and return to the queue'}`);
  send({ type: 'stopping', signal, urgent, active });
  const started = performance.now();
  // stop() fires onWorkerStop (the worker-stop flag flips), closes the BullMQ worker, then fires onWorkerExit.
  await w.stop(signal, { urgent });
  const requeued = w.requeuedOnClose;
  await heartbeat?.stop();
  await redis?.quit().catch(() => undefined);
  const code = urgent ? 130 : 0;
  log(`stopped in ${Math.round(performance.now() - started)} ms; ${requeued} job(s) returned to the queue; exiting ${code}`);
  send({ type: 'stopped', urgent, requeued });
  process.exit(code);
}

let heartbeat: Heartbeat | undefined;
let redis: ReturnType<typeof createRedis> | undefined;

const jobs = await loadJobs(config.modules);
redis = createRedis(config.redisUrl);
heartbeat = new Heartbeat(redis, config.queue, 'worker', config.heartbeatMs, process.ppid);
await heartbeat.start();

worker = new IterationWorker(config.queue, {
  jobs: [...jobs.values()],
  connection: { url: config.redisUrl },
  concurrency: config.concurrency,
  handleSignals: false,
  autorun: false,
  ...(config.lockDuration !== undefined ? { lockDuration: config.lockDuration } : {}),
  ...(config.stalledInterval !== undefined ? { stalledInterval: config.stalledInterval } : {}),
  ...(config.checkpointIntervalMs !== undefined ? { checkpointIntervalMs: config.checkpointIntervalMs } : {}),
});
await worker.start();
log(`started: queue "${config.queue}", concurrency ${config.concurrency}, jobs ${[...jobs.keys()].join(', ')}`);
send({ type: 'ready', jobs: [...jobs.keys()] });
if (stopRequest) stopping = stop(worker, stopRequest.signal, stopRequest.urgent);
await stopping;
