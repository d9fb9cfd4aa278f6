import { InvalidJobError } from './errors.js';
import { events } from './events.js';
import { frozenParams } from './params.js';
import { readProgress, type JobProgress } from './progress.js';

/** What `buildEnumerator` receives besides the params. */
export interface EnumeratorContext<Cursor> {
  /** The cursor of the last finished item, or `undefined` on a fresh start. Yield only items *after* it. */
  cursor: Cursor | undefined;
}

/** What `eachIteration` receives besides the item and the params. */
export interface IterationContext<Cursor> {
  /** The cursor yielded with this item. */
  readonly cursor: Cursor;
  /**
   * Aborts when the run must stop *now* (the run's own signal: an urgent stop, a cancelled BullMQ job). A graceful
   * stop never aborts it: the item in flight always finishes. Hand it to your I/O (fetch, pg, streams).
   */
  readonly signal: AbortSignal;
  /**
   * Saves the state as soon as this item finishes, whatever the checkpoint interval: after a step of work a crash
   * must not repeat (a schema change, a file handed on). With `concurrency` above 1 the save comes once this item is
   * in the finished run of items the cursor covers.
   */
  checkpoint(): void;
}

/** `[item, cursor]`: the item to process and the cursor that means "this item is done". */
export type Pair<Item, Cursor> = readonly [Item, Cursor];

/** What `buildEnumerator` returns: any sync or async iterable of `[item, cursor]` pairs. */
export type Enumeration<Item, Cursor> = Iterable<Pair<Item, Cursor>> | AsyncIterable<Pair<Item, Cursor>>;

/**
 * An interruption adapter as a job class declares it in `static localAdapters` (see `InterruptionAdapter`; the shape
 * is repeated here so that a job class does not depend on the adapter registry).
 */
export type ClassAdapter = ((ctx: any) => unknown) | { shouldInterrupt(ctx: any): unknown };

/**
 * Queue options a job class asks for when it is enqueued (`static jobOptions`); a runtime's own options for one
 * enqueue win over them. The shape of BullMQ's `attempts` and `backoff`, repeated so the core needs no queue.
 */
export interface ClassJobOptions {
  /** Runs a failed job may have in all (1: no retry). */
  attempts?: number;
  /** The wait before a retry: milliseconds, or `{ type: 'fixed' | 'exponential', delay }`. */
  backoff?: number | { type: 'fixed' | 'exponential'; delay?: number };
}

/** What `defineJob` and `defineSteps` take besides hooks and become the class's statics; see `IterableJob`. */
export interface ClassOptions {
  /** The class's run budget; it may lower the process setting, never raise it. */
  readonly maxJobRuntimeMs?: number;
  /** The class's checkpoint interval (ms). */
  readonly checkpointIntervalMs?: number;
  /** Runs after the first that may resume the job; see `IterableJob.maxResumptions`. */
  readonly maxResumptions?: number;
  /** Under a queue, an error after progress resumes after the backoff; see `IterableJob.resumeErrorsAfterProgress`. */
  readonly resumeErrorsAfterProgress?: boolean;
  /** Interruption adapters consulted in every run of this job, e.g. a `throttle()`; see `IterableJob.localAdapters`. */
  readonly localAdapters?: Readonly<Record<string, ClassAdapter>>;
  /** Queue options the job is enqueued with (attempts, backoff); see `IterableJob.jobOptions`. */
  readonly jobOptions?: ClassJobOptions;
}

/** The keys of {@link ClassOptions}. */
export const CLASS_OPTIONS = ['maxJobRuntimeMs', 'checkpointIntervalMs', 'maxResumptions', 'resumeErrorsAfterProgress', 'localAdapters', 'jobOptions'] as const satisfies readonly (keyof ClassOptions)[];

const BRAND = Symbol.for('job-iteration.IterableJob');

/**
 * @internal A static method a kind of job (a step job) defines to refuse a class the engine could not run, checked
 * with the rest of the class by `assertRunnableJob`: before a worker takes jobs, before any run.
 */
export const CHECK_CLASS = Symbol.for('job-iteration.checkClass');

/**
 * Base class of an interruptible, resumable job. Subclass it, implement `buildEnumerator` and `eachIteration`,
 * and run it with `runInline`, the BullMQ runtime or the CLI (or build one with `defineJob`). See
 * docs/writing-a-job.md.
 *
 * Hooks, `buildEnumerator`, `eachIteration`, `validateCursor` and `count` receive a deep-frozen copy of the params:
 * the caller's object and the saved params never change. During a run, `this.progress` tells where the job stands.
 *
 * @typeParam Params - the job's arguments, a JSON object.
 * @typeParam Item - what the enumerator yields for `eachIteration` to process.
 * @typeParam Cursor - a JSON value that marks an item as done; the enumerator resumes after it.
 */
export abstract class IterableJob<Params = unknown, Item = unknown, Cursor = unknown> {
  /** Name used to route and persist the job. Defaults to the class name; set it so minifiers and renames cannot break resumes. */
  static jobName?: string;
  /**
   * Per-class budget for one run (see the `max-runtime` adapter). It may lower the process setting
   * (`configure({ maxJobRuntimeMs })`), never raise it: the smaller of the two applies.
   */
  static maxJobRuntimeMs?: number;
  /**
   * Per-class checkpoint interval (ms); 0 persists after every iteration. A run's own option wins over it; it wins
   * over the worker's and the process setting (see `resolveCheckpointInterval`).
   */
  static checkpointIntervalMs?: number;
  /**
   * How many `eachIteration` calls may be in flight at once (default 1). Items still start in the enumerator's
   * order; the saved cursor is that of the longest finished run of items from the start, so nothing is skipped. A
   * graceful stop lets the items in flight finish; an error lets them settle and fails with the state at that
   * prefix, so a retry repeats at most `concurrency - 1` finished items. `runInline`'s `concurrency` option wins.
   */
  static concurrency?: number;
  /**
   * Interruption adapters of this class, consulted in every run of it after the registered ones, under whichever
   * runtime runs it: a throttle on the database this job writes to, for example (`{ 'replica-lag': throttle(...) }`).
   */
  static localAdapters?: Readonly<Record<string, ClassAdapter>>;
  /**
   * Queue options this job is enqueued with unless the caller says otherwise, e.g. `{ attempts: 5, backoff: { type:
   * 'exponential', delay: 1000 } }`: a retry resumes from the saved cursor, so retries cost only the failed item.
   */
  static jobOptions?: ClassJobOptions;
  /**
   * How many times the job may be resumed: every run after the one that started it counts (after a deploy, a
   * budget, a throttle, a crash or a retry). The run past it fails with `ResumptionLimitError`
   * (`ERR_RESUMPTION_LIMIT`) before any hook or item runs, and a queue does not retry it. Unlimited when absent.
   */
  static maxResumptions?: number;
  /**
   * Under a queue (the BullMQ runtime), a run that throws after it finished at least one item goes back to the
   * queue to resume after the job's backoff, instead of using up one of its attempts: Rails' "resume errors after
   * advancing". A run that throws before its first item is a failed attempt, as always. Pair it with
   * `maxResumptions`, which bounds such runs too. Default false.
   */
  static resumeErrorsAfterProgress?: boolean;
  /**
   * Splits one job into partitions that run side by side, as separate jobs on any workers (BullMQ's
   * `enqueuePartitioned`, `job-iteration enqueue --partitions`): returns the params of each partition, at most
   * `partitions` of them, which together cover the job's items exactly once. Each partition is a job of this class
   * with its own cursor, so `buildEnumerator` reads only what its params say, e.g. a `range` from `keyRanges`:
   *
   * ```ts
   * static async partition(params: Params, partitions: number) {
   *   const ranges = await keyRanges(pool, { table: 'orders', partitions });
   *   return ranges.map((range) => ({ ...params, range }));
   * }
   * ```
   *
   * Each partition's params are checked by `validateParams` like any job's. See docs/partitions.md.
   */
  static partition?(params: any, partitions: number): readonly unknown[] | Promise<readonly unknown[]>;

  /**
   * Where the job stands, for hooks and `eachIteration` during a run: the last finished cursor, iterations over all
   * runs and in this run, times interrupted, total time. Each read is a fresh snapshot. Reading it outside a run
   * throws `InvalidStateError`.
   */
  get progress(): JobProgress<Cursor> {
    return readProgress<Cursor>(this);
  }

  /**
   * Returns the items to process as `[item, cursor]` pairs, starting *after* `cursor` when it is given. Any
   * `Iterable` or `AsyncIterable` works: arrays, generators, async generators, database cursors.
   */
  abstract buildEnumerator(params: Params, context: EnumeratorContext<Cursor>): Enumeration<Item, Cursor>;

  /** Processes one item. Must be idempotent: after a crash, the items since the last checkpoint run again. */
  abstract eachIteration(item: Item, params: Params, context: IterationContext<Cursor>): unknown;

  /** Runs once in the job's life, before the first item; decided by the saved state, not by attempt numbers. */
  onStart?(params: Params): unknown;
  /** Runs at the start of every resumed run (after an interruption, a crash or a retry). */
  onResume?(params: Params): unknown;
  /** Runs once, when the enumerator is exhausted, before `onShutdown`. */
  onComplete?(params: Params): unknown;
  /** Runs at the end of every run: completed, interrupted, cancelled or failed. Release what the run holds here. */
  onShutdown?(params: Params): unknown;
  /**
   * Runs once when the job is cancelled (a runtime's `RunHandle.cancel`, e.g. BullMQ's `cancelJob`): after the item
   * in flight, before the state is saved as `cancelled` and before `onShutdown`.
   */
  onCancel?(params: Params): unknown;
  /**
   * Checks a saved cursor before a run resumes from it. A saved cursor is input from outside the process (a file,
   * a queue's job data) and JSON alone does not say it has the shape `buildEnumerator` expects: a string where a
   * number belongs could make an enumerator yield nothing and the job "complete" having done nothing. Return `true`
   * to accept it; `false`, or a sentence saying what is wrong, refuses it: the run fails with `InvalidCursorError`
   * (`ERR_INVALID_CURSOR`) before any hook or item runs, and the saved cursor is kept (a queue marks the state
   * `failed`, with the error). A throw refuses it
   * too, with the error as the cause. Not called on a fresh start (no cursor yet).
   */
  validateCursor?(cursor: unknown, params: Params): boolean | string;
  /**
   * Checks the params before anything runs: at `enqueue` (nothing is added), at the start of every run, and in
   * `job-iteration run` and `enqueue` (exit 2). Params come from outside the process (a command line, a queue's job
   * data); a misspelt or mistyped field would otherwise surface items later, or never. Return `true` to accept
   * them (nothing else accepts, so a forgotten `return` shows at once); `false`, or a sentence that names the field and what is wrong (`upTo must be an integer >= 1;
   * got "x"`), refuses them with `InvalidParamsError` (`ERR_INVALID_PARAMS`). A throw refuses them too, with its
   * message. Under BullMQ a refused job fails for good: a retry would be refused the same way.
   */
  validateParams?(params: Params): boolean | string;
  /**
   * How many items the whole job has, when it can tell cheaply. Enables percent and ETA in progress reports.
   */
  count?(params: Params): number | Promise<number>;
}

/** A concrete `IterableJob` subclass. */
export type IterableJobClass<Params = any, Item = any, Cursor = any> = (new () => IterableJob<Params, Item, Cursor>) & {
  jobName?: string;
  maxJobRuntimeMs?: number;
  checkpointIntervalMs?: number;
  concurrency?: number;
  localAdapters?: Readonly<Record<string, ClassAdapter>>;
  jobOptions?: ClassJobOptions;
  maxResumptions?: number;
  resumeErrorsAfterProgress?: boolean;
  partition?(params: Params, partitions: number): readonly Params[] | Promise<readonly Params[]>;
  readonly name: string;
  readonly prototype: IterableJob<Params, Item, Cursor>;
};

/** Whether `value` is a class that extends `IterableJob` (and is not `IterableJob` itself). */
export function isIterableJobClass(value: unknown): value is IterableJobClass {
  if (typeof value !== 'function' || value === IterableJob) return false;
  const proto: unknown = value.prototype;
  // The brand, not `instanceof`, so a class built on another copy of this package (two versions in node_modules,
  // TypeScript sources next to the built files) is still recognised.
  return proto instanceof IterableJob || (proto !== null && typeof proto === 'object' && (proto as Record<symbol, unknown>)[BRAND] === true && !Object.hasOwn(proto, BRAND));
}

/** The name a job class is routed and persisted under. */
export function jobNameOf(JobClass: IterableJobClass): string {
  if (!isIterableJobClass(JobClass)) {
    throw new InvalidJobError(`Expected a subclass of IterableJob; got ${typeof JobClass === 'function' ? `class ${(JobClass as Function).name}` : typeof JobClass}.`);
  }
  const name = Object.hasOwn(JobClass, 'jobName') ? JobClass.jobName : JobClass.name;
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidJobError(`Job class ${JobClass.name || '(anonymous)'} has no name; set static jobName.`);
  }
  return name;
}

Object.defineProperty(IterableJob.prototype, BRAND, { value: true });

/**
 * Refuses a class the engine could not run, before any hook has a chance to do work the run would then abandon.
 * TypeScript catches a missing abstract method; plain JavaScript and `as` casts do not.
 */
export function assertRunnableJob(JobClass: IterableJobClass): string {
  const jobName = jobNameOf(JobClass);
  for (const method of ['buildEnumerator', 'eachIteration'] as const) {
    if (typeof JobClass.prototype[method] !== 'function') {
      throw new InvalidJobError(`Job class ${JobClass.name || jobName} has no ${method}() method; an iterable job needs buildEnumerator and eachIteration.`);
    }
  }
  const { maxResumptions, resumeErrorsAfterProgress } = JobClass;
  if (maxResumptions !== undefined && !(Number.isSafeInteger(maxResumptions) && maxResumptions >= 0)) {
    throw new InvalidJobError(`Job "${jobName}": maxResumptions must be an integer >= 0; got ${String(maxResumptions)}.`);
  }
  if (resumeErrorsAfterProgress !== undefined && typeof resumeErrorsAfterProgress !== 'boolean') {
    throw new InvalidJobError(`Job "${jobName}": resumeErrorsAfterProgress must be true or false; got ${typeof resumeErrorsAfterProgress}.`);
  }
  const check: unknown = (JobClass as unknown as Record<symbol, unknown>)[CHECK_CLASS];
  if (typeof check === 'function') check.call(JobClass, jobName);
  return jobName;
}

/**
 * The job's item count from its optional `count(params)` hook, for percent and ETA. A missing hook, a throw (reported
 * as `hook:error`) or a value that is not a count gives `undefined`: progress then shows no percent, the job runs on.
 *
 * Pass the instance the run will use (`runInline(JobClass, params, { job })`), so the job's resources are opened
 * and released once. Given a class, it counts on a throwaway instance and runs that instance's `onShutdown` after,
 * so whatever `count` opened in its fields is released too.
 */
export async function countItems(job: IterableJob | IterableJobClass, params: unknown): Promise<number | undefined> {
  const throwaway = typeof job === 'function';
  if (typeof (throwaway ? job.prototype : job).count !== 'function') return undefined;
  const instance: IterableJob = throwaway ? new job() : job;
  const frozen = frozenParams(jobNameOf(instance.constructor as IterableJobClass), params);
  try {
    const total = await instance.count!(frozen);
    return typeof total === 'number' && Number.isFinite(total) && total >= 0 ? total : undefined;
  } catch (error) {
    events.emit('hook:error', { hook: 'count', error });
    return undefined;
  } finally {
    if (throwaway) {
      try {
        await instance.onShutdown?.(frozen);
      } catch (error) {
        events.emit('hook:error', { hook: 'onShutdown', error });
      }
    }
  }
}
