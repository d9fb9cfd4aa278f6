import { DelayedError, RateLimitError, UnrecoverableError, WaitingChildrenError, WaitingError, type Job } from 'bullmq';
import createDebug from 'debug';
import { InvalidCursorError, InvalidParamsError, ResumptionLimitError, type JobIterationError } from '../errors.js';
import { events } from '../events.js';
import { InterruptionAdapters, type Interruption, type InterruptionAdapterFn, type InterruptionContext } from '../interruption.js';
import { WORKER_STOP_ADAPTER } from '../../adapters/worker-stop.js';
import { countItems, type IterableJob, type IterableJobClass } from '../iterable-job.js';
import { RunHandle } from '../run-handle.js';
import { runInline, type RunResult } from '../runner.js';
import type { JobState } from '../state.js';
import { asExtent, measureKey, type Extent, type StepPosition } from '../extent.js';
import { StepJob, type StepCursor } from '../steps.js';
import type { ControlRequest, JobStore } from '../store/job-store.js';
import { JobCancelledError, JobStalledError, LockLostError } from './errors.js';
import { partitionOf } from './partition-data.js';
import { CONTROL_ADAPTER, ERROR_AFTER_PROGRESS, PARK_DELAY_MS, PAUSE_REASON, type InterruptionInfo, type IterationProgress, type IterationResult } from './options.js';
import { NO_RUN, type RunTelemetry } from './telemetry.js';

const log = createDebug('job-iteration:bullmq');
const logControl = createDebug('job-iteration:bullmq:control');

/**
 * Where one job's execution is. `starting`: fetched, its request read, counted, claimed. `running`: the engine
 * runs it. `finishing`: the engine has settled, its outcome is being acted on. `handingBack`: it is being moved
 * back to the queue, cancelled or parked. `takenOver`: an urgent close owns it. `lost`: another worker owns it.
 * `done`: the processor is returning.
 */
export type ExecutionPhase = 'starting' | 'running' | 'finishing' | 'handingBack' | 'takenOver' | 'lost' | 'done';

/** Where a job goes back to. */
export type HandBack = { to: 'front' } | { to: 'back'; delayMs: number } | { to: 'parked' };

/** What an execution needs of its worker. */
export interface ExecutionHost {
  readonly queueName: string;
  readonly store: JobStore;
  readonly maxStalledCount: number;
  /** A pause between two items longer than this makes a run confirm it still holds its lock. */
  readonly freezeMs: number;
  checkpointIntervalFor(JobClass: IterableJobClass): number;
  /** Whether the worker is closing (a deploy): interruptions send jobs to the front of the queue. */
  stopping(): boolean;
  delayFor(info: InterruptionInfo, job: Job): number;
  /**
   * What the job's backoff waits before a first retry after `error`: 0 without a backoff, `undefined` when the
   * backoff says not to retry.
   */
  firstRetryDelayFor(job: Job, error: unknown): Promise<number | undefined>;
  /** What adapters receive as `ctx.runtime`. */
  runtimeFor(job: Job): InterruptionContext['runtime'];
  emit(event: string, ...args: unknown[]): boolean;
  /** A local progress event, as BullMQ's own `updateProgress` emits on the worker. */
  emitProgress(job: Job, progress: IterationProgress): void;
  requeued(): void;
  lostLock(): void;
}

/** Rejects when an urgent close has taken the job over; the processor stops waiting for the run then. */
export class TakenOver extends DelayedError {
  constructor() {
    super('handed back to the queue by an urgent close');
  }
}

/** One job this worker runs: its run, its writes, and every way it goes back to the queue. */
export class JobExecution {
  #phase: ExecutionPhase = 'starting';
  /** The one instance of the job class: for `count`, the run itself, `onCancel` and `onShutdown`. */
  readonly instance: IterableJob<any, any, any>;
  /** The engine's side of the run: live state and phase, stop requests, the snapshot an urgent close saves. */
  readonly handle = new RunHandle<unknown>();
  /** Aborts the run's signal when an urgent close takes the job over. */
  readonly #urgent = new AbortController();
  /** Settles once an urgent takeover has handed the job back (or failed to): the processor returns then. */
  readonly #takeover: Promise<never>;
  #endTakeover!: (error: TakenOver) => void;
  control: ControlRequest | undefined;
  controlReadAt = Date.now();
  /** The run's span and metrics; set by the worker when it has a `telemetry` option. */
  telemetry: RunTelemetry = NO_RUN;
  #persistedJson: string | undefined;
  #total: number | undefined;
  /** Items done when the run started: a checkpoint past this point is progress. */
  readonly #startIterations: number;
  /** Its last run ended without an outcome, and this one has not shown progress yet. */
  #suspect: boolean;

  constructor(
    readonly host: ExecutionHost,
    readonly job: Job,
    readonly token: string,
    readonly JobClass: IterableJobClass,
    readonly jobName: string,
    readonly params: unknown,
    readonly initialState: JobState<unknown>,
    control: ControlRequest | undefined,
  ) {
    this.instance = new JobClass();
    this.control = control;
    this.#startIterations = initialState.iterations;
    // Where the last run left it, as it published it: until this run measures itself, the claim republishes that
    // measure (same cursor, same place), and a resumed step job goes on in its step without a new line.
    this.#lastMeasure = asExtent(job.progress);
    this.#stepName = this.#lastMeasure?.step?.name;
    this.#suspect = initialState.status === 'running' || (initialState.stallsWithoutProgress ?? 0) > 0;
    this.#takeover = new Promise<never>((_, reject) => (this.#endTakeover = reject));
    this.#takeover.catch(() => undefined);
  }

  get phase(): ExecutionPhase {
    return this.#phase;
  }

  get id(): string {
    return this.job.id!;
  }

  /**
   * Whether this job is suspected of crashing its worker: its last run ended without an outcome and this run has
   * not saved progress yet. A worker runs one suspect at a time, so that a poison item cannot take the jobs around
   * it down with it again and again until they, too, look like poison.
   */
  get suspect(): boolean {
    return this.#suspect && (this.#phase === 'starting' || this.#phase === 'running');
  }

  /** Puts the job back for `delayMs` without running it or counting anything: another suspect runs here now. */
  async defer(delayMs: number): Promise<never> {
    this.telemetry.outcome('deferred');
    await this.#handBack({ to: 'back', delayMs }, 'defer a job that stalled');
    log('%s %s: stalled before; deferred %d ms while another such job runs here', this.host.queueName, this.id, delayMs);
    throw new DelayedError();
  }

  /** What the processor returns: the run's result, or once an urgent close took the job over, its hand-back. */
  async process(bullSignal: AbortSignal | undefined): Promise<IterationResult> {
    const body = this.#execute(bullSignal).catch((error) => {
      // Taken over by an urgent close, which aborts the run before it hands the job back: the processor returns
      // when the hand-back is done, not before, or BullMQ's close could drop the connection under it.
      if (this.#phase === 'takenOver') return this.#takeover;
      throw error;
    });
    // A takeover may stop waiting for the body; it must still never surface as an unhandled rejection.
    body.catch(() => undefined);
    try {
      return await Promise.race([body, this.#takeover]);
    } finally {
      if (this.#phase !== 'takenOver' && this.#phase !== 'lost') this.#phase = 'done';
    }
  }

  async #execute(bullSignal: AbortSignal | undefined): Promise<IterationResult> {
    const { job, JobClass, params } = this;
    this.#checkpointIntervalMs = this.host.checkpointIntervalFor(JobClass);
    if (this.host.stopping()) {
      // Fetched just before the close: give it back untouched rather than run one item of it.
      this.telemetry.outcome('requeued');
      await this.#handBack({ to: 'front' }, 'give back a job fetched during the close');
      this.host.requeued();
      throw new WaitingError();
    }
    const terminal = this.initialState.status === 'completed' || this.initialState.status === 'cancelled';
    if (this.control === 'pause' && !terminal) return this.#park(undefined);
    if (terminal) {
      // Its outcome was saved, but the worker that saved it died before BullMQ recorded it: the engine returns that
      // outcome without running anything (rewriting it as running here would run onComplete or the job again).
    } else if (this.control === 'cancel') {
      // Cancelled while it waited: the engine runs onCancel and onShutdown, no item and no hook of a run.
      this.handle.cancel('cancel requested');
    } else {
      try {
        this.#total = await countItems(this.instance, params);
        this.#assertOwned();
        await this.#claim();
        this.#assertOwned();
        const resumed = this.initialState.startedAt !== undefined;
        this.host.emit('started', this.job, { resumed, state: structuredClone(this.initialState) });
        // A step job starting a step its last published progress did not show (its first, on a fresh start).
        if (this.instance instanceof StepJob) this.#reached(this.instance.stepAt(this.initialState.cursor as StepCursor | undefined), this.initialState);
        if (resumed) {
          const { cursor, iterations, timesInterrupted } = this.initialState;
          // Not awaited: between the ownership check above and the run, an urgent stop must find this execution
          // starting, with nothing of its own in flight.
          void this.#jobLog(`resumed after cursor ${JSON.stringify(cursor ?? null)} (${iterations} items done, interrupted ${timesInterrupted} time(s))`);
        }
      } catch (error) {
        // No run will start, so no run calls onShutdown: what count() opened in the job's fields is released here.
        await this.#shutdownUnrun();
        throw error;
      }
    }
    const signal = bullSignal ? AbortSignal.any([bullSignal, this.#urgent.signal]) : this.#urgent.signal;
    let lastItemAt = Date.now();
    // Requests and lost locks stop the run through its handle, when they are seen; after every item only the clock
    // is read. A pause this long between items (SIGSTOP, a suspended VM, an item that blocked the event loop) may
    // have outlasted the lock, and another worker may already be running the job: make sure before one more item.
    const frozen: InterruptionAdapterFn = () => {
      const now = Date.now();
      const gap = now - lastItemAt;
      lastItemAt = now;
      return gap > this.host.freezeMs ? this.#confirmLock() : false;
    };

    const checkpointIntervalMs = this.#checkpointIntervalMs;
    let result: RunResult<unknown>;
    this.#phase = 'running';
    try {
      result = await runInline(JobClass, params, {
        job: this.instance,
        state: this.initialState,
        persist: (state) => {
          // Progress past the point of the last stall, or a clean end, clears the run of stalls without progress.
          // Any progress counts, even while the run saves every item after a stall: a healthy job that other faults
          // keep killing must never be taken for poison, and a poison item is pinned by those saves soon enough.
          if (state.iterations > this.#startIterations) this.#suspect = false;
          if (state.stallsWithoutProgress && (state.status === 'interrupted' || state.status === 'completed' || state.iterations > this.#startIterations)) {
            state.stallsWithoutProgress = 0;
          }
          // A cancellation's save also clears the request it acted on.
          return this.#write(state as JobState<unknown>, { clearControl: state.status === 'cancelled' });
        },
        handle: this.handle,
        checkpointIntervalMs,
        // After a stall, every item is saved for two intervals: a job that died only because another job's item
        // killed the process shows progress at once, while a poison item is left right after the saved cursor. The
        // stalled run got at most one interval past its last save; the second covers a run that is now slower (a
        // loaded machine), which would otherwise stop saving every item short of the poison item and count its
        // catching up as progress.
        eagerCheckpointMs: this.initialState.stallsWithoutProgress ? 2 * checkpointIntervalMs : 0,
        signal,
        runtime: this.host.runtimeFor(job),
        // The worker's own closing flag (the `bullmq` adapter) stops its jobs; the process-wide `worker-stop` flag
        // would let one worker's stop reach every other worker in the process.
        adapters: InterruptionAdapters.list().filter((name) => name !== WORKER_STOP_ADAPTER),
        localAdapters: { [CONTROL_ADAPTER]: frozen },
        jobId: job.id,
      });
    } catch (error) {
      this.#settled();
      return this.#failed(error);
    }
    this.#settled();
    if (result.status === 'completed') {
      const { state } = result;
      this.telemetry.outcome('completed');
      return { iterations: state.iterations, cursor: state.cursor ?? null, totalTimeMs: state.totalTimeMs, timesInterrupted: state.timesInterrupted };
    }

    if (result.status === 'cancelled') return this.#cancelled(result.state);
    // Read afresh: the request may have changed while the run went on (TypeScript still sees the check above).
    if (this.#pauseRequested()) return this.#park(result.state);
    if (bullSignal?.aborted && !this.#urgent.signal.aborted) {
      // BullMQ's own cancelJob(): fail this attempt as BullMQ does; the saved cursor makes a retry resume.
      const reason: unknown = bullSignal.reason;
      throw reason instanceof Error ? reason : new Error(typeof reason === 'string' ? reason : 'job aborted by worker.cancelJob()');
    }
    return this.#interrupted(result.state, result.interruption!);
  }

  async #shutdownUnrun(): Promise<void> {
    try {
      await this.instance.onShutdown?.(this.params);
    } catch (error) {
      events.emit('hook:error', { hook: 'onShutdown', error });
    }
  }

  #pauseRequested(): boolean {
    return this.control === 'pause';
  }

  /** The engine run has settled. A takeover that began meanwhile owns the job; a lost lock means another worker does. */
  #settled(): void {
    this.#assertOwned();
    this.#phase = 'finishing';
  }

  #assertOwned(): void {
    if (this.#phase === 'takenOver') throw new TakenOver();
    if (this.#phase === 'lost') this.#lockLost();
  }

  /**
   * Takes the job for this run: a saved state still marked `running` means the run before this one ended without
   * an outcome (its worker crashed, was killed, froze past its lock or lost it), which is counted as a stall. A job
   * that stalls more than `maxStalledCount` times in a row without progress fails with `JobStalledError`: the item
   * after its cursor most likely crashes or blocks its worker every time. The state is then written as `running`,
   * so the next pickup can tell whether this run ended well, and BullMQ's own stall counter is reset: from here on
   * stalls are counted in the state, across checkpoints.
   */
  async #claim(): Promise<void> {
    const state = this.initialState;
    if (state.status === 'running') {
      state.timesStalled = (state.timesStalled ?? 0) + 1;
      state.stallsWithoutProgress = (state.stallsWithoutProgress ?? 0) + 1;
      log('%s %s: the previous run ended without an outcome (stall %d in a row); resuming after cursor %j', this.host.queueName, this.id, state.stallsWithoutProgress, state.cursor);
      this.host.emit('stalledRun', this.job, structuredClone(state));
      if (state.stallsWithoutProgress > this.host.maxStalledCount) {
        const error = new JobStalledError(this.jobName, this.id, state.cursor, state.stallsWithoutProgress, this.host.maxStalledCount);
        state.status = 'failed';
        state.lastError = error.message;
        state.updatedAt = new Date().toISOString();
        await this.#writeOwned(state);
        log('%s %s: %s', this.host.queueName, this.id, error.message);
        throw permanentFailure(error);
      }
    }
    state.status = 'running';
    state.updatedAt = new Date().toISOString();
    await this.#writeOwned(state);
  }

  /** `#write`, where a refused write ends the execution as one whose job another worker owns now. */
  async #writeOwned(state: JobState<unknown>): Promise<void> {
    try {
      await this.#write(state);
    } catch (error) {
      if (error instanceof LockLostError) this.#lockLost();
      throw error;
    }
  }

  /** Records the job's pending request; a cancel or a pause stops its run after the item in flight. */
  setControl(control: ControlRequest | undefined): void {
    if (control !== this.control) logControl('%s %s: control request %s', this.host.queueName, this.id, control ?? 'cleared');
    this.control = control;
    this.controlReadAt = Date.now();
    if (control === 'cancel') this.handle.cancel('cancel requested');
    else if (control === 'pause') this.handle.stop(CONTROL_ADAPTER, PAUSE_REASON);
  }

  /** Another worker may own the job now: the run stops before its next write, and writes nothing more. */
  loseLock(): void {
    if (this.#phase === 'takenOver' || this.#phase === 'done') return;
    this.#phase = 'lost';
    this.handle.stop(CONTROL_ADAPTER, 'lock lost');
  }

  /** Checks, after the process was frozen, that this worker still holds the job's lock. */
  async #confirmLock(): Promise<false | string> {
    if (await this.host.store.holdsLock(this.id, this.token)) return false;
    this.loseLock();
    return 'lock lost';
  }

  /**
   * Saves a checkpoint, fenced by the job's lock token: the state alone, never the params. Nothing is written once
   * the job is taken over, except the takeover's own write.
   */
  async #write(state: JobState<unknown>, options: { clearControl?: boolean; takeover?: boolean } = {}): Promise<void> {
    const { clearControl = false, takeover = false } = options;
    // A job that may be lost is still written to: the lock check refuses the write if it is, and says so.
    if (!takeover && this.#phase === 'takenOver') return;
    const json = JSON.stringify(state);
    if (json === this.#persistedJson && !clearControl) return;
    const progress = this.#progress(state);
    const startedAt = performance.now();
    const { owned, control } = await this.host.store.checkpoint(this.id, this.token, { state: json, progress: JSON.stringify(progress), clearControl });
    if (!owned) {
      this.loseLock();
      throw new LockLostError(this.jobName, this.id);
    }
    this.telemetry.checkpoint(state, performance.now() - startedAt);
    this.#persistedJson = json;
    // A takeover's write acts on no request: a cancel seen here would run onCancel on a job already handed on.
    if (!takeover) this.setControl(control);
    this.job.progress = progress as unknown as object;
    this.#reached(progress.step, state);
    // The Lua script already published BullMQ's progress event on the queue's stream; this is the local one.
    this.host.emitProgress(this.job, progress);
  }

  /** A step job is in `step`: a step other than the last one it was seen in is a `step` event and a span event. */
  #reached(step: StepPosition | undefined, state: JobState<unknown>): void {
    if (!step || step.name === this.#stepName) return;
    this.#stepName = step.name;
    this.telemetry.step(step);
    this.host.emit('step', this.job, { step, state: structuredClone(state) });
  }

  /** The measure the job's last run published, checked: it was read from the queue. */
  readonly #lastMeasure: Extent | undefined;

  /** The step the job's published progress was last in: a change is a `step` event. */
  #stepName: string | undefined;

  /** The run's checkpoint interval, published so that a reader can tell a quiet job from a stuck one. */
  #checkpointIntervalMs = 0;

  #progress(state: JobState<unknown>): IterationProgress {
    const progress: IterationProgress = {
      cursor: state.cursor ?? null,
      iterations: state.iterations,
      elapsedMs: state.totalTimeMs,
      timesInterrupted: state.timesInterrupted,
      status: state.status,
      updatedAt: state.updatedAt ?? new Date().toISOString(),
      checkpointIntervalMs: this.#checkpointIntervalMs,
    };
    // `count()` says how many items; else a measured enumeration says how far along it is in its own unit; before
    // the run has one, the measure the last run published still says where the job is.
    const extent = this.#total === undefined ? (this.handle.extent ?? (this.handle.phase === 'pending' ? this.#lastMeasure : undefined)) : undefined;
    const measure = extent ?? (this.#total === undefined ? undefined : { done: state.iterations, total: this.#total, unit: 'items' });
    if (measure) {
      const { done, total, unit } = measure;
      if (extent) Object.assign(progress, { done, unit });
      if (extent?.step) progress.step = extent.step;
      // The rate counts from the first measure of this run in this unit (a step job's next step starts over): what
      // earlier runs or steps did is not this one's speed.
      const from = measureKey(measure);
      if (this.#measuredFrom?.unit !== from) this.#measuredFrom = { unit: from, done, at: performance.now() };
      if (total !== undefined) {
        progress.total = total;
        progress.percentage = total > 0 ? Math.min(100, Math.round((done / total) * 10000) / 100) : 100;
        // Dashboards that draw a job's progress (Bull Board's ring) read a number named `progress`.
        progress.progress = progress.percentage;
      }
      // A plain step is one unit of work: a rate of steps would promise an ETA nobody can give.
      if (extent?.step && unit === 'steps') return progress;
      const rate = (done - this.#measuredFrom.done) / (performance.now() - this.#measuredFrom.at);
      if (rate > 0) progress.ratePerSecond = Math.round(rate * 1000 * 10) / 10;
      if (total !== undefined) {
        if (state.status === 'completed') progress.etaMs = 0;
        else if (rate > 0) progress.etaMs = Math.max(0, Math.round((total - done) / rate));
      }
    }
    return progress;
  }
  #measuredFrom: { unit: string; done: number; at: number } | undefined;

  /** The run threw: save the last good cursor (fenced) and let BullMQ's attempts/backoff decide. */
  async #failed(error: unknown): Promise<never> {
    if (error instanceof LockLostError) return this.#lockLost();
    // A saved cursor, params or a resumption the job refuses will be refused by every retry: fail for good.
    if (error instanceof InvalidCursorError || error instanceof InvalidParamsError || error instanceof ResumptionLimitError) {
      log('%s %s: %s', this.host.queueName, this.id, error.message);
      // Its cursor stays, but not as `running` (the claim's mark): a later retry must not count a stall.
      const refused = error.state;
      if (refused) {
        refused.status = 'failed';
        refused.lastError = error.message;
        try {
          await this.#write(refused);
        } catch (writeError) {
          if (writeError instanceof LockLostError) return this.#lockLost();
          log('%s %s: could not save the state of a refused run: %O', this.host.queueName, this.id, writeError);
        }
      }
      throw permanentFailure(error);
    }
    const state = (error as { state?: JobState<unknown> } | null)?.state;
    if (state && this.JobClass.resumeErrorsAfterProgress === true && state.iterations > this.#startIterations && !isBullControl(error)) {
      const delayMs = await this.host.firstRetryDelayFor(this.job, error);
      if (delayMs !== undefined) return this.#resumeAfterError(state, error, delayMs);
    }
    if (state) {
      try {
        await this.#write(state);
      } catch (writeError) {
        if (writeError instanceof LockLostError) return this.#lockLost();
        log('%s %s: could not save the state of a failed run: %O', this.host.queueName, this.id, writeError);
      }
    }
    const message = error instanceof Error ? error.message : String(error);
    await this.#jobLog(`failed at attempt ${this.job.attemptsMade + 1}: ${message}; cursor ${JSON.stringify(state?.cursor ?? null)} kept`);
    await this.#leaveCancelledParent();
    throw error;
  }

  /**
   * The run threw after it finished items, and its class resumes such errors: the job goes back to the queue after
   * its first backoff, its state saved as interrupted by `error-after-progress`, without using up an attempt. Its
   * `maxResumptions` bounds how often this can happen; a run that throws before any progress fails an attempt.
   */
  async #resumeAfterError(state: JobState<unknown>, error: unknown, delayMs: number): Promise<never> {
    const message = error instanceof Error ? error.message : String(error);
    const interruption = { adapter: ERROR_AFTER_PROGRESS, reason: message.split('\n')[0]! };
    state.status = 'interrupted';
    state.timesInterrupted++;
    state.lastInterruption = { ...interruption, at: new Date().toISOString() };
    try {
      await this.#write(state);
    } catch (writeError) {
      if (writeError instanceof LockLostError) return this.#lockLost();
      // Not saved: the error stands as a failed attempt, whose retry resumes from the last checkpoint written.
      log('%s %s: could not save the state to resume after an error: %O', this.host.queueName, this.id, writeError);
      throw error;
    }
    const done = state.iterations - this.#startIterations;
    this.telemetry.outcome('interrupted', interruption);
    await this.#jobLog(`error after ${done} item(s) of progress, at cursor ${JSON.stringify(state.cursor ?? null)}: ${message}; resuming in ${delayMs} ms, no attempt used`);
    await this.#handBack({ to: 'back', delayMs }, 'move the job back to resume after an error');
    log('%s %s: error after progress (%s); back in the queue in %d ms', this.host.queueName, this.id, message, delayMs);
    const workerStopping = this.host.stopping();
    if (workerStopping) this.host.requeued();
    this.host.emit('interrupted', this.job, { ...interruption, workerStopping, delayMs, state: structuredClone(state) });
    throw new DelayedError();
  }

  /**
   * A partition failing for good while its parent is being cancelled: it never reaches `#cancelled`, which takes
   * a cancelled partition out of the flow, so it leaves here, or the cancelled parent would wait for it forever.
   * A partition that fails for good otherwise holds the parent, to be retried.
   */
  async #leaveCancelledParent(): Promise<void> {
    const partition = partitionOf(this.job.data);
    if (!partition || !this.job.parentKey || this.job.attemptsMade + 1 < (this.job.opts.attempts ?? 1)) return;
    try {
      const [control] = await this.host.store.readControl([partition.parentId]);
      if (control === 'cancel') await this.job.removeChildDependency();
    } catch (error) {
      log('%s %s: could not leave the cancelled parent flow: %O', this.host.queueName, this.id, error);
    }
  }

  /**
   * A line in the job's own BullMQ log (`job.log`), which dashboards show beside the job: its interruptions,
   * resumes, throttles and errors. A log line is a courtesy: Redis refusing it changes nothing for the job.
   */
  async #jobLog(line: string): Promise<void> {
    try {
      await this.job.log(line);
    } catch (error) {
      log('%s %s: could not add to the job log: %O', this.host.queueName, this.id, error);
    }
  }

  /**
   * Moves the job back to the queue under its id: to the front (a deploy), the back after a delay (its own budget,
   * a throttle), or parked (a pause). A refused move means another worker owns the job.
   */
  async #handBack(where: HandBack, what: string): Promise<void> {
    this.#phase = 'handingBack';
    this.telemetry.handBack(where);
    try {
      await this.#move(where);
    } catch (error) {
      log('%s %s: could not %s: %O', this.host.queueName, this.id, what, error);
      this.#lockLost();
    }
  }

  #move(where: HandBack): Promise<unknown> {
    const { job, token } = this;
    if (where.to === 'front') return job.moveToWait(token);
    return job.moveToDelayed(Date.now() + (where.to === 'parked' ? PARK_DELAY_MS : where.delayMs), token);
  }

  #lockLost(): never {
    this.#phase = 'lost';
    this.telemetry.outcome('lost');
    const error = new LockLostError(this.jobName, this.id);
    this.host.lostLock();
    log('%s %s: %s', this.host.queueName, this.id, error.message);
    this.host.emit('lockLost', this.job, error);
    // DelayedError tells BullMQ that the processor already dealt with the job: it must not move a job it no
    // longer owns (that would fail with a lock mismatch, or worse, fail the job under its new owner).
    throw new DelayedError(error.message);
  }

  /** The run was interrupted: its state is saved; the job goes back to the queue under the same id. */
  async #interrupted(state: JobState<unknown>, interruption: Interruption): Promise<never> {
    const workerStopping = this.host.stopping();
    const info: InterruptionInfo = { ...interruption, workerStopping };
    const delayMs = this.host.delayFor(info, this.job);
    // A deploy sends the job to the front of the queue, to be resumed first by the next worker; its own budget or a
    // throttle sends it behind the jobs already waiting.
    const toFront = delayMs === 0 && workerStopping;
    const where = `at cursor ${JSON.stringify(state.cursor ?? null)} after ${state.iterations} items`;
    this.telemetry.outcome('interrupted', { adapter: info.adapter, reason: info.reason });
    await this.#jobLog(
      interruption.retryAfterMs !== undefined
        ? `throttled by ${info.adapter} (${info.reason}) ${where}; back in ${delayMs} ms`
        : `interrupted by ${info.adapter} (${info.reason}) ${where}${delayMs > 0 ? `; back in ${delayMs} ms` : ''}`,
    );
    await this.#handBack(toFront ? { to: 'front' } : { to: 'back', delayMs }, 'move the interrupted job back');
    if (workerStopping) this.host.requeued();
    log('%s %s: interrupted by %s (%s) at cursor %j; back in the queue (delay %d ms)', this.host.queueName, this.id, info.adapter, info.reason, state.cursor, delayMs);
    this.host.emit('interrupted', this.job, { ...info, delayMs, state: structuredClone(state) });
    throw toFront ? new WaitingError() : new DelayedError();
  }

  /** The run cancelled the job (`onCancel` ran, the state is saved as cancelled): it fails without retries. */
  async #cancelled(state: JobState<unknown>): Promise<never> {
    const cancelled = new JobCancelledError(this.jobName, this.id);
    this.telemetry.outcome('cancelled');
    // A cancelled partition leaves its parent's flow, or the parent would wait for it forever; once no partition is
    // pending the parent is released and, seeing a cancelled one, fails as cancelled too.
    if (partitionOf(this.job.data) && this.job.parentKey) {
      await this.job.removeChildDependency().catch((error: unknown) => log('%s %s: could not leave the parent flow: %O', this.host.queueName, this.id, error));
    }
    log('%s %s: cancelled at cursor %j', this.host.queueName, this.id, state.cursor);
    this.host.emit('cancelled', this.job, structuredClone(state));
    throw permanentFailure(cancelled);
  }

  /** Parks a paused job in the delayed set until `resumeJob`. */
  async #park(state: JobState<unknown> | undefined): Promise<never> {
    this.telemetry.outcome('paused');
    await this.#handBack({ to: 'parked' }, 'park the paused job');
    // resumeJob clears the request and then promotes a delayed job; if it looked while the job was still
    // active, only this look sees the cleared request, so one of the two always promotes it.
    let still: ControlRequest | undefined = 'pause';
    try {
      [still] = await this.host.store.readControl([this.id]);
      if (still !== 'pause') await this.job.promote();
    } catch (error) {
      // The job is parked already; an error now must not reach BullMQ as a failure of a job it no longer holds.
      log('%s %s: parked, but could not check for a resume meanwhile: %O', this.host.queueName, this.id, error);
    }
    log('%s %s: paused and parked%s', this.host.queueName, this.id, still === 'pause' ? '' : ' (resumed meanwhile, promoted)');
    this.host.emit('parked', this.job, state && structuredClone(state));
    throw new DelayedError();
  }

  /**
   * An urgent close: save the last finished cursor and move the job back now, without waiting for the item in
   * flight. A run that is finishing or handing itself back is a Redis round trip from done, and one deciding its
   * outcome (onComplete, the final save) has no snapshot: taken over then, a completed job could be recorded as
   * interrupted and its onComplete run again by the next worker. Those are let finish.
   */
  async takeOver(): Promise<void> {
    if (this.#phase !== 'starting' && this.#phase !== 'running') return;
    const state = this.handle.urgentSnapshot('bullmq', 'urgent stop', this.initialState);
    if (!state) return;
    this.#phase = 'takenOver';
    const info: InterruptionInfo = { adapter: 'bullmq', reason: 'urgent stop', workerStopping: true };
    const delayMs = this.host.delayFor(info, this.job);
    // Abort before the job goes back: once it is in the queue another worker may start it, and the item in flight
    // here must already have been told to stop.
    this.#urgent.abort(new Error('urgent stop'));
    try {
      await this.#write(state, { takeover: true });
      const where: HandBack = delayMs === 0 ? { to: 'front' } : { to: 'back', delayMs };
      this.telemetry.handBack(where);
      await this.#move(where);
      this.telemetry.outcome('interrupted', info);
      this.host.requeued();
      this.host.emit('interrupted', this.job, { ...info, delayMs, state });
    } catch (error) {
      // Left active with its lock otherwise: stalled-job recovery hands it on, as after an abandoned close.
      this.telemetry.outcome(error instanceof LockLostError ? 'lost' : 'abandoned');
      if (error instanceof LockLostError) {
        this.host.lostLock();
        this.host.emit('lockLost', this.job, error);
      }
      // Otherwise the job stays active with its lock; stalled-job recovery hands it on from the last checkpoint.
      log('%s %s: urgent hand-back failed: %O', this.host.queueName, this.id, error);
    } finally {
      this.#endTakeover(new TakenOver());
    }
  }

  /** A close that can no longer reach Redis lets the job go: it resumes from its last checkpoint later. */
  abandon(reason: string): boolean {
    if (this.#phase === 'takenOver' || this.#phase === 'lost' || this.#phase === 'done') return false;
    this.#phase = 'takenOver';
    this.telemetry.outcome('abandoned');
    this.#urgent.abort(new Error(reason));
    this.#endTakeover(new TakenOver());
    return true;
  }
}

/**
 * The error that fails a job for good, whatever attempts it has left. Its message leads with the code, because the
 * message is all BullMQ keeps (`failedReason`) and the code is what a person or a script looks for.
 */
export function permanentFailure(error: JobIterationError): UnrecoverableError {
  return Object.assign(new UnrecoverableError(`${error.code}: ${error.message}`), { code: error.code, cause: error });
}

/**
 * An error BullMQ gives a meaning of its own (fail for good, move to delayed or waiting, rate-limit): thrown by a
 * job's code, it goes to BullMQ as it is, never resumed as an error after progress.
 */
function isBullControl(error: unknown): boolean {
  return error instanceof UnrecoverableError || error instanceof DelayedError || error instanceof WaitingError || error instanceof WaitingChildrenError || error instanceof RateLimitError;
}
