import { InvalidJobError } from './errors.js';
import { CLASS_OPTIONS, IterableJob, type ClassOptions, type EnumeratorContext, type Enumeration, type IterableJobClass, type IterationContext } from './iterable-job.js';

/**
 * The parts of a job for {@link defineJob}. `Params`, `Item` and `Cursor` are inferred: `Params` from the annotation
 * of `buildEnumerator`'s first parameter, `Item` from what it yields, `Cursor` from `validateCursor` when it is a type
 * guard (`(cursor): cursor is number => ...`) written before `buildEnumerator`, else from what the enumerator yields.
 * The other members are checked against those types, never widen them.
 *
 * Inside every member, `this` is the job instance: `this.progress` reads where the job stands during a run.
 */
export interface JobDefinition<Params, Item, Cursor> extends ClassOptions {
  /** The name the job is routed and persisted under (the class's `jobName`). */
  readonly name: string;
  /**
   * Checks a saved cursor before a run resumes from it; see `IterableJob.validateCursor`. As a type guard it also
   * gives the cursor its type everywhere else, so `buildEnumerator` can use `context.cursor` without a cast.
   */
  readonly validateCursor?: (cursor: unknown, params: NoInfer<Params>) => cursor is Cursor;
  /** Checks the params before anything runs; see `IterableJob.validateParams`. */
  readonly validateParams?: (params: NoInfer<Params>) => boolean | string;
  /** Returns the `[item, cursor]` pairs after `context.cursor`; see `IterableJob.buildEnumerator`. */
  readonly buildEnumerator: (params: Params, context: EnumeratorContext<Cursor>) => Enumeration<Item, Cursor>;
  /** Processes one item; must be idempotent. See `IterableJob.eachIteration`. */
  readonly eachIteration: (item: NoInfer<Item>, params: NoInfer<Params>, context: IterationContext<NoInfer<Cursor>>) => unknown;
  /** Runs once in the job's life, before the first item. */
  readonly onStart?: (params: NoInfer<Params>) => unknown;
  /** Runs at the start of every resumed run. */
  readonly onResume?: (params: NoInfer<Params>) => unknown;
  /** Runs once, when the enumerator is exhausted. */
  readonly onComplete?: (params: NoInfer<Params>) => unknown;
  /** Runs at the end of every run; release what the run holds here. */
  readonly onShutdown?: (params: NoInfer<Params>) => unknown;
  /** Runs when the job is cancelled through the control API (BullMQ runtime). */
  readonly onCancel?: (params: NoInfer<Params>) => unknown;
  /** How many items the whole job has, for percent and ETA. */
  readonly count?: (params: NoInfer<Params>) => number | Promise<number>;
  /** How many `eachIteration` calls may be in flight at once; see `IterableJob.concurrency`. */
  readonly concurrency?: number;
  /** Splits the job into partitions' params; see `IterableJob.partition` and docs/partitions.md. */
  readonly partition?: (params: NoInfer<Params>, partitions: number) => readonly NoInfer<Params>[] | Promise<readonly NoInfer<Params>[]>;
}

const HOOKS = ['validateParams', 'validateCursor', 'buildEnumerator', 'eachIteration', 'onStart', 'onResume', 'onComplete', 'onShutdown', 'onCancel', 'count'] as const;

/**
 * Defines a job without writing a class, with its types inferred: the result is an ordinary `IterableJob`
 * subclass that `runInline`, the BullMQ runtime and the CLI take like any other.
 *
 * ```ts
 * const Backfill = defineJob({
 *   name: 'backfill',
 *   validateCursor: (cursor): cursor is number => Number.isSafeInteger(cursor),
 *   *buildEnumerator(params: { ids: string[] }, { cursor }) {
 *     for (let i = cursor === undefined ? 0 : cursor + 1; i < params.ids.length; i++) yield [params.ids[i]!, i] as const;
 *   },
 *   async eachIteration(id) {
 *     await reindex(id); // id: string
 *   },
 * });
 * ```
 *
 * Throws `InvalidJobError` (`ERR_INVALID_JOB`) when the name is missing or a member is not a function.
 */
export function defineJob<Params, Item, Cursor>(
  definition: JobDefinition<Params, Item, Cursor> & ThisType<IterableJob<Params, Item, Cursor>>,
): IterableJobClass<Params, Item, Cursor> {
  const { name } = definition;
  if (typeof name !== 'string' || name.length === 0) throw new InvalidJobError('defineJob needs a name (a non-empty string).');
  for (const member of HOOKS) {
    const value: unknown = definition[member];
    const required = member === 'buildEnumerator' || member === 'eachIteration';
    if ((value !== undefined || required) && typeof value !== 'function') {
      throw new InvalidJobError(`Job "${name}": ${member} must be a function; got ${typeof value}.`);
    }
  }
  // A real subclass, so everything that recognises IterableJob classes (the brand, instanceof) recognises it.
  const Defined = { [name]: class extends (IterableJob as unknown as new () => object) {} }[name]!;
  for (const member of HOOKS) {
    const value = definition[member];
    if (value !== undefined) Object.defineProperty(Defined.prototype, member, { value, writable: true, configurable: true });
  }
  const statics: Record<string, unknown> = { jobName: name };
  for (const key of [...CLASS_OPTIONS, 'concurrency'] as const) {
    if (definition[key] !== undefined) statics[key] = definition[key];
  }
  if (definition.partition !== undefined) {
    if (typeof definition.partition !== 'function') throw new InvalidJobError(`Job "${name}": partition must be a function; got ${typeof definition.partition}.`);
    statics.partition = definition.partition;
  }
  Object.assign(Defined, statics);
  return Defined as unknown as IterableJobClass<Params, Item, Cursor>;
}
