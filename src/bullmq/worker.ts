import { EventEmitter } from 'node:events';
import { DelayedError, UnrecoverableError, WaitingError, type Job } from 'bullmq';
import createDebug from 'debug';
import { assertDuration } from '../config.js';
import { resolveCheckpointInterval } from '../checkpoint-interval.js';
import { InvalidCursorError, InvalidOptionError, JobIterationError, UnknownJobError } from '../errors.js';
import { JobCancelledError, JobStalledError, LockLostError } from './errors.js';
import { events } from '../events.js';
import { InterruptionAdapters, type InterruptionAdapterFn } from '../interruption.js';
import { WORKER_STOP_ADAPTER } from '../../adapters/worker-stop.js';
import { countItems, isIterableJobClass, jobNameOf, type IterableJobClass } from '../iterable-job.js';
import { lifecycle } from '../lifecycle.js';
import { runInline, type RunResult } from '../runner.js';
import { shareStopSignals } from '../signals.js';
import { newState, type JobState } from '../state.js';
import { GuardedWorker } from './bull-worker.js';
import { holdsLock, parseStoredJob, persistFenced, readControl, readStoredFields, resolveConnection } from './redis.js';
import { ActiveRun, Released } from './active-run.js';
import {
  CONTROL_ADAPTER,
  PARK_DELAY_MS,
  PAUSE_REASON,
  type CloseOptions,
  type InterruptionInfo,
  type IterationProgress,
  type IterationResult,
  type IterationWorkerEvents,
  type IterationWorkerOptions,
} from './options.js';

const log = createDebug('job-iteration:bullmq');
const logControl = createDebug('job-iteration:bullmq:control');

const FORWARDED = ['active', 'completed', 'failed', 'stalled', 'ready', 'drained', 'closing', 'closed', 'progress'] as const;

/**
 * A BullMQ worker for `IterableJob`s. Each job checkpoints its cursor into its own data while it runs; on
 * `close()` every running job stops at its next checkpoint and goes back to the queue under the same id, so the
 * worker closes within about one iteration and the next worker resumes the job.
 */
export class IterationWorker extends EventEmitter {
  /** The BullMQ worker underneath. */
  readonly bullWorker: GuardedWorker;
  readonly name: string;
  readonly #routes = new Map<string, IterableJobClass>();
  readonly #active = new Map<string, ActiveRun>();
  readonly #checkpointIntervalMs: number | undefined;
  readonly #interruptDelay: IterationWorkerOptions['interruptDelayMs'];
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
  readonly #maxStalledCount: number;
  readonly #closeTimeoutMs: number;
  /** After a pause between two items longer than this, a run confirms it still holds its job's lock before going on. */
  readonly #freezeMs: number;
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
      ...bullOptions
    } = options ?? ({} as IterationWorkerOptions);
    if (!Array.isArray(jobs) || jobs.length === 0) {
      throw new InvalidOptionError('jobs', jobs, 'a non-empty array of IterableJob classes');
    }
    for (const JobClass of jobs) {
      if (!isIterableJobClass(JobClass)) throw new InvalidOptionError('jobs', JobClass, 'IterableJob subclasses only');
      const name = jobNameOf(JobClass);
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
    this.#maxStalledCount = maxStalledCount;
    this.#closeTimeoutMs = closeTimeoutMs;
    this.#freezeMs = (bullOptions.lockDuration ?? 30_000) / 2;
    this.name = queueName;
    this.#checkpointIntervalMs = checkpointIntervalMs;
    this.#interruptDelay = interruptDelayMs;
    this.#controlPollMs = controlPollIntervalMs;

    // Before anything opens a socket: a constructor that throws must leave nothing behind.
    if (handleSignals) {
      this.#signals = shareStopSignals({
        graceful: (signal) => void this.stop(signal).catch((error) => log('graceful stop failed: %O', error)),
        urgent: (signal) => void this.stop(signal, { urgent: true }).catch((error) => log('urgent stop failed: %O', error)),
      });
    }

    // Three declared parameters: BullMQ creates the per-job AbortController only for processors that take one.
    const processor = (job: Job, token: string | undefined, signal: AbortSignal | undefined) => this.#process(job, token!, signal);
    this.bullWorker = new GuardedWorker(queueName, processor, {
      ...bullOptions,
      maxStalledCount,
      connection: resolveConnection(connection),
      autorun: false,
    });
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
        const run = this.#active.get(id);
        if (run) run.lockLost = true;
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
    this.#controlTimer ??= setInterval(() => void this.#pollControl(), this.#controlPollMs);
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
    const handbacks = Promise.all([...this.#active.values()].map((run) => this.#urgentHandback(run)));
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
    for (const run of this.#active.values()) {
      if (run.released) continue;
      log('%s %s: Redis unreachable for %d ms; leaving the job to resume from its last checkpoint', this.name, run.job.id, this.#closeTimeoutMs);
      this.emit('abandoned', run.job, `Redis unreachable for ${this.#closeTimeoutMs} ms during close`);
      run.released = true;
      run.urgent.abort(new Error('Redis unreachable during close'));
      run.release(new Released());
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
    // The saved state and any request made while the job waited, in one round trip, before any work starts.
    const [fields] = await readStoredFields(this.bullWorker, [job.id!]);
    let stored: ReturnType<typeof parseStoredJob>;
    try {
      stored = parseStoredJob(job, jobName, fields?.state, this.bullWorker.unreadableData(job));
    } catch (error) {
      // Data that cannot be read will not read better on the next attempt: fail now, and leave it exactly as it is
      // for a person to look at. Nothing is written.
      log('%s %s: %s', this.name, job.id, (error as Error).message);
      throw permanentFailure(error as JobIterationError);
    }
    const run = new ActiveRun(job, token, JobClass, jobName, stored.params, stored.state ?? newState<unknown>(jobName));
    run.control = fields?.control;
    this.#active.set(job.id!, run);
    try {
      const body = this.#execute(run, bullSignal).catch((error) => {
        // Taken over by an urgent close, which aborts the run before it hands the job back: the processor returns
        // when the hand-back is done, not before, or BullMQ's close could drop the connection under it.
        if (run.released) return run.releasedPromise;
        throw error;
      });
      // An urgent close may stop waiting for the body; it must still never surface as an unhandled rejection.
      body.catch(() => undefined);
      return await Promise.race([body, run.releasedPromise]);
    } finally {
      this.#active.delete(job.id!);
      if (this.#active.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  async #execute(run: ActiveRun, bullSignal: AbortSignal | undefined): Promise<IterationResult> {
    const { job, JobClass, params } = run;
    if (this.bullWorker.closing) {
      // Fetched just before the close: give it back untouched rather than run one item of it.
      await this.#handOver(run, job.moveToWait(run.token), 'give back a job fetched during the close');
      this.#requeuedOnClose++;
      throw new WaitingError();
    }
    const pending = run.control;
    if (pending === 'cancel') return this.#cancel(run, structuredClone(run.initialState));
    if (pending === 'pause') return this.#park(run, undefined);

    run.total = await countItems(run.instance, params);
    // An urgent close may have taken the job over during the awaits above; it owns the job now.
    if (run.released) throw new Released();
    await this.#claim(run);
    if (run.released) throw new Released();
    run.runStartedAt = performance.now();
    const signal = bullSignal ? AbortSignal.any([bullSignal, run.urgent.signal]) : run.urgent.signal;
    let lastItemAt = Date.now();
    const control: InterruptionAdapterFn = () => {
      if (run.lockLost) return 'lock lost';
      if (run.control === 'cancel') return 'cancel requested';
      if (run.control === 'pause') return PAUSE_REASON;
      const now = Date.now();
      const gap = now - lastItemAt;
      lastItemAt = now;
      // A pause this long (SIGSTOP, a suspended VM, an item that blocked the event loop) may have outlasted the
      // lock, and another worker may already be running the job: make sure before doing one more item.
      return gap > this.#freezeMs ? this.#confirmLock(run) : false;
    };

    const checkpointIntervalMs = resolveCheckpointInterval({ JobClass, worker: this.#checkpointIntervalMs });
    let result: RunResult<unknown>;
    run.started = true;
    try {
      result = await runInline(JobClass, params, {
        job: run.instance,
        state: run.initialState,
        persist: (state) => {
          // Progress past the point of the last stall, or a clean end, clears the run of stalls without progress.
          if (state.stallsWithoutProgress && (state.status === 'interrupted' || state.status === 'completed' || state.iterations > run.runStartIterations)) {
            state.stallsWithoutProgress = 0;
          }
          return this.#persist(run, state as JobState<unknown>, false);
        },
        observe: (state) => {
          run.live = state as JobState<unknown>;
        },
        checkpointIntervalMs,
        // After a stall, every item is saved for one interval: a job that died only because another job's item
        // killed the process shows progress at once, while a poison item is left right after the saved cursor.
        eagerCheckpointMs: run.initialState.stallsWithoutProgress ? checkpointIntervalMs : 0,
        signal,
        runtime: { kind: 'bullmq', worker: this.bullWorker, job, iterationWorker: this },
        // This worker's own closing flag (the `bullmq` adapter) stops its jobs; the process-wide `worker-stop` flag
        // would let one worker's stop reach every other worker in the process.
        adapters: InterruptionAdapters.list().filter((name) => name !== WORKER_STOP_ADAPTER),
        localAdapters: { [CONTROL_ADAPTER]: control },
        jobId: job.id,
      });
    } catch (error) {
      run.settled = true;
      if (run.released) throw new Released();
      return this.#failed(run, error);
    }
    run.settled = true;
    if (run.released) throw new Released();
    if (result.status === 'completed') {
      const { state } = result;
      return { iterations: state.iterations, cursor: state.cursor ?? null, totalTimeMs: state.totalTimeMs, timesInterrupted: state.timesInterrupted };
    }

    const interruption = result.interruption!;
    if (run.control === 'cancel') return this.#cancel(run, result.state);
    if (run.control === 'pause') return this.#park(run, result.state);
    if (bullSignal?.aborted && !run.urgent.signal.aborted) {
      // BullMQ's own cancelJob(): fail this attempt as BullMQ does; the saved cursor makes a retry resume.
      const reason: unknown = bullSignal.reason;
      throw reason instanceof Error ? reason : new Error(typeof reason === 'string' ? reason : 'job aborted by worker.cancelJob()');
    }
    return this.#handBack(run, result.state, interruption);
  }

  /**
   * Takes the job for this run: a saved state still marked `running` means the run before this one ended without
   * an outcome (its worker crashed, was killed, froze past its lock or lost it), which is counted as a stall. A job
   * that stalls more than `maxStalledCount` times in a row without progress fails with `JobStalledError`: the item
   * after its cursor most likely crashes or blocks its worker every time. The state is then written as `running`,
   * so the next pickup can tell whether this run ended well, and BullMQ's own stall counter is reset: from here on
   * stalls are counted in the state, across checkpoints.
   */
  async #claim(run: ActiveRun): Promise<void> {
    const state = run.initialState;
    if (state.status === 'running') {
      state.timesStalled = (state.timesStalled ?? 0) + 1;
      state.stallsWithoutProgress = (state.stallsWithoutProgress ?? 0) + 1;
      log('%s %s: the previous run ended without an outcome (stall %d in a row); resuming after cursor %j', this.name, run.job.id, state.stallsWithoutProgress, state.cursor);
      this.emit('stalledRun', run.job, structuredClone(state));
      if (state.stallsWithoutProgress > this.#maxStalledCount) {
        const error = new JobStalledError(run.jobName, run.job.id!, state.cursor, state.stallsWithoutProgress, this.#maxStalledCount);
        state.status = 'failed';
        state.lastError = error.message;
        state.updatedAt = new Date().toISOString();
        await this.#persistOwned(run, state, true);
        log('%s %s: %s', this.name, run.job.id, error.message);
        throw permanentFailure(error);
      }
    }
    state.status = 'running';
    state.updatedAt = new Date().toISOString();
    await this.#persistOwned(run, state);
  }

  /** `#persist`, where a refused write ends the run as one whose job another worker owns now. */
  async #persistOwned(run: ActiveRun, state: JobState<unknown>, force = false): Promise<void> {
    try {
      await this.#persist(run, state, false, force);
    } catch (error) {
      if (error instanceof LockLostError) this.#lockLost(run);
      throw error;
    }
  }

  /** Checks, after the process was frozen, that this worker still holds the job's lock. */
  async #confirmLock(run: ActiveRun): Promise<false | string> {
    if (await holdsLock(this.bullWorker, run.job.id!, run.token)) return false;
    run.lockLost = true;
    return 'lock lost';
  }

  /** Saves a checkpoint, fenced by the job's lock token. Writes the state alone: params are never rewritten. */
  async #persist(run: ActiveRun, state: JobState<unknown>, clearControl: boolean, force = false): Promise<void> {
    if (run.released && !force) return;
    const json = JSON.stringify(state);
    if (json === run.persistedJson && !clearControl) return;
    const progress = this.#progress(run, state);
    const { ok, control } = await persistFenced(this.bullWorker, run.job.id!, {
      token: run.token,
      state: json,
      progress: JSON.stringify(progress),
      clearControl,
    });
    if (!ok) {
      run.lockLost = true;
      throw new LockLostError(run.jobName, run.job.id!);
    }
    run.persistedJson = json;
    run.controlReadAt = Date.now();
    if (control !== run.control) logControl('%s %s: control request %s', this.name, run.job.id, control ?? 'cleared');
    run.control = control;
    run.job.progress = progress as unknown as object;
    // The Lua script already published BullMQ's progress event on the queue's stream; this is the local one.
    this.bullWorker.emit('progress', run.job, progress as unknown as object);
  }

  #progress(run: ActiveRun, state: JobState<unknown>): IterationProgress {
    const progress: IterationProgress = {
      cursor: state.cursor ?? null,
      iterations: state.iterations,
      elapsedMs: state.totalTimeMs,
      timesInterrupted: state.timesInterrupted,
      status: state.status,
      updatedAt: state.updatedAt ?? new Date().toISOString(),
    };
    if (run.total !== undefined) {
      progress.total = run.total;
      progress.percentage = run.total > 0 ? Math.min(100, Math.round((state.iterations / run.total) * 10000) / 100) : 100;
      const done = state.iterations - run.runStartIterations;
      const elapsed = performance.now() - run.runStartedAt;
      if (state.status === 'completed') progress.etaMs = 0;
      else if (done > 0) progress.etaMs = Math.max(0, Math.round((elapsed / done) * (run.total - state.iterations)));
    }
    return progress;
  }

  /** The run threw: save the last good cursor (fenced) and let BullMQ's attempts/backoff decide. */
  async #failed(run: ActiveRun, error: unknown): Promise<never> {
    if (error instanceof LockLostError || run.lockLost) return this.#lockLost(run);
    // A saved cursor the job refuses will be refused by every retry: fail for good, the state left as it is.
    if (error instanceof InvalidCursorError) {
      log('%s %s: %s', this.name, run.job.id, error.message);
      throw permanentFailure(error);
    }
    const state = (error as { state?: JobState<unknown> } | null)?.state;
    if (state) {
      try {
        await this.#persist(run, state, false);
      } catch (persistError) {
        if (persistError instanceof LockLostError) return this.#lockLost(run);
        log('%s %s: could not save the state of a failed run: %O', this.name, run.job.id, persistError);
      }
    }
    throw error;
  }

  /** Awaits the move that hands a job back (to wait, delayed, parked); a refused move means another worker owns it. */
  async #handOver(run: ActiveRun, move: Promise<unknown>, what: string): Promise<void> {
    run.handback = move;
    try {
      await move;
    } catch (error) {
      log('%s %s: could not %s: %O', this.name, run.job.id, what, error);
      this.#lockLost(run);
    }
  }

  #lockLost(run: ActiveRun): never {
    const error = new LockLostError(run.jobName, run.job.id!);
    this.#lostLocks++;
    log('%s %s: %s', this.name, run.job.id, error.message);
    this.emit('lockLost', run.job, error);
    // DelayedError tells BullMQ that the processor already dealt with the job: it must not move a job it no
    // longer owns (that would fail with a lock mismatch, or worse, fail the job under its new owner).
    throw new DelayedError(error.message);
  }

  #delayFor(info: InterruptionInfo, job: Job): number {
    const delay = typeof this.#interruptDelay === 'function' ? this.#interruptDelay(info, job) : this.#interruptDelay ?? 0;
    return Number.isFinite(delay) && delay > 0 ? delay : 0;
  }

  /** Puts an interrupted job back in the queue under the same id. Its state was saved by the run's last checkpoint. */
  async #handBack(run: ActiveRun, state: JobState<unknown>, interruption: { adapter: string; reason: string }): Promise<never> {
    const { job, token } = run;
    const workerStopping = Boolean(this.bullWorker.closing) || this.closing !== undefined;
    const info: InterruptionInfo = { ...interruption, workerStopping };
    const delayMs = this.#delayFor(info, job);
    // A deploy sends the job to the front of the queue, to be resumed first by the next worker; its own budget or a
    // throttle sends it behind the jobs already waiting.
    const toFront = delayMs === 0 && workerStopping;
    await this.#handOver(run, toFront ? job.moveToWait(token) : job.moveToDelayed(Date.now() + delayMs, token), 'move the interrupted job back');
    if (workerStopping) this.#requeuedOnClose++;
    log('%s %s: interrupted by %s (%s) at cursor %j; back in the queue (delay %d ms)', this.name, job.id, info.adapter, info.reason, state.cursor, delayMs);
    this.emit('interrupted', job, { ...info, delayMs, state: structuredClone(state) });
    throw toFront ? new WaitingError() : new DelayedError();
  }

  /** Runs `onCancel`, records the job as cancelled and fails it without retries. */
  async #cancel(run: ActiveRun, state: JobState<unknown>): Promise<never> {
    const { job, jobName, params } = run;
    const pending = (async () => {
      const { instance } = run;
      try {
        await instance.onCancel?.(params);
      } catch (error) {
        events.emit('hook:error', { hook: 'onCancel', error });
      }
      // Cancelled before its run started: no run will call onShutdown, so what the job opened is released here.
      if (!run.started) {
        try {
          await instance.onShutdown?.(params);
        } catch (error) {
          events.emit('hook:error', { hook: 'onShutdown', error });
        }
      }
      state.status = 'cancelled';
      state.updatedAt = new Date().toISOString();
      await this.#persist(run, state, true, true);
    })();
    run.handback = pending;
    try {
      await pending;
    } catch (error) {
      if (error instanceof LockLostError) return this.#lockLost(run);
      throw error;
    }
    const cancelled = new JobCancelledError(jobName, job.id);
    log('%s %s: cancelled at cursor %j', this.name, job.id, state.cursor);
    this.emit('cancelled', job, structuredClone(state));
    throw permanentFailure(cancelled);
  }

  /** Parks a paused job in the delayed set until `resumeJob`. */
  async #park(run: ActiveRun, state: JobState<unknown> | undefined): Promise<never> {
    const { job, token } = run;
    await this.#handOver(run, job.moveToDelayed(Date.now() + PARK_DELAY_MS, token), 'park the paused job');
    // resumeJob clears the request and then promotes a delayed job; if it looked while the job was still
    // active, only this look sees the cleared request, so one of the two always promotes it.
    const [still] = await readControl(this.bullWorker, [job.id!]);
    if (still !== 'pause') await job.promote().catch(() => undefined);
    log('%s %s: paused and parked%s', this.name, job.id, still === 'pause' ? '' : ' (resumed meanwhile, promoted)');
    this.emit('parked', job, state && structuredClone(state));
    throw new DelayedError();
  }

  /** Urgent close: save the last finished cursor and move the job back now, without waiting for the item in flight. */
  async #urgentHandback(run: ActiveRun): Promise<void> {
    // A run that has settled, started its own hand-back or already saved its final state is a Redis round trip
    // from done; taking it over now could record a completed job as interrupted.
    if (run.released || run.settled || run.handback || (run.live && run.live.status !== 'running')) return;
    run.released = true;
    const { job, token } = run;
    const state = structuredClone(run.live ?? run.initialState) as JobState<unknown>;
    const now = new Date().toISOString();
    state.status = 'interrupted';
    state.timesInterrupted++;
    state.lastInterruption = { adapter: 'bullmq', reason: 'urgent stop', at: now };
    state.updatedAt = now;
    const info: InterruptionInfo = { adapter: 'bullmq', reason: 'urgent stop', workerStopping: true };
    const delayMs = this.#delayFor(info, job);
    // Abort before the job goes back: once it is in the queue another worker may start it, and the item in flight
    // here must already have been told to stop.
    run.urgent.abort(new Error('urgent stop'));
    try {
      await this.#persist(run, state, false, true);
      if (delayMs === 0) await job.moveToWait(token);
      else await job.moveToDelayed(Date.now() + delayMs, token);
      this.#requeuedOnClose++;
      this.emit('interrupted', job, { ...info, delayMs, state });
    } catch (error) {
      if (error instanceof LockLostError) this.emit('lockLost', job, error);
      // Otherwise the job stays active with its lock; stalled-job recovery hands it on from the last checkpoint.
      log('%s %s: urgent hand-back failed: %O', this.name, job.id, error);
    } finally {
      run.release(new Released());
    }
  }

  async #pollControl(): Promise<void> {
    // One poll at a time: while Redis is slow or down, polls must not pile up behind each other.
    if (this.#polling) return;
    const due = [...this.#active.values()].filter((run) => !run.released && Date.now() - run.controlReadAt >= this.#controlPollMs);
    if (due.length === 0) return;
    this.#polling = true;
    try {
      const controls = await readControl(this.bullWorker, due.map((run) => run.job.id!));
      const now = Date.now();
      due.forEach((run, i) => {
        run.control = controls[i];
        run.controlReadAt = now;
      });
    } catch (error) {
      log('%s: control poll failed: %O', this.name, error);
    } finally {
      this.#polling = false;
    }
  }
}

/**
 * The error that fails a job for good, whatever attempts it has left. Its message leads with the code, because the
 * message is all BullMQ keeps (`failedReason`) and the code is what a person or a script looks for.
 */
function permanentFailure(error: JobIterationError): UnrecoverableError {
  return Object.assign(new UnrecoverableError(`${error.code}: ${error.message}`), { code: error.code, cause: error });
}
