import { setMaxListeners } from 'node:events';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import pLimit from 'p-limit';
import { assertDuration } from './config.js';
import { resolveCheckpointInterval } from './checkpoint-interval.js';
import { IterationFailedError, InvalidCursorError, InvalidEnumeratorError, InvalidOptionError, InvalidParamsError, JobIterationError, ResumptionLimitError, StepsChangedError } from './errors.js';
import { events, type JobEventBase } from './events.js';
import { extentOf, type Extent } from './extent.js';
import {
  InterruptionAdapters,
  interruptionOf,
  resolveAdapter,
  type Interruption,
  type InterruptionAdapter,
  type InterruptionAdapterFn,
  type InterruptionContext,
  type ResolvedAdapter,
} from './interruption.js';
import { assertRunnableJob, type IterableJob, type IterableJobClass, type Pair } from './iterable-job.js';
import { checkParams, frozenParams } from './params.js';
import { isThenable, refusalOf } from './verdict.js';
import { bindProgress, type JobProgress } from './progress.js';
import { ABORT_SIGNAL_ADAPTER as ABORT_SIGNAL, describeAbortReason } from './abort-reason.js';
import { jsonCursor, newState, parseState, type JobState } from './state.js';
import type { RunHandle, RunPhase } from './run-handle.js';

/** Options of one run. */
export interface RunOptions<Cursor = unknown, Params = any, Item = any> {
  /**
   * A state saved by an earlier run (object or JSON string). The run resumes right after its cursor. A completed
   * state returns at once with `status: 'completed'` and runs nothing.
   */
  state?: JobState<Cursor> | string;
  /** Names of registered adapters to consult, in order. Default: every registered adapter. Unknown names throw. */
  adapters?: readonly string[];
  /** Adapters for this run only, consulted after the registered ones (`{ name: adapter }`). */
  localAdapters?: Readonly<Record<string, InterruptionAdapter>>;
  /**
   * The run's own stop signal. Once it aborts, the run stops after the item in flight, whatever `adapters` names
   * (the interruption reads adapter `abort-signal`); `eachIteration` receives it to cancel its own I/O.
   */
  signal?: AbortSignal;
  /** Stop gracefully after this many items in this run (the interruption names adapter `max-iterations`). */
  maxIterations?: number;
  /**
   * How many `eachIteration` calls may be in flight at once; overrides the class's `static concurrency` (default
   * 1). See `IterableJob.concurrency` for what is saved and what a stop or an error repeats.
   */
  concurrency?: number;
  /**
   * Called with the state at each checkpoint interval and at the end of the run (interrupted, completed, failed).
   * Serialize it before returning; the object is reused. A throw stops the run with that error.
   */
  persist?: (state: JobState<Cursor>) => void | Promise<void>;
  /** Overrides the class, worker and process checkpoint interval (ms; 0 = every iteration). */
  checkpointIntervalMs?: number;
  /**
   * Save after every item for this long from the start of the run, then every `checkpointIntervalMs`. A runtime
   * sets it for a run that follows a crash: a job that only died because something else killed its process shows
   * progress with its first item, while an item that kills its process every time leaves the cursor right before
   * it. 0 (default) means the interval applies from the start.
   */
  eagerCheckpointMs?: number;
  /**
   * The instance of `JobClass` to run, e.g. the one already asked for its `count`, so that what the job opens in its
   * fields is opened once and released by this run's `onShutdown`. One instance serves one run at a time. Default: a
   * new instance.
   */
  job?: IterableJob<Params, Item, Cursor>;
  /**
   * The runtime's side of this run: the live state and the phase, a stop request with a reason, and the state an
   * urgent stop saves. See `RunHandle`.
   */
  handle?: RunHandle<Cursor>;
  /**
   * Called once when the run starts with the live state object, which the run updates after every item. For
   * progress displays: read it, never mutate it. (`handle.state` is the same object.)
   */
  observe?: (state: Readonly<JobState<Cursor>>) => void;
  /** Runtime id of the job, carried in events (e.g. the BullMQ job id). */
  jobId?: string;
  /** Runtime handle handed to adapters as `ctx.runtime`. */
  runtime?: InterruptionContext['runtime'];
}

/** How a run ended. Errors are not results: the run rejects, with `err.state` set. */
export interface RunResult<Cursor = unknown> {
  status: 'completed' | 'interrupted' | 'cancelled';
  /** The state to persist; pass it back as `options.state` to resume. */
  state: JobState<Cursor>;
  /**
   * Which adapter stopped the run and why, when it was interrupted (or, adapter `cancel`, cancelled); with
   * `retryAfterMs` when it throttled the job.
   */
  interruption?: Interruption;
  /** Items finished in this run. */
  runIterations: number;
  /** Wall time of this run. */
  runTimeMs: number;
  /** True when the given state was already completed and nothing ran. */
  alreadyCompleted?: boolean;
  /**
   * What `onShutdown` (or closing the enumerator) threw after the outcome was saved. It never changes the outcome:
   * the job did complete or was interrupted; only its cleanup failed. Also reported as a `hook:error` event.
   */
  shutdownError?: unknown;
}

/** While iterating without real I/O, give timers, signals and sockets a turn this often. */
const EVENT_LOOP_TURN_MS = 10;
/**
 * Fast loops read the clock only every `stride` items, up to this many. It bounds how long a sudden run of slow,
 * CPU-bound items can go unnoticed: at most this many of them pass before a checkpoint or an event-loop turn.
 */
const MAX_STRIDE = 16;
const NEVER_ABORTED = new AbortController().signal;
/** The adapter name a cancellation through the handle is recorded under. */
const CANCEL = 'cancel';

/**
 * Runs one execution of `JobClass` in this process: from a fresh start, or from `options.state`. Resolves when
 * the enumerator is exhausted or an adapter asks to stop; rejects with the error of `eachIteration`, the
 * enumerator or a hook, with `err.state` holding the last good checkpoint so a retry resumes.
 */
export async function runInline<Params, Item, Cursor>(
  JobClass: IterableJobClass<Params, Item, Cursor>,
  params: Params,
  options: RunOptions<Cursor, Params, Item> = {},
): Promise<RunResult<Cursor>> {
  const jobName = assertRunnableJob(JobClass);
  const intervalMs = resolveCheckpointInterval({ run: options.checkpointIntervalMs, JobClass });
  if (options.eagerCheckpointMs !== undefined) assertDuration('eagerCheckpointMs', options.eagerCheckpointMs);
  assertDuration(`${JobClass.name}.maxJobRuntimeMs`, JobClass.maxJobRuntimeMs, { optional: true });
  if (options.maxIterations !== undefined && !(Number.isInteger(options.maxIterations) && options.maxIterations >= 0)) {
    throw new InvalidOptionError('maxIterations', options.maxIterations, 'an integer >= 0');
  }
  if (options.job !== undefined && !(options.job instanceof JobClass)) {
    throw new InvalidOptionError('job', options.job, `an instance of ${JobClass.name || jobName}`);
  }
  const concurrency = options.concurrency ?? JobClass.concurrency ?? 1;
  if (!(Number.isSafeInteger(concurrency) && concurrency >= 1)) {
    throw new InvalidOptionError(options.concurrency !== undefined ? 'concurrency' : `${JobClass.name}.concurrency`, concurrency, 'an integer >= 1');
  }
  const adapters = selectAdapters(options, JobClass);
  const state: JobState<Cursor> = options.state === undefined ? newState(jobName) : parseState<Cursor>(options.state, jobName);
  if (state.status === 'completed') {
    return { status: 'completed', state, runIterations: 0, runTimeMs: 0, alreadyCompleted: true };
  }
  if (state.status === 'cancelled') return { status: 'cancelled', state, runIterations: 0, runTimeMs: 0 };
  const job = options.job ?? new JobClass();
  return new Run(job, jobName, frozenParams(jobName, params), state, adapters, intervalMs, concurrency, options).execute();
}

/** One execution of a job. Split from `runInline` so the hot loop is a small function with few live variables. */
class Run<Params, Item, Cursor> {
  readonly job: IterableJob<Params, Item, Cursor>;
  readonly ctx: InterruptionContext & { runIterations: number };
  readonly clockStart = performance.now();
  readonly baseTotalMs: number;

  constructor(
    job: IterableJob<Params, Item, Cursor>,
    readonly jobName: string,
    readonly params: Params,
    readonly state: JobState<Cursor>,
    readonly adapters: ResolvedAdapter[],
    public intervalMs: number,
    readonly concurrency: number,
    readonly options: RunOptions<Cursor, Params, Item>,
  ) {
    this.job = job;
    this.baseTotalMs = state.totalTimeMs;
    this.ctx = {
      jobName,
      job: this.job,
      params,
      state,
      runStartedAt: Date.now(),
      runIterations: 0,
      signal: options.signal,
      runtime: options.runtime,
    };
  }

  eventBase(): JobEventBase {
    return {
      jobName: this.jobName,
      jobId: this.options.jobId,
      cursor: this.state.cursor,
      iterations: this.state.iterations,
      runIterations: this.ctx.runIterations,
      elapsedMs: Math.round(performance.now() - this.clockStart),
    };
  }

  async save(): Promise<void> {
    this.state.totalTimeMs = Math.round(this.baseTotalMs + performance.now() - this.clockStart);
    this.state.updatedAt = new Date().toISOString();
    if (this.options.persist) await this.options.persist(this.state);
  }

  progress(): JobProgress<Cursor> {
    const { state } = this;
    const cursor = state.cursor;
    return Object.freeze({
      // Our recorded cursor is the one the next run resumes from: a hook gets its own copy to keep.
      cursor: cursor !== null && typeof cursor === 'object' ? structuredClone(cursor) : cursor,
      iterations: state.iterations,
      runIterations: this.ctx.runIterations,
      timesInterrupted: state.timesInterrupted,
      totalTimeMs: Math.round(this.baseTotalMs + performance.now() - this.clockStart),
      ...withExtent(this.extent()),
    });
  }

  /** What `buildEnumerator` returned, for its `extent`. */
  #enumeration: unknown;

  extent(): Extent | undefined {
    return extentOf(this.#enumeration, this.state.cursor, this.state.iterations);
  }


  /** Where the run is; read through the run's handle. */
  phase: RunPhase = 'pending';
  /** A stop asked for through the handle: the interruption it names. */
  #requested: Interruption | undefined;
  /** Why the job was cancelled through the handle, when it was. */
  #cancelled: string | undefined;

  /** The interruption an urgent stop recorded when it took the run's snapshot. */
  #takenOver: Interruption | undefined;

  takeOver(adapter: string, reason: string): void {
    this.#takenOver ??= { adapter, reason };
    this.requestStop(adapter, reason);
  }

  requestCancel(reason: string): void {
    this.#cancelled ??= reason;
    this.requestStop(CANCEL, reason);
  }

  /** Stops the run after the item in flight: lowers the limit the loop already checks, as an abort does. */
  requestStop(adapter: string, reason: string): void {
    this.#requested ??= { adapter, reason };
    this.#stopAt = 0;
  }

  async execute(): Promise<RunResult<Cursor>> {
    const { state } = this;
    this.#checkParams();
    if (state.cursor !== undefined && typeof this.job.validateCursor === 'function') this.#checkCursor(state.cursor);
    this.options.handle?.attach(this);
    const release = bindProgress(this.job, () => this.progress());
    const signal = this.options.signal;
    // The hot loop already compares the run's item count with a limit after every item; an abort lowers that limit
    // to 0, so checking the run's own signal costs the loop nothing.
    const onAbort = () => {
      this.#aborted = true;
      this.#stopAt = 0;
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.#execute();
    } finally {
      this.phase = 'done';
      signal?.removeEventListener('abort', onAbort);
      release();
    }
  }

  async #execute(): Promise<RunResult<Cursor>> {
    const { job, params, state } = this;
    const resumed = state.startedAt !== undefined;
    // After the handle is attached: a cancellation that came first is never refused, and runs nothing to count.
    const counted = resumed && this.#cancelled === undefined;
    if (counted) this.#countResumption();
    state.status = 'running';
    if (resumed) events.emit('job:resume', { ...this.eventBase(), timesInterrupted: state.timesInterrupted });
    else events.emit('job:start', this.eventBase());
    this.options.observe?.(state);

    let iterator: Iterator<unknown> | AsyncIterator<unknown> | undefined;
    let shutDown = false;
    // Closes the enumerator (its finally blocks release cursors and files), then runs onShutdown: once per run,
    // whichever path gets here first.
    const shutdown = async () => {
      if (shutDown) return;
      shutDown = true;
      const open = iterator;
      iterator = undefined;
      try {
        await closeIterator(open);
      } finally {
        await job.onShutdown?.(params);
      }
    };

    let interruption: Interruption | undefined;
    try {
      // Saved at once: a run that dies before its first checkpoint still counts against maxResumptions.
      if (counted) await this.save();
      // Cancelled before it began: no hook of a run, no item; only the cancellation's own.
      if (this.#cancelled === undefined) {
        this.phase = 'starting';
        if (resumed) await job.onResume?.(params);
        else {
          await job.onStart?.(params);
          // Recorded only once onStart succeeded: a run whose onStart threw starts afresh on retry.
          state.startedAt = new Date(this.ctx.runStartedAt).toISOString();
        }

        this.#enumeration = job.buildEnumerator(params, { cursor: state.cursor });
        iterator = openIterator(this.jobName, this.#enumeration);
        this.phase = 'iterating';
        interruption = this.concurrency > 1 ? await this.iterateConcurrently(iterator) : await this.iterate(iterator);
      } else {
        interruption = this.#requested;
      }
      // Taken over by an urgent stop: the runtime has already saved this run as interrupted and handed the job
      // on. Whatever the enumerator says now (it may have run out), the run ends as that interruption: onComplete
      // or onCancel here would run again under the next owner.
      if (this.#takenOver) interruption = this.#takenOver;

      if (this.#cancelled !== undefined && !this.#takenOver) {
        this.phase = 'cancelling';
        try {
          await job.onCancel?.(params);
        } catch (error) {
          // The job is cancelled whatever its hook says: a cancel that fails would leave it to run again.
          events.emit('hook:error', { hook: 'onCancel', error });
        }
        state.status = 'cancelled';
        state.lastInterruption = { adapter: CANCEL, reason: this.#cancelled, at: new Date().toISOString() };
      } else if (interruption) {
        state.status = 'interrupted';
        state.timesInterrupted++;
        state.lastInterruption = { ...interruption, at: new Date().toISOString() };
        events.emit('job:interrupt', { ...this.eventBase(), ...interruption });
      } else {
        // Completed only once onComplete succeeds: if it throws, a retry finds the enumerator empty and runs it again.
        this.phase = 'completing';
        await job.onComplete?.(params);
        state.status = 'completed';
        state.completedAt = new Date().toISOString();
      }
      // The outcome is made durable before cleanup: a slow onShutdown must not leave an old cursor as the last word
      // if the platform kills the process meanwhile.
      this.phase = 'saving';
      await this.save();
    } catch (thrown) {
      const error = asError(this.jobName, thrown);
      if (state.status !== 'completed' && state.status !== 'interrupted' && state.status !== 'cancelled') {
        state.status = 'failed';
        state.lastError = error.message;
      }
      // Saved before cleanup, as on success: the last good cursor must not wait on (or die with) onShutdown.
      this.phase = 'saving';
      try {
        await this.save();
      } catch {
        // The run already failed; its own error is the one to report. The state stays on the error for the caller.
      }
      this.phase = 'cleanup';
      try {
        await shutdown();
      } catch (shutdownError) {
        events.emit('hook:error', { hook: 'onShutdown', error: shutdownError });
      }
      attachState(error, state);
      events.emit('job:error', { ...this.eventBase(), error });
      throw error;
    }

    // The outcome is saved: cleanup can fail, but it cannot turn a finished job into a failed one (a retry would run
    // onComplete again, or redo an interrupted run's bookkeeping).
    let shutdownError: unknown;
    let shutdownFailed = false;
    this.phase = 'cleanup';
    try {
      await shutdown();
    } catch (error) {
      shutdownFailed = true;
      shutdownError = error;
      events.emit('hook:error', { hook: 'onShutdown', error });
    }
    if (state.status === 'completed') events.emit('job:complete', { ...this.eventBase(), totalTimeMs: state.totalTimeMs });
    return {
      status: state.status === 'cancelled' ? 'cancelled' : interruption ? 'interrupted' : 'completed',
      state,
      ...(interruption ? { interruption } : {}),
      runIterations: this.ctx.runIterations,
      runTimeMs: Math.round(performance.now() - this.clockStart),
      ...(shutdownFailed ? { shutdownError } : {}),
    };
  }

  /** Refuses params the job does not accept, before anything runs or is written. */
  #checkParams(): void {
    try {
      checkParams(this.job, this.jobName, this.params);
    } catch (thrown) {
      const error = thrown as InvalidParamsError;
      attachState(error, this.state);
      events.emit('job:error', { ...this.eventBase(), error });
      throw error;
    }
  }

  /** Counts this run as a resumption, or refuses it past the class's `maxResumptions`, before anything runs. */
  #countResumption(): void {
    const { state } = this;
    const max = (this.job.constructor as IterableJobClass).maxResumptions;
    const resumptions = (state.resumptions ?? 0) + 1;
    if (max !== undefined && resumptions > max) {
      const error = new ResumptionLimitError(this.jobName, max, state.cursor);
      attachState(error, state);
      events.emit('job:error', { ...this.eventBase(), error });
      throw error;
    }
    state.resumptions = resumptions;
  }

  /** Refuses a saved cursor the job does not accept, before anything runs or is written. */
  #checkCursor(cursor: Cursor): void {
    const refusal = refusalOf('validateCursor', 'it', () => this.job.validateCursor!(cursor, this.params));
    if (!refusal) return;
    // A step job's changed step list is a refusal with a name of its own, raised as it is.
    const error =
      refusal.cause instanceof StepsChangedError ? refusal.cause : new InvalidCursorError(this.jobName, cursor, refusal.problem, 'cause' in refusal ? { cause: refusal.cause } : undefined);
    attachState(error, this.state);
    events.emit('job:error', { ...this.eventBase(), error });
    throw error;
  }

  // Loop state. Kept on the instance rather than in locals of `iterate`: every `await` saves and restores the
  // awaiting function's whole frame, so the fewer locals the hot async function has, the cheaper each item is.
  #checks: InterruptionAdapterFn[] = [];
  #iterationCtx!: { cursor: Cursor; signal: AbortSignal; checkpoint(): void };
  #maxIterations = Infinity;
  /** Set by the run signal's abort listener. */
  #aborted = false;
  /** Run items after which the loop stops: `maxIterations`, or 0 once the run's signal aborted. */
  #stopAt = Infinity;
  /** Our own copy of the cursor of the item in flight, recorded once the item is done. */
  #doneCursor: Cursor | undefined;
  #lastSave = 0;
  /** While eager checkpoints last: when they end, and the interval that applies after them. */
  #eagerUntil = 0;
  #normalIntervalMs = 0;
  #lastTurn = 0;
  #lastClock = 0;
  #stride = 1;
  #untilClock = 1;

  /** The hot loop. Returns why it stopped early, or undefined when the enumerator is exhausted. */
  async iterate(iterator: Iterator<unknown> | AsyncIterator<unknown>): Promise<Interruption | undefined> {
    const early = this.#startLoop();
    if (early) return early;
    for (;;) {
      let step = iterator.next();
      if (isThenable(step)) {
        step = await step;
        // A stop that came while the enumerator was fetching: the fetched item is not started, and the cursor
        // stays before it. (A synchronous enumerator gives a stop no chance to come in between.)
        if (this.#stopAt === 0 && !step.done) return this.#stopReason(this.ctx.runIterations);
      }
      if (step.done) return undefined;
      const done = this.#begin(step.value);
      if (isThenable(done)) await done;
      let verdict = this.#finish();
      if (verdict !== undefined) {
        if (isThenable(verdict)) verdict = await verdict;
        if (verdict) return verdict;
      }
    }
  }

  /** Sets the loop up; returns the interruption when the run must not start a single item. */
  #startLoop(): Interruption | undefined {
    this.#checks = this.adapters.map((a) => a.check);
    this.#iterationCtx = { cursor: undefined as Cursor, signal: this.options.signal ?? NEVER_ABORTED, checkpoint: this.#saveSoon };
    this.#maxIterations = this.options.maxIterations ?? Infinity;
    this.#stopAt = this.#aborted || this.#requested ? 0 : this.#maxIterations;
    this.#lastSave = this.#lastTurn = this.#lastClock = performance.now();
    if (this.options.eagerCheckpointMs) {
      this.#eagerUntil = this.#lastSave + this.options.eagerCheckpointMs;
      this.#normalIntervalMs = this.intervalMs;
      this.intervalMs = 0;
    }
    // Adapters are asked after items, so every run makes progress (a tiny budget cannot livelock a job); only an
    // explicit "none" stops a run before its first item.
    if (this.#maxIterations === 0) return { adapter: 'max-iterations', reason: 'ran 0 iterations' };
    if (this.options.signal?.aborted) return { adapter: ABORT_SIGNAL, reason: describeAbortReason(this.options.signal) };
    return this.#requested;
  }

  /** An item asked for a save once it is done: the next `#finish` reads the clock and finds a save due. */
  readonly #saveSoon = (): void => {
    this.#lastSave = -Infinity;
    this.#untilClock = 1;
  };

  /** Validates one `[item, cursor]` pair and starts its `eachIteration`. */
  #begin(pair: unknown): unknown {
    const cursor = this.#cursorOf(pair, this.state.iterations + 1);
    this.#doneCursor = cursor;
    this.#iterationCtx.cursor = (pair as Pair<unknown, unknown>)[1] as Cursor;
    return this.job.eachIteration((pair as Pair<unknown, unknown>)[0] as Item, this.params, this.#iterationCtx);
  }

  /** The recorded copy of a yielded pair's cursor; throws if the pair is not `[item, cursor]` or the cursor not JSON. */
  #cursorOf(pair: unknown, position: number): Cursor {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new InvalidEnumeratorError(this.jobName, `the enumerator must yield [item, cursor] pairs; item ${position} was ${describePair(pair)}.`);
    }
    const cursor = pair[1] as Cursor;
    // Checked (and copied) before the work, so nothing is done that could not be checkpointed afterwards, and an
    // enumerator that reuses one cursor object cannot move the cursor we record. Integer cursors skip the call.
    return Number.isSafeInteger(cursor) ? cursor : jsonCursor(this.jobName, cursor);
  }

  /**
   * The loop with up to `concurrency` items in flight. Items start in the enumerator's order; the recorded cursor
   * only moves over the longest run of finished items from the start, so a checkpoint never covers an item still
   * running or one that failed. At most `concurrency` items are started and not yet in that prefix: an item that
   * finished ahead of a slow one waits in the window, and while the window is full nothing starts. That bounds what
   * a failure or a crash makes a retry repeat, and the bookkeeping per item. Once a stop is decided or an item
   * fails, no item starts; the ones in flight settle and the prefix moves over whatever finished.
   */
  async iterateConcurrently(iterator: Iterator<unknown> | AsyncIterator<unknown>): Promise<Interruption | undefined> {
    const early = this.#startLoop();
    if (early) return early;
    const n = this.concurrency;
    const limit = pLimit(n);
    // The items' own signal: every item in flight may listen to it, which is more than the default ten listeners
    // a signal warns at. It follows the run's signal.
    const own = new AbortController();
    setMaxListeners(n + 10, own.signal);
    const outer = this.options.signal;
    const follow = () => own.abort(outer!.reason);
    if (outer?.aborted) follow();
    else outer?.addEventListener('abort', follow, { once: true });
    // Started items not yet in the prefix, oldest first: a ring of `n` slots.
    const ring: Array<{ cursor: Cursor; done: boolean; checkpoint?: boolean } | undefined> = new Array(n);
    let head = 0;
    let size = 0;
    let inFlight = 0;
    let failure: { error: unknown } | undefined;
    let interruption: Interruption | undefined;
    let exhausted = false;
    let wake: (() => void) | undefined;
    const settle = () => {
      inFlight--;
      wake?.();
      wake = undefined;
    };
    const untilSettled = () => new Promise<void>((resolve) => (wake = resolve));
    const mayStart = () => !interruption && !failure && !exhausted && this.ctx.runIterations + size < this.#stopAt;

    try {
      for (;;) {
        // Record every finished item at the head of the window, checkpointing and asking the adapters as the serial
        // loop does after each item. While draining after a stop or a failure, only the bookkeeping runs.
        while (size > 0 && ring[head]!.done) {
          const { cursor, checkpoint } = ring[head]!;
          ring[head] = undefined;
          head = (head + 1) % n;
          size--;
          if (interruption || failure) {
            // Draining: the run's outcome is decided and saved at the end; asking again could only ask twice.
            this.state.cursor = cursor;
            this.state.iterations++;
            this.ctx.runIterations++;
            continue;
          }
          this.#doneCursor = cursor;
          if (checkpoint) this.#saveSoon();
          try {
            let verdict = this.#finish();
            if (isThenable(verdict)) verdict = await verdict;
            if (verdict) interruption = verdict;
          } catch (error) {
            failure = { error };
          }
        }
        const starting = mayStart();
        if (!starting && inFlight === 0) break;
        if (!starting || size === n) {
          await untilSettled();
          continue;
        }
        let pair: unknown;
        let slot: { cursor: Cursor; done: boolean; checkpoint?: boolean };
        try {
          let step = iterator.next();
          if (isThenable(step)) step = await step;
          if (step.done) {
            exhausted = true;
            continue;
          }
          pair = step.value;
          slot = { cursor: this.#cursorOf(pair, this.state.iterations + size + 1), done: false };
        } catch (error) {
          failure ??= { error };
          continue;
        }
        // A stop or a failure seen while the enumerator was fetching: this item is not started, and it is not in
        // the window, so the cursor stays before it.
        if (!mayStart()) continue;
        ring[(head + size) % n] = slot;
        size++;
        inFlight++;
        const [item, itemCursor] = pair as Pair<unknown, unknown>;
        const context = { cursor: itemCursor as Cursor, signal: own.signal, checkpoint: () => (slot.checkpoint = true) };
        limit(() => this.job.eachIteration(item as Item, this.params, context)).then(
          () => {
            slot.done = true;
            settle();
          },
          (error: unknown) => {
            failure ??= { error };
            settle();
          },
        );
      }
    } finally {
      outer?.removeEventListener('abort', follow);
    }
    if (failure) throw failure.error;
    return exhausted && !interruption ? undefined : (interruption ?? this.#stopReason(this.ctx.runIterations));
  }

  /**
   * Records the finished item and asks the adapters. Synchronous unless a checkpoint, an event-loop turn or an
   * adapter's promise is due; returns the interruption, or undefined to go on.
   */
  #finish(): Interruption | undefined | Promise<Interruption | undefined> {
    const { state, ctx } = this;
    state.cursor = this.#doneCursor;
    state.iterations++;
    ctx.runIterations++;

    // Reading the clock costs more than a no-op iteration, so fast loops read it only every `stride` items; the
    // stride drops to 1 as soon as items get slow, keeping checkpoints and event-loop turns on time.
    if (this.intervalMs === 0 || --this.#untilClock === 0) {
      const now = performance.now();
      const sinceLast = now - this.#lastClock;
      this.#lastClock = now;
      if (sinceLast < 1) this.#stride = Math.min(this.#stride * 2, MAX_STRIDE);
      else if (sinceLast > 2) this.#stride = 1;
      this.#untilClock = this.#stride;
      const saveDue = now - this.#lastSave >= this.intervalMs;
      const turnDue = now - this.#lastTurn >= EVENT_LOOP_TURN_MS;
      if (saveDue || turnDue) return this.#checkpoint(now, saveDue, turnDue);
    }
    return this.#ask(0);
  }

  async #checkpoint(now: number, saveDue: boolean, turnDue: boolean): Promise<Interruption | undefined> {
    if (saveDue) {
      this.#lastSave = now;
      if (this.#eagerUntil !== 0 && now >= this.#eagerUntil) {
        this.#eagerUntil = 0;
        this.intervalMs = this.#normalIntervalMs;
      }
      await this.save();
      if (events.has('job:checkpoint')) events.emit('job:checkpoint', { ...this.eventBase(), state: this.state });
    }
    if (turnDue) {
      // A loop whose awaits all resolve at once never lets timers or signal handlers run; without this turn a
      // SIGTERM or a BullMQ lock renewal would wait for the whole job.
      await yieldToEventLoop();
      this.#lastTurn = performance.now();
    }
    return this.#ask(0);
  }

  /** Asks the adapters from the `from`-th on; synchronous while they answer synchronously. */
  #ask(from: number): Interruption | undefined | Promise<Interruption | undefined> {
    const checks = this.#checks;
    for (let i = from; i < checks.length; i++) {
      const decision = checks[i]!(this.ctx);
      if (!decision) continue;
      const name = this.adapters[i]!.name;
      if (isThenable(decision)) {
        return Promise.resolve(decision).then((answer) => interruptionOf(answer, name) ?? this.#ask(i + 1));
      }
      const interruption = interruptionOf(decision, name);
      if (interruption) return interruption;
    }
    // The run's own signal is the engine's concern, not an adapter's: it stops the run even when `adapters` names
    // none (as the testing helpers do). Asked after the adapters so a runtime's adapter can name the stop itself.
    const runIterations = this.ctx.runIterations;
    return runIterations >= this.#stopAt ? this.#stopReason(runIterations) : undefined;
  }

  #stopReason(runIterations: number): Interruption {
    if (this.#requested) return this.#requested;
    if (this.#aborted) return { adapter: ABORT_SIGNAL, reason: describeAbortReason(this.options.signal!) };
    return { adapter: 'max-iterations', reason: `ran ${runIterations} iterations` };
  }
}

function withExtent(extent: Extent | undefined): { extent?: Extent } {
  return extent ? { extent } : {};
}

function selectAdapters(options: Pick<RunOptions, 'adapters' | 'localAdapters'>, JobClass: IterableJobClass): ResolvedAdapter[] {
  const selected = InterruptionAdapters.select(options.adapters);
  const own = JobClass.localAdapters ?? {};
  for (const [name, adapter] of Object.entries(own)) selected.push(resolveAdapter(name, adapter as InterruptionAdapter));
  for (const [name, adapter] of Object.entries(options.localAdapters ?? {})) selected.push(resolveAdapter(name, adapter));
  return selected;
}

/**
 * The iterator of what a `buildEnumerator` returned (`where` names it in the error: a step job's step), or
 * `InvalidEnumeratorError` for anything that is not an Iterable or AsyncIterable.
 */
export function openIterator(jobName: string, enumeration: unknown, where = 'buildEnumerator'): Iterator<unknown> | AsyncIterator<unknown> {
  if (enumeration !== null && typeof enumeration === 'object') {
    const asyncFactory = (enumeration as AsyncIterable<unknown>)[Symbol.asyncIterator];
    if (typeof asyncFactory === 'function') return asyncFactory.call(enumeration);
    const syncFactory = (enumeration as Iterable<unknown>)[Symbol.iterator];
    if (typeof syncFactory === 'function') return syncFactory.call(enumeration);
  }
  const promised = isThenable(enumeration);
  // Refused, the promise is never awaited: its rejection must not surface as an unhandled one.
  if (promised) Promise.resolve(enumeration).catch(() => undefined);
  throw new InvalidEnumeratorError(
    jobName,
    `${where} must return an Iterable or AsyncIterable of [item, cursor] pairs; it returned ${promised ? 'a Promise (do not make buildEnumerator async; use an async generator)' : typeof enumeration}.`,
  );
}

async function closeIterator(iterator: Iterator<unknown> | AsyncIterator<unknown> | undefined): Promise<void> {
  // Lets generators run their finally blocks (release a DB cursor, close a file) when we stop early.
  if (iterator?.return) await iterator.return();
}


function describePair(value: unknown): string {
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return value === null ? 'null' : typeof value;
}

function asError(jobName: string, thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new IterationFailedError(jobName, thrown);
}

function attachState(error: Error, state: JobState<any>): void {
  const snapshot = structuredClone(state);
  try {
    if (error instanceof JobIterationError) error.state = snapshot;
    else Object.defineProperty(error, 'state', { value: snapshot, configurable: true, writable: true, enumerable: false });
  } catch {
    // A frozen error object cannot carry the state; the persisted copy still holds it.
  }
}
