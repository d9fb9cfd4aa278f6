import { InvalidEnumeratorError, InvalidJobError, StepsChangedError } from './errors.js';
import { isThenable } from './verdict.js';
import { openIterator } from './runner.js';
import { extentOf, stepLabelOf, type Extent, type MeasuredEnumeration, type StepPosition } from './extent.js';
import { CHECK_CLASS, CLASS_OPTIONS, IterableJob, jobNameOf, type ClassOptions, type EnumeratorContext, type Enumeration, type IterableJobClass, type IterationContext, type Pair } from './iterable-job.js';

/** What a plain step's `run` receives besides the params. */
export interface StepRunContext {
  /** The step's name. */
  readonly step: string;
  /** The run's signal: aborts when the run must stop now. */
  readonly signal: AbortSignal;
}

/** A step that runs once: it is done when `run` returns. A crash before that runs it again, so make it idempotent. */
export interface RunStep<Params = any, This extends StepJob<Params> = StepJob<Params>> {
  readonly name: string;
  /**
   * Called with `this` set to the job instance, so a step can use what the job opened (a pool, a client); name the
   * job's class as `This` (`Step<Params, Migrate>[]`) to reach its own members.
   */
  run(this: This, params: Params, context: StepRunContext): unknown;
}

/** A step that iterates with any enumerator, with its own cursor inside the job's composite one. */
export interface IterationStep<Params = any, Item = any, Cursor = any, This extends StepJob<Params> = StepJob<Params>> {
  readonly name: string;
  /** Called with `this` set to the job instance, as every member of a step is. */
  buildEnumerator(this: This, params: Params, context: EnumeratorContext<Cursor>): Enumeration<Item, Cursor>;
  eachIteration(this: This, item: Item, params: Params, context: IterationContext<Cursor>): unknown;
  /** Checks the step's own saved cursor, as `IterableJob.validateCursor` does for a job. */
  validateCursor?(this: This, cursor: unknown, params: Params): boolean | string;
}

/** A step of a step job: plain or an iteration. `This` is the job class whose instance the step's members get as `this`. */
export type Step<Params = any, This extends StepJob<Params> = StepJob<Params>> = RunStep<Params, This> | IterationStep<Params, any, any, This>;

/**
 * The cursor of a step job. `done` lists the completed steps, in order. `step` is the step of the last finished
 * item: when it is the last entry of `done`, that step is complete and a resume starts the next one; otherwise the
 * resume goes on inside `step`, after its own `cursor`.
 */
export interface StepCursor {
  step: string;
  done: string[];
  cursor?: unknown;
  /** Items of `step` finished, while the job is inside an iteration step: how its enumerator measures progress. */
  items?: number;
}

/** What the chained enumeration yields: which step an item belongs to, and what to do with it. */
export interface StepItem {
  readonly step: string;
  readonly index: number;
  /** `run`: a plain step; `item`: one item of an iteration step; `end`: an iteration step ran out of items. */
  readonly kind: 'run' | 'item' | 'end';
  readonly item?: unknown;
  /** The step starts with this item (it was not resumed inside), so `onStepStart` runs before it. */
  readonly first: boolean;
  /** @internal A plain step or a step's end: settled by the job once it is done, for the chain to open what follows. */
  readonly boundary?: Boundary;
}

/** The chained enumeration of a step job, measured in steps. */
export type StepEnumeration = AsyncIterable<Pair<StepItem, StepCursor>> & MeasuredEnumeration<StepCursor>;

const isRunStep = (step: Step): step is RunStep => typeof (step as RunStep).run === 'function';

/** @internal The end of a step, as the chain waits for it: whether it is over, and a promise of it. */
export class Boundary {
  settled = false;
  failed = false;
  readonly done: Promise<void>;
  #resolve!: () => void;
  #reject!: (error: unknown) => void;
  constructor() {
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Awaited only when something comes after it; a failure is the job's to report, through its item.
    this.done.catch(() => undefined);
  }
  settle(error?: { error: unknown }): void {
    if (this.settled) return;
    this.settled = true;
    if (error) {
      this.failed = true;
      this.#reject(error.error);
    } else this.#resolve();
  }
}

/** Refuses a step list the chain could not run: empty, a duplicate name, a step that is neither kind. */
export function assertSteps(owner: string, steps: unknown): readonly Step[] {
  if (!Array.isArray(steps) || steps.length === 0) throw new InvalidJobError(`Job "${owner}": steps must be a non-empty array of steps.`);
  const seen = new Set<string>();
  for (const [i, step] of (steps as Step[]).entries()) {
    const name = (step as Partial<Step> | null)?.name;
    if (typeof name !== 'string' || name === '') throw new InvalidJobError(`Job "${owner}": step ${i + 1} has no name (a non-empty string).`);
    if (seen.has(name)) throw new InvalidJobError(`Job "${owner}": two steps are named "${name}"; names identify steps in the saved cursor.`);
    seen.add(name);
    const run = typeof (step as RunStep).run === 'function';
    const iterate = typeof (step as IterationStep).buildEnumerator === 'function' && typeof (step as IterationStep).eachIteration === 'function';
    if (run === iterate) throw new InvalidJobError(`Job "${owner}": step "${name}" needs either run(), or buildEnumerator() and eachIteration().`);
  }
  return steps as Step[];
}

/**
 * Checks a saved step cursor against the step names: `true`, a sentence for a cursor of the wrong shape, or a throw
 * of `StepsChangedError` when the names it was saved under are not the job's steps any more.
 */
export function checkStepCursor(jobName: string, names: readonly string[], cursor: unknown): true | string {
  if (cursor === null || typeof cursor !== 'object' || Array.isArray(cursor)) return 'expected a step cursor { step, done, cursor? }';
  const { step, done } = cursor as Partial<StepCursor>;
  if (typeof step !== 'string') return 'expected a step cursor whose "step" is a step name';
  if (!Array.isArray(done) || !done.every((name) => typeof name === 'string')) return 'expected a step cursor whose "done" is an array of step names';
  const { items } = cursor as Partial<StepCursor>;
  if (items !== undefined && !(Number.isSafeInteger(items) && items >= 0)) return 'expected a step cursor whose "items" is an integer >= 0';
  const completed = done.length > 0 && done[done.length - 1] === step;
  const saved = completed ? [...done] : [...done, step];
  const refuse = (change: string) => {
    throw new StepsChangedError(jobName, cursor, saved, names, change);
  };
  for (const [i, name] of done.entries()) {
    if (i >= names.length) refuse(`completed step "${name}" was removed`);
    if (names[i] !== name) {
      refuse(names.includes(name) ? `completed step "${name}" moved from position ${i + 1} to ${names.indexOf(name) + 1}` : `completed step "${name}" at position ${i + 1} is now "${names[i]}"`);
    }
  }
  if (!completed) {
    const at = done.length;
    if (names[at] !== step) {
      refuse(
        names.includes(step)
          ? `step in progress "${step}" moved from position ${at + 1} to ${names.indexOf(step) + 1}`
          : `step in progress "${step}" at position ${at + 1} is ${at < names.length ? `now "${names[at]}"` : 'gone'}`,
      );
    }
  }
  return true;
}

/** Where a step cursor stands, for displays: `step 2/4 backfill`, or `done (4 steps)`. */
export function stepLabel(names: readonly string[], cursor: StepCursor | undefined): string {
  const position = positionOf(names, cursor);
  return position ? stepLabelOf(position) : `done (${names.length} steps)`;
}

/** The step a cursor is in, or about to start; `undefined` once every step is done. */
function positionOf(names: readonly string[], cursor: StepCursor | undefined): StepPosition | undefined {
  // A saved cursor is read before the engine checks it: one of another shape is nowhere.
  if (cursor !== undefined && !Array.isArray((cursor as Partial<StepCursor> | null)?.done)) return undefined;
  const index = cursor === undefined ? 0 : cursor.done.length;
  return index < names.length ? { name: names[index]!, position: index + 1, count: names.length } : undefined;
}

/**
 * Chains `steps` into one enumeration whose cursors are {@link StepCursor}s, starting after `cursor`. A plain step is
 * one item; an iteration step is its enumerator's items followed by an `end` item, so that its completion is a
 * checkpoint of its own. Its `extent` is that of the current step (see {@link StepJob}). Members of the steps are
 * called with `this` set to `job`.
 */
function chainSteps<Params>(job: StepJob<Params>, steps: readonly Step<Params>[], params: Params, cursor: StepCursor | undefined): StepEnumeration {
  const names = steps.map((step) => step.name);
  let live: StepChain<Params> | undefined;
  return {
    [Symbol.asyncIterator]: () => (live = new StepChain(job, jobNameOf(job.constructor as IterableJobClass), steps, names, params, cursor)),
    extent(at: StepCursor | undefined): Extent {
      const step = positionOf(names, at);
      if (!step) return { done: steps.length, total: steps.length, unit: 'steps' };
      const index = step.position - 1;
      // The current step's own measure (its rows, its bytes) once its enumerator is open; else the job's steps.
      const open = live?.enumerationOf(index);
      if (open !== undefined) {
        const within = at !== undefined && at.step === step.name && !at.done.includes(at.step);
        const own = extentOf(open, within ? at.cursor : undefined, within ? (at.items ?? 0) : 0);
        if (own) return { ...own, step };
      }
      return { done: index, total: steps.length, unit: 'steps', step };
    },
  };
}

type Next = IteratorResult<Pair<StepItem, StepCursor>>;

/** An iteration step's enumerator, open. */
interface OpenStep {
  readonly enumeration: unknown;
  readonly iterator: Iterator<unknown> | AsyncIterator<unknown>;
}

/**
 * The chain's iterator. It answers synchronously while the current step's enumerator does (the runner takes a
 * non-promise answer as it comes, sparing a microtask per item), and with a promise when it is asynchronous.
 */
class StepChain<Params> implements AsyncIterator<Pair<StepItem, StepCursor>> {
  #index: number;
  /** The enumerator of the iteration step at `#index`, once open. */
  #inner: OpenStep | undefined;
  /** Where to resume inside the step at `index`, when the cursor was inside an iteration step. */
  #resume: { index: number; cursor: unknown; items: number } | undefined;
  #closed = false;
  /** The last plain step or step end handed out: an iteration step's enumerator opens once it is done. */
  #boundary: Boundary | undefined;
  #first = true;
  #items = 0;
  #before: readonly string[] = [];

  constructor(
    readonly job: StepJob<Params>,
    readonly jobName: string,
    readonly steps: readonly Step<Params>[],
    readonly names: readonly string[],
    readonly params: Params,
    cursor: StepCursor | undefined,
  ) {
    this.#index = cursor === undefined ? 0 : cursor.done.length;
    if (cursor !== undefined && !(this.#index > 0 && cursor.done[this.#index - 1] === cursor.step) && Object.hasOwn(cursor, 'cursor')) {
      this.#resume = { index: this.#index, cursor: cursor.cursor, items: cursor.items ?? 0 };
    }
  }

  enumerationOf(index: number): unknown {
    return this.#index === index ? this.#inner?.enumeration : undefined;
  }

  next(): Promise<Next> {
    // Typed as the async protocol; the synchronous answer is the fast path, which the engine takes as it comes.
    return this.#next() as Promise<Next>;
  }

  #next(): Next | Promise<Next> {
    const index = this.#index;
    if (this.#closed || index >= this.steps.length) return { done: true, value: undefined };
    const step = this.steps[index]!;
    const name = step.name;
    if (isRunStep(step)) {
      this.#index++;
      const boundary = (this.#boundary = new Boundary());
      return { done: false, value: [{ step: name, index, kind: 'run', first: true, boundary }, { step: name, done: this.names.slice(0, index + 1) }] };
    }
    if (this.#inner === undefined) {
      // Items run ahead with concurrency: a step's enumerator opens once everything before it is done, so that it
      // reads what the steps before it wrote. A failure there ends the chain; the engine reports the failed item.
      const earlier = this.#boundary;
      if (earlier?.failed) return { done: true, value: undefined };
      if (earlier && !earlier.settled) return earlier.done.then(() => this.#begin(step as IterationStep<Params>, index), () => ({ done: true, value: undefined }));
      return this.#begin(step as IterationStep<Params>, index);
    }
    return this.#pull(this.#inner, index);
  }

  #begin(step: IterationStep<Params>, index: number): Next | Promise<Next> {
    if (this.#closed) return { done: true, value: undefined };
    return this.#pull(this.#open(step, index), index);
  }

  #pull(inner: OpenStep, index: number): Next | Promise<Next> {
    const answer = inner.iterator.next();
    return isThenable(answer) ? Promise.resolve(answer).then((result) => this.#item(result, index)) : this.#item(answer, index);
  }

  #open(step: IterationStep<Params>, index: number): OpenStep {
    // Only the step the cursor was saved in resumes: any other step starts from its beginning.
    const resume = this.#resume?.index === index ? this.#resume : undefined;
    this.#resume = undefined;
    this.#first = !resume;
    this.#items = resume ? resume.items : 0;
    this.#before = Object.freeze(this.names.slice(0, index));
    const enumeration: unknown = step.buildEnumerator.call(this.job, this.params, { cursor: resume ? resume.cursor : undefined });
    const iterator = openIterator(this.jobName, enumeration, `step "${step.name}": buildEnumerator`);
    return (this.#inner = { enumeration, iterator });
  }

  #item(result: IteratorResult<unknown>, index: number): Next {
    // Closed while this answer was on its way: nothing more comes out of the chain.
    if (this.#closed) return { done: true, value: undefined };
    const name = this.names[index]!;
    if (result.done) {
      this.#inner = undefined;
      this.#index++;
      const boundary = (this.#boundary = new Boundary());
      return { done: false, value: [{ step: name, index, kind: 'end', first: this.#first, boundary }, { step: name, done: [...this.#before, name] }] };
    }
    const pair = result.value;
    if (!Array.isArray(pair) || pair.length !== 2) throw new InvalidEnumeratorError(this.jobName, `step "${name}" must yield [item, cursor] pairs; it yielded ${Array.isArray(pair) ? `an array of length ${pair.length}` : pair === null ? 'null' : typeof pair}.`);
    const first = this.#first;
    this.#first = false;
    // `done` is the same frozen array for every item of the step: the engine copies the cursor it records.
    return { done: false, value: [{ step: name, index, kind: 'item', item: pair[0], first }, { step: name, done: this.#before as string[], cursor: pair[1], items: ++this.#items }] };
  }

  /** Closes the open enumerator (its finally blocks release cursors and files) when the run stops early. */
  async return(): Promise<Next> {
    const inner = this.#inner;
    this.#inner = undefined;
    this.#closed = true;
    if (inner?.iterator.return) await inner.iterator.return();
    return { done: true, value: undefined };
  }
}

/**
 * Base class of a job made of named steps run in order, each with its own cursor. Declare them in `static steps`:
 *
 * ```ts
 * class Migrate extends StepJob<{ table: string }> {
 *   static steps = [
 *     { name: 'prepare', async run() { } },
 *     { name: 'backfill', buildEnumerator: (_p: unknown, { cursor }: { cursor: number | undefined }) => fromArray([1, 2, 3], { cursor }), async eachIteration() { } },
 *   ];
 * }
 * ```
 *
 * The job's cursor is a {@link StepCursor}; everything else (checkpoints, interruptions, runtimes) is the engine's.
 * `onStepStart` runs before a step's first item (not again when a run resumes inside the step, but again if that
 * first item did not finish), `onStepComplete` once the step's last item finished. With `static concurrency` above 1,
 * an iteration step's items run side by side while the steps keep their order. See docs/steps.md.
 */
export abstract class StepJob<Params = unknown> extends IterableJob<Params, StepItem, StepCursor> {
  static steps: readonly Step<any, any>[] = [];

  /** Refuses a step list no run could use, with the rest of the class (`assertRunnableJob`). */
  static [CHECK_CLASS](this: typeof StepJob, jobName: string): void {
    assertSteps(jobName, this.steps);
  }

  onStepStart?(name: string, params: Params): unknown;
  onStepComplete?(name: string, params: Params): unknown;

  /** Where a saved cursor stands (`undefined`: a fresh start): the step it is in or starts next; `undefined` once all are done. */
  stepAt(cursor: StepCursor | undefined): StepPosition | undefined {
    return positionOf(this.steps.map((step) => step.name), cursor);
  }

  /** The class's steps as last checked, and the list they were checked from. */
  #checked: { from: unknown; steps: readonly Step<Params>[] } | undefined;

  /** This job's steps, checked (once per step list: the check is not repeated per item). */
  get steps(): readonly Step<Params>[] {
    const JobClass = this.constructor as typeof StepJob & IterableJobClass;
    if (this.#checked?.from !== JobClass.steps) this.#checked = { from: JobClass.steps, steps: assertSteps(jobNameOf(JobClass), JobClass.steps) };
    return this.#checked.steps;
  }

  override validateCursor(cursor: unknown, params: Params): boolean | string {
    const steps = this.steps;
    const verdict = checkStepCursor(jobNameOf(this.constructor as IterableJobClass), steps.map((s) => s.name), cursor);
    if (verdict !== true) return verdict;
    const { step, done } = cursor as StepCursor;
    if (done.includes(step)) return true;
    // Inside a step: only an iteration step has a cursor of its own to resume after.
    if (!Object.hasOwn(cursor as object, 'cursor')) return `expected a step cursor inside step "${step}" to have that step's own "cursor"`;
    const current = steps[done.length] as IterationStep<Params>;
    if (isRunStep(current)) {
      throw new StepsChangedError(jobNameOf(this.constructor as IterableJobClass), cursor, [...done, step], steps.map((s) => s.name), `step in progress "${step}" is now a plain step, which has no cursor to resume after`);
    }
    if (typeof current.validateCursor !== 'function') return true;
    const inner = current.validateCursor.call(this, (cursor as StepCursor).cursor, params);
    return inner === true ? true : `step "${step}": ${typeof inner === 'string' && inner !== '' ? inner : 'validateCursor refused its cursor'}`;
  }

  /**
   * What the next item must wait for: the last plain step or step end still running, or the current step's
   * `onStepStart`. `undefined` once they settled, which is always the case one item at a time.
   */
  #gate: Promise<unknown> | undefined;
  /** Items of the current iteration step still in flight (with `concurrency` above 1): its end waits for them. */
  readonly #inFlight = new Set<Promise<unknown>>();
  /** The first error of this run's items: nothing after it may finish a step or begin one. */
  #failure: { error: unknown } | undefined;

  buildEnumerator(params: Params, { cursor }: EnumeratorContext<StepCursor>): StepEnumeration {
    // A new run (an instance may serve several, one after the other) waits for nothing of an earlier one.
    this.#gate = undefined;
    this.#inFlight.clear();
    this.#failure = undefined;
    return chainSteps(this, this.steps, params, cursor);
  }

  /**
   * Runs one item of the chain. With `concurrency` above 1 the engine starts items before earlier ones finished, so
   * steps keep their order here: a step's items wait for its `onStepStart`; a plain step or a step's end (which
   * runs `onStepComplete`) waits for everything started before it, and the next step's items wait for it. Once an
   * item failed, no step finishes or begins any more; a step's end or plain step that waited and finds the run's
   * signal aborted (an urgent stop) does not begin either.
   */
  eachIteration(item: StepItem, params: Params, context: IterationContext<StepCursor>): unknown {
    const step = this.steps[item.index];
    if (step === undefined || step.name !== item.step) throw new InvalidJobError(`Job "${jobNameOf(this.constructor as IterableJobClass)}": no step "${item.step}" at position ${item.index + 1}.`);
    if (item.kind === 'item') {
      if (item.first && this.onStepStart) this.#gate = this.#gated(this.#gate, undefined, () => this.onStepStart!(step.name, params));
      const inner = { cursor: context.cursor.cursor, signal: context.signal, checkpoint: context.checkpoint };
      const gate = this.#gate;
      // An item gets the run's signal itself, to honour as it sees fit, as one item at a time does.
      if (gate !== undefined) return this.#track(this.#gated(gate, undefined, () => (step as IterationStep<Params>).eachIteration.call(this, item.item, params, inner)));
      let result: unknown;
      try {
        result = (step as IterationStep<Params>).eachIteration.call(this, item.item, params, inner);
      } catch (error) {
        this.#failure ??= { error };
        throw error;
      }
      return this.#track(result);
    }
    const before = [this.#gate, ...this.#inFlight];
    this.#inFlight.clear();
    const waits = before.some((p) => p !== undefined);
    // A step's end or a plain step that had to wait does not begin once the run's signal aborted (an urgent stop):
    // one item at a time, nothing begins after a stop either.
    const barrier = this.#gated(waits ? Promise.all(before) : undefined, waits ? context.signal : undefined, async () => {
      if (item.first) await this.onStepStart?.(step.name, params);
      if (item.kind === 'run') await (step as RunStep<Params>).run.call(this, params, { step: step.name, signal: context.signal });
      await this.onStepComplete?.(step.name, params);
      // A crash after this point never runs the step again.
      context.checkpoint();
    });
    this.#gate = barrier;
    barrier.then(
      () => item.boundary?.settle(),
      (error: unknown) => item.boundary?.settle({ error }),
    );
    return this.#track(barrier);
  }

  /**
   * `next` once `gate` settled (at once without one). A gate that failed fails it too, and so does an earlier
   * item's failure or the abort of `signal` when given: the work it would do belongs after something that did not
   * finish.
   */
  #gated(gate: Promise<unknown> | undefined, signal: AbortSignal | undefined, next: () => unknown): Promise<unknown> {
    const go = () => {
      if (this.#failure) throw this.#failure.error;
      if (signal?.aborted) throw signal.reason;
      return next();
    };
    const after = gate === undefined ? Promise.resolve().then(go) : gate.then(go);
    // Back to the direct path once nothing is left to wait for. Handled here, so a failure is reported once, by
    // the engine, which awaits what eachIteration returns.
    const clear = () => {
      if (this.#gate === after) this.#gate = undefined;
    };
    after.then(clear, clear);
    return after;
  }

  /** Keeps an item's promise until it settles, for the end of its step to wait for; a failure is kept for good. */
  #track(result: unknown): unknown {
    if (!isThenable(result)) return result;
    const promise = Promise.resolve(result);
    this.#inFlight.add(promise);
    promise.then(
      () => void this.#inFlight.delete(promise),
      (error: unknown) => {
        this.#inFlight.delete(promise);
        this.#failure ??= { error };
      },
    );
    return promise;
  }
}

/** The parts of a step job for {@link defineSteps}. */
export interface StepsDefinition<Params> extends ClassOptions {
  readonly name: string;
  readonly steps: readonly Step<Params>[];
  readonly validateParams?: (params: Params) => boolean | string;
  readonly onStart?: (params: Params) => unknown;
  readonly onResume?: (params: Params) => unknown;
  readonly onComplete?: (params: Params) => unknown;
  readonly onShutdown?: (params: Params) => unknown;
  readonly onCancel?: (params: Params) => unknown;
  readonly onStepStart?: (name: string, params: Params) => unknown;
  readonly onStepComplete?: (name: string, params: Params) => unknown;
}

const STEP_HOOKS = ['validateParams', 'onStart', 'onResume', 'onComplete', 'onShutdown', 'onCancel', 'onStepStart', 'onStepComplete'] as const;

/** Defines a {@link StepJob} without writing a class. Throws `InvalidJobError` for a bad name, step list or hook. */
export function defineSteps<Params>(definition: StepsDefinition<Params> & ThisType<StepJob<Params>>): IterableJobClass<Params, StepItem, StepCursor> {
  const { name } = definition;
  if (typeof name !== 'string' || name.length === 0) throw new InvalidJobError('defineSteps needs a name (a non-empty string).');
  const steps = assertSteps(name, definition.steps);
  const Defined = { [name]: class extends (StepJob as unknown as new () => StepJob<Params>) {} }[name]!;
  for (const hook of STEP_HOOKS) {
    const value: unknown = definition[hook];
    if (value === undefined) continue;
    if (typeof value !== 'function') throw new InvalidJobError(`Job "${name}": ${hook} must be a function; got ${typeof value}.`);
    Object.defineProperty(Defined.prototype, hook, { value, writable: true, configurable: true });
  }
  const statics: Record<string, unknown> = { jobName: name, steps };
  for (const key of CLASS_OPTIONS) if (definition[key] !== undefined) statics[key] = definition[key];
  Object.assign(Defined, statics);
  return Defined as unknown as IterableJobClass<Params, StepItem, StepCursor>;
}
