import { InvalidJobError } from './errors.js';
import { events } from './events.js';

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
}

/** `[item, cursor]`: the item to process and the cursor that means "this item is done". */
export type Pair<Item, Cursor> = readonly [Item, Cursor];

export type Enumeration<Item, Cursor> = Iterable<Pair<Item, Cursor>> | AsyncIterable<Pair<Item, Cursor>>;

/**
 * Base class of an interruptible, resumable job. Subclass it, implement `buildEnumerator` and `eachIteration`,
 * and run it with `runInline`, the BullMQ runtime or the CLI. See docs/writing-a-job.md.
 *
 * @typeParam Params - the job's arguments, a JSON object.
 * @typeParam Item - what the enumerator yields for `eachIteration` to process.
 * @typeParam Cursor - a JSON value that marks an item as done; the enumerator resumes after it.
 */
const BRAND = Symbol.for('job-iteration.IterableJob');

export abstract class IterableJob<Params = unknown, Item = unknown, Cursor = unknown> {
  /** Name used to route and persist the job. Defaults to the class name; set it so minifiers and renames cannot break resumes. */
  static jobName?: string;
  /** Per-class budget for one run (see the `max-runtime` adapter); overrides the process default. */
  static maxJobRuntimeMs?: number;
  /** Per-class checkpoint interval; overrides the process default. 0 persists after every iteration. */
  static checkpointIntervalMs?: number;

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
  /** Runs at the end of every run: completed, interrupted or failed. Release what the run holds here. */
  onShutdown?(params: Params): unknown;
  /** Runs when the job is cancelled through the control API (BullMQ runtime). */
  onCancel?(params: Params): unknown;
  /**
   * Checks a saved cursor before a run resumes from it. A saved cursor is input from outside the process (a file,
   * a queue's job data) and JSON alone does not say it has the shape `buildEnumerator` expects: a string where a
   * number belongs could make an enumerator yield nothing and the job "complete" having done nothing. Return `true`
   * to accept it; `false`, or a sentence saying what is wrong, refuses it: the run fails with `InvalidCursorError`
   * (`ERR_INVALID_CURSOR`) before any hook or item runs, and the saved state is left as it is. A throw refuses it
   * too, with the error as the cause. Not called on a fresh start (no cursor yet).
   */
  validateCursor?(cursor: unknown, params: Params): boolean | string;
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
 * The job's item count from its optional `count(params)` hook, for percent and ETA. A missing hook, a throw (reported
 * as `hook:error`) or a value that is not a count gives `undefined`: progress then shows no percent, the job runs on.
 */
export async function countItems(JobClass: IterableJobClass, params: unknown): Promise<number | undefined> {
  if (typeof JobClass.prototype.count !== 'function') return undefined;
  try {
    const total = await new JobClass().count!(params);
    return typeof total === 'number' && Number.isFinite(total) && total >= 0 ? total : undefined;
  } catch (error) {
    events.emit('hook:error', { hook: 'count', error });
    return undefined;
  }
}
