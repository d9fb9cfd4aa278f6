import { EventEmitter } from 'node:events';
import { Backoffs, type Job } from 'bullmq';
import createDebug from 'debug';
import { assertDuration } from '../config.js';
import { resolveCheckpointInterval } from '../checkpoint-interval.js';
import { InvalidOptionError, UnknownJobError, type JobIterationError } from '../errors.js';
import { assertRunnableJob, isIterableJobClass, jobNameOf, type IterableJobClass } from '../iterable-job.js';
import { lifecycle } from '../lifecycle.js';
import { shareStopSignals } from '../signals.js';
import { newState } from '../state.js';
import type { JobStore } from '../store/job-store.js';
import { postgresConnectionOf, storeFor } from './backend.js';
import { GuardedWorker } from './bull-worker.js';
import { parentDataOf } from './partition-data.js';
import { finishParent } from './partition-parent.js';
import { JobExecution, permanentFailure, type ExecutionHost } from './execution.js';
import { assertClusterPrefix, parseStoredJob, resolveConnection, type IterationConnection } from './redis.js';
import { telemetryFor, type WorkerTelemetry } from './telemetry.js';
import type { CloseOptions, IterationResult, IterationWorkerEvents, IterationWorkerOptions } from './options.js';

const log = createDebug('job-iteration:bullmq');

/**
 * How long a job that stalled before waits while another such job runs on this worker. Long enough for the one
 * running to show progress with its first items (it saves every item after a stall) or to crash alone.
 */
const QUARANTINE_MS = 1000;

const FORWARDED = ['active', 'completed', 'failed', 'stalled', 'ready', 'drained', 'closing', 'closed', 'progress'] as const;

/**
 * A BullMQ worker for `IterableJob`s. Each job checkpoints its cursor into its own data while it runs; on
 * `close()` every running job stops at its next checkpoint and goes back to the queue under the same id, so the
 * worker closes within about one iteration and the next worker resumes the job.
 */
export class IterationWorker extends EventEmitter {
  /** The BullMQ worker underneath. */
  readonly bullWorker: GuardedWorker;
  readonly #store: JobStore;
  readonly name: string;
  readonly #routes = new Map<string, IterableJobClass>();
  readonly #active = new Map<string, JobExecution>();
  /** What each job's execution needs of this worker. */
  readonly #host: ExecutionHost;
  readonly #controlPollMs: number;
  #controlTimer: NodeJS.Timeout | undefined;
  #started: Promise<void> | undefined;
  #graceful: Promise<void> | undefined;
  #urgent: Promise<void> | undefined;
  #exit: Promise<void> | undefined;
  #stopHooks: Promise<void> | undefined;
  #polling = false;
  #signals: { release(): void } | undefined;
  #requeuedOnClose = 0;
  #lostLocks = 0;
  readonly #closeTimeoutMs: number;
  /** Spans and metrics of the runs, through the `telemetry` option that BullMQ gets too; no-ops without it. */
  readonly #telemetry: WorkerTelemetry;
  /** Resolved whenever the last running job leaves. */
  #idle: (() => void)[] = [];

  constructor(queueName: string, options: IterationWorkerOptions) {
    super();
    const {
      jobs,
      connection,
      handleSignals = true,
      checkpointIntervalMs,
      interruptDelayMs = 0,
      controlPollIntervalMs = 1000,
      autorun = true,
      maxStalledCount = 3,
      closeTimeoutMs = 5000,
      backend,
      ...bullOptions
    } = options ?? ({} as IterationWorkerOptions);
    if (!Array.isArray(jobs) || jobs.length === 0) {
      throw new InvalidOptionError('jobs', jobs, 'a non-empty array of IterableJob classes');
    }
    for (const JobClass of jobs) {
      if (!isIterableJobClass(JobClass)) throw new InvalidOptionError('jobs', JobClass, 'IterableJob subclasses only');
      // Checked whole here, not at its first job: a class no run could use is a mistake in the worker's setup.
      const name = assertRunnableJob(JobClass);
      if (this.#routes.has(name) && this.#routes.get(name) !== JobClass) {
        throw new InvalidOptionError('jobs', JobClass, `classes with distinct job names ("${name}" is taken twice)`);
      }
      this.#routes.set(name, JobClass);
    }
    if (checkpointIntervalMs !== undefined) assertDuration('checkpointIntervalMs', checkpointIntervalMs);
    if (typeof interruptDelayMs !== 'function') assertDuration('interruptDelayMs', interruptDelayMs);
    if (!(typeof controlPollIntervalMs === 'number' && controlPollIntervalMs >= 10 && Number.isFinite(controlPollIntervalMs))) {
      throw new InvalidOptionError('controlPollIntervalMs', controlPollIntervalMs, 'a number of milliseconds >= 10');
    }
    if (!(Number.isSafeInteger(maxStalledCount) && maxStalledCount >= 0)) {
      throw new InvalidOptionError('maxStalledCount', maxStalledCount, 'an integer >= 0');
    }
    assertDuration('closeTimeoutMs', closeTimeoutMs);
    this.#closeTimeoutMs = closeTimeoutMs;
    this.name = queueName;
    this.#controlPollMs = controlPollIntervalMs;

    // Everything that can throw comes before anything that would outlive a failed constructor: the connection is
    // checked first, the signals are shared before any socket opens, and a worker that fails to build releases them.
    // A postgres URL, pool or config puts the worker on BullMQ's PostgreSQL backend; anything else is Redis.
    const postgres = postgresConnectionOf(connection, backend);
    const bullConnection = postgres ? postgres.connection : resolveConnection(connection as IterationConnection | undefined);
    assertClusterPrefix(bullConnection, bullOptions.prefix);
    if (handleSignals) {
      this.#signals = shareStopSignals({
        graceful: (signal) => void this.stop(signal).catch((error) => log('graceful stop failed: %O', error)),
        urgent: (signal) => void this.stop(signal, { urgent: true }).catch((error) => log('urgent stop failed: %O', error)),
      });
    }

    // Three declared parameters: BullMQ creates the per-job AbortController only for processors that take one.
    const processor = (job: Job, token: string | undefined, signal: AbortSignal | undefined) => this.#process(job, token!, signal);
    try {
      this.bullWorker = new GuardedWorker(
        queueName,
        processor as never,
        { ...bullOptions, maxStalledCount, connection: bullConnection as never, autorun: false },
        postgres?.factory,
      );
    } catch (error) {
      this.#signals?.release();
      throw error;
    }
    this.#store = storeFor(this.bullWorker);
    this.#telemetry = telemetryFor(queueName, bullOptions.telemetry);
    const bullWorker = this.bullWorker;
    this.#host = {
      queueName,
      store: this.#store,
      maxStalledCount,
      // After a pause between two items longer than this, a run confirms it still holds its job's lock.
      freezeMs: (bullOptions.lockDuration ?? 30_000) / 2,
      checkpointIntervalFor: (JobClass) => resolveCheckpointInterval({ JobClass, worker: checkpointIntervalMs }),
      stopping: () => Boolean(bullWorker.closing) || this.closing !== undefined,
      delayFor: (info, job) => {
        const delay = typeof interruptDelayMs === 'function' ? interruptDelayMs(info, job) : Math.max(interruptDelayMs, info.retryAfterMs ?? 0);
        return Number.isFinite(delay) && delay > 0 ? delay : 0;
      },
      firstRetryDelayFor: async (job, error) => {
        // The delay BullMQ would wait before the job's first retry: its own backoff option and this worker's custom
        // strategy (which may answer with a promise, or -1 for "do not retry": the error is then a failed attempt).
        if (job.opts.backoff === undefined) return 0;
        let delay: unknown;
        try {
          delay = await Backoffs.calculate(Backoffs.normalize(job.opts.backoff)!, 1, error as Error, job, bullOptions.settings?.backoffStrategy);
        } catch (backoffError) {
          // An unknown strategy fails the job's own retries in BullMQ too: the error stands as a failed attempt.
          log('%s %s: backoff could not be computed: %O', queueName, job.id, backoffError);
          return undefined;
        }
        if (typeof delay !== 'number' || !Number.isFinite(delay)) return 0;
        return delay < 0 ? undefined : delay;
      },
      runtimeFor: (job) => ({ kind: 'bullmq', worker: bullWorker, job, iterationWorker: this }),
      // A listener that throws must not change what happens to the job: it is reported, the job goes on.
      emit: (event, ...args) => this.#safeEmit(() => this.emit(event, ...args), event),
      emitProgress: (job, progress) => this.#safeEmit(() => bullWorker.emit('progress', job, progress as unknown as object), 'progress'),
      requeued: () => void this.#requeuedOnClose++,
      lostLock: () => void this.#lostLocks++,
    };
    for (const event of FORWARDED) {
      this.bullWorker.on(event, (...args: unknown[]) => this.emit(event, ...args));
    }
    // Without a listener an 'error' event would throw inside BullMQ; forward only when someone listens.
    this.bullWorker.on('error', (error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
      else log('worker error (add an "error" listener to handle it): %O', error);
    });
    // A failed renewal means another worker may already own the job: stop the run before its next write.
    this.bullWorker.on('lockRenewalFailed', (jobIds) => {
      for (const id of jobIds) {
        this.#active.get(id)?.loseLock();
      }
    });
    if (autorun) this.run().catch((error) => this.bullWorker.emit('error', error));
  }

  /**
   * Fires the `workerStart` hooks and starts taking jobs; resolves once connected to Redis. Only needed with
   * `autorun: false`.
   */
  async start(): Promise<void> {
    const running = this.run();
    running.catch((error) => this.bullWorker.emit('error', error));
    await Promise.race([this.#started, running]);
    await this.bullWorker.waitUntilReady();
  }

  /**
   * Fires the `workerStart` hooks and starts taking jobs. Resolves when the worker has stopped taking jobs.
   * Only needed with `autorun: false`; `start()` is the same but resolves once the worker is up.
   */
  async run(): Promise<void> {
    this.#started ??= lifecycle.fire('workerStart', { reason: `IterationWorker ${this.name}` });
    await this.#started;
    if (this.closing) return;
    this.#controlTimer ??= setInterval(() => {
      this.#telemetry.sample();
      void this.#pollControl();
    }, this.#controlPollMs);
    this.#controlTimer.unref();
    await this.bullWorker.run();
  }

  /** Truthy once a close has begun (graceful or urgent); the `bullmq` adapter reads the BullMQ worker's own flag. */
  get closing(): Promise<void> | undefined {
    return this.#urgent ?? this.#graceful;
  }

  /** Jobs running right now, by id. */
  get activeJobIds(): string[] {
    return [...this.#active.keys()];
  }

  /** How many jobs are running right now. */
  get activeCount(): number {
    return this.#active.size;
  }

  /** Jobs this worker has put back in the queue (with their cursors) since a close began. */
  get requeuedOnClose(): number {
    return this.#requeuedOnClose;
  }

  /**
   * Jobs this worker lost to another worker: its lock expired (the process froze, the event loop was blocked, Redis
   * was unreachable) and the job was taken over. Nothing was written for them once the loss was seen; their new
   * owner resumes them from their last checkpoint and counts the stall in `state.timesStalled`.
   */
  get lostLocks(): number {
    return this.#lostLocks;
  }

  /** The job classes this worker routes to, by job name. */
  get jobNames(): string[] {
    return [...this.#routes.keys()];
  }

  waitUntilReady(): Promise<void> {
    return this.bullWorker.waitUntilReady();
  }

  /**
   * Stops taking jobs and closes: `stop('close()', options)`, so the worker lifecycle hooks fire as they do on a
   * signal. Graceful (default): every running job stops after its current item, saves its cursor and goes back to
   * the queue (same job id); resolves when all of them have. Urgent: see `CloseOptions.urgent`. Calling it again
   * returns the close in flight; an urgent call overtakes a graceful one.
   */
  close(options: CloseOptions = {}): Promise<void> {
    return this.stop('close()', options);
  }

  /** The close itself, without the lifecycle hooks. */
  #close(options: CloseOptions): Promise<void> {
    if (options.urgent || this.#urgent) {
      this.#urgent ??= this.#closeUrgently();
      return this.#urgent;
    }
    this.#graceful ??= this.#closeGracefully();
    return this.#graceful;
  }

  /**
   * What `handleSignals` and `close()` call: fires the `workerStop` hooks, closes, then fires the `workerExit` hooks
   * once the jobs are back in the queue. The close starts right after the hooks are fired, not after they finish,
   * so a slow hook cannot let this worker take new jobs meanwhile. Only this worker's jobs stop: they read its own
   * closing flag, not the process-wide `worker-stop` flag the hooks flip, so other workers in the process go on.
   */
  async stop(reason = 'stop()', options: CloseOptions = {}): Promise<void> {
    // Once per worker: an urgent stop after a graceful one escalates the close, it does not rerun the hooks.
    this.#stopHooks ??= lifecycle.fire('workerStop', { reason, urgent: options.urgent === true });
    const hooks = this.#stopHooks;
    const closed = this.#close(options);
    await hooks;
    await closed;
    this.#exit ??= lifecycle.fire('workerExit', { reason, urgent: options.urgent === true });
    await this.#exit;
  }

  async #closeGracefully(): Promise<void> {
    log('%s: closing gracefully with %d running jobs', this.name, this.#active.size);
    // Setting BullMQ's `closing` is what the `bullmq` adapter of every running job reads.
    const closed = this.bullWorker.close();
    await this.#settle(closed, this.#whenIdle());
  }

  async #closeUrgently(): Promise<void> {
    log('%s: closing urgently with %d running jobs', this.name, this.#active.size);
    // Close first so that no job is fetched once the runs below are released; the connection stays open until
    // the processors return, which the hand-backs below make them do.
    const closed = this.bullWorker.close();
    const handbacks = Promise.all([...this.#active.values()].map((execution) => execution.takeOver()));
    await this.#settle(closed, handbacks.then(() => this.#whenIdle()));
  }

  /**
   * The end of every close, bounded whatever Redis does. First the jobs go back to the queue: that needs Redis, so
   * once Redis has been unreachable for `closeTimeoutMs` in a row the runs still waiting on it are let go (their
   * jobs resume from their last checkpoint once their locks expire). Then BullMQ's own close, which can wait
   * forever on a connection that broke before it began: after `closeTimeoutMs` its sockets are dropped.
   */
  async #settle(closed: Promise<void>, handedBack: Promise<unknown>): Promise<void> {
    closed.catch((error) => log('%s: BullMQ close failed: %O', this.name, error));
    const outage = this.#redisOutage(this.#closeTimeoutMs);
    try {
      await Promise.race([handedBack, outage.promise]);
    } finally {
      outage.cancel();
    }
    const reason = `Redis unreachable for ${this.#closeTimeoutMs} ms during close`;
    for (const execution of this.#active.values()) {
      if (!execution.abandon(reason)) continue;
      log('%s %s: %s; leaving the job to resume from its last checkpoint', this.name, execution.id, reason);
      this.emit('abandoned', execution.job, reason);
    }
    // Every job is back in the queue or let go by now. With Redis unreachable, BullMQ's close has nothing left to
    // write and can only wait on sockets that will not answer: waiting out `closeTimeoutMs` again would hold up a
    // stop for nothing.
    if (!this.bullWorker.connected()) {
      log('%s: Redis unreachable and no job running; dropping the connections without waiting', this.name);
      this.bullWorker.forceDisconnect();
      this.#finish();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      closed.then(() => true, () => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.#closeTimeoutMs))),
    ]);
    clearTimeout(timer);
    if (!finished) {
      log('%s: BullMQ close still pending after %d ms; dropping its connections', this.name, this.#closeTimeoutMs);
      this.bullWorker.forceDisconnect();
    }
    this.#finish();
  }

  #safeEmit(emit: () => boolean, event: string): boolean {
    try {
      return emit();
    } catch (error) {
      log('%s: a "%s" listener threw: %O', this.name, event, error);
      if (event !== 'error' && this.listenerCount('error') > 0) queueMicrotask(() => this.emit('error', error as Error));
      return true;
    }
  }

  /** Resolves once no job is running here. */
  #whenIdle(): Promise<void> {
    if (this.#active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Resolves once the worker's Redis connection has been down for `ms` without a break; `cancel` stops watching. */
  #redisOutage(ms: number): { promise: Promise<void>; cancel(): void } {
    let timer: NodeJS.Timeout | undefined;
    const promise = new Promise<void>((resolve) => {
      let downSince: number | undefined;
      timer = setInterval(() => {
        if (this.bullWorker.connected()) downSince = undefined;
        else if ((downSince ??= Date.now()) + ms <= Date.now()) resolve();
      }, Math.min(100, ms || 1));
    });
    return { promise, cancel: () => clearInterval(timer) };
  }

  #finish(): void {
    if (this.#controlTimer) clearInterval(this.#controlTimer);
    this.#signals?.release();
    this.#signals = undefined;
  }

  override on<K extends keyof IterationWorkerEvents>(event: K, listener: (...args: IterationWorkerEvents[K]) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }

  override once<K extends keyof IterationWorkerEvents>(event: K, listener: (...args: IterationWorkerEvents[K]) => void): this;
  override once(event: string | symbol, listener: (...args: any[]) => void): this;
  override once(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.once(event, listener);
  }

  // ---------------------------------------------------------------------------------------------------------------

  async #process(job: Job, token: string, bullSignal: AbortSignal | undefined): Promise<IterationResult> {
    const JobClass = this.#routes.get(job.name);
    if (!JobClass) throw new UnknownJobError(job.name, [...this.#routes.keys()], `IterationWorker "${this.name}"`);
    const jobName = jobNameOf(JobClass);
    const partitioned = parentDataOf(job.data);
    // A partitioned job's parent runs no item: BullMQ releases it once its partitions are done, and it adds them up.
    if (partitioned) return finishParent(job, this.#store, jobName, partitioned);
    // The saved state and any request made while the job waited, in one round trip, before any work starts.
    const [fields] = await this.#store.read([job.id!]);
    let stored: ReturnType<typeof parseStoredJob>;
    try {
      stored = parseStoredJob(job, jobName, fields?.state, this.bullWorker.unreadableData(job));
    } catch (error) {
      // Data that cannot be read will not read better on the next attempt: fail now, and leave it exactly as it is
      // for a person to look at. Nothing is written.
      log('%s %s: %s', this.name, job.id, (error as Error).message);
      throw permanentFailure(error as JobIterationError);
    }
    const execution = new JobExecution(this.#host, job, token, JobClass, jobName, stored.params, stored.state ?? newState<unknown>(jobName), fields?.control);
    const quarantined = execution.suspect && [...this.#active.values()].some((other) => other.suspect);
    this.#active.set(job.id!, execution);
    try {
      return await this.#telemetry.run(job, jobName, execution.initialState, (run) => {
        execution.telemetry = run;
        return quarantined ? execution.defer(QUARANTINE_MS) : execution.process(bullSignal);
      });
    } finally {
      this.#active.delete(job.id!);
      if (this.#active.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  async #pollControl(): Promise<void> {
    // One poll at a time: while Redis is slow or down, polls must not pile up behind each other.
    if (this.#polling) return;
    const due = [...this.#active.values()].filter((execution) => execution.phase === 'running' && Date.now() - execution.controlReadAt >= this.#controlPollMs);
    if (due.length === 0) return;
    this.#polling = true;
    try {
      const controls = await this.#store.readControl(due.map((execution) => execution.id));
      due.forEach((execution, i) => execution.setControl(controls[i]));
    } catch (error) {
      log('%s: control poll failed: %O', this.name, error);
    } finally {
      this.#polling = false;
    }
  }
}
