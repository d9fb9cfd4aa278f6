import type { Extent } from './extent.js';
import type { JobState } from './job-state.js';

/**
 * Where a run is. `pending` until the engine starts it; `starting` while `onStart`/`onResume` run; `iterating`
 * while items run; `completing` while `onComplete` runs, or `cancelling` while `onCancel` runs; `saving` while the
 * outcome is written; `cleanup` while the enumerator closes and `onShutdown` runs; `done` once `runInline` has
 * settled.
 */
export type RunPhase = 'pending' | 'starting' | 'iterating' | 'completing' | 'cancelling' | 'saving' | 'cleanup' | 'done';

/** What the engine lends a handle while a run is going. */
export interface AttachedRun<Cursor> {
  readonly state: JobState<Cursor>;
  readonly phase: RunPhase;
  /** How far along the job is, from its enumeration (see `MeasuredEnumeration`). */
  extent(): Extent | undefined;
  requestStop(adapter: string, reason: string): void;
  requestCancel(reason: string): void;
  /** The run must end as this interruption, whatever happens next: its snapshot has been handed on. */
  takeOver(adapter: string, reason: string): void;
}

/**
 * A runtime's side of one run. Pass one as `RunOptions.handle`: the runtime reads the live state and the phase from
 * it, asks the run to stop with a reason, and takes from it the state an urgent stop saves. One handle serves one
 * run.
 */
export class RunHandle<Cursor = unknown> {
  #run: AttachedRun<Cursor> | undefined;
  #stop: { adapter: string; reason: string } | undefined;
  #cancel: string | undefined;
  #takenOver: { adapter: string; reason: string } | undefined;

  /** Called by the engine when the run starts. */
  attach(run: AttachedRun<Cursor>): void {
    this.#run = run;
    // A stop asked for before the run began takes effect at its first chance.
    if (this.#takenOver) run.takeOver(this.#takenOver.adapter, this.#takenOver.reason);
    else if (this.#cancel !== undefined) run.requestCancel(this.#cancel);
    else if (this.#stop) run.requestStop(this.#stop.adapter, this.#stop.reason);
  }

  get phase(): RunPhase {
    return this.#run?.phase ?? 'pending';
  }

  /** The live state, as of the last finished item; `undefined` before the run starts. Read it, never mutate it. */
  get state(): Readonly<JobState<Cursor>> | undefined {
    return this.#run?.state;
  }

  /**
   * How far along the job is, in its enumeration's own unit (rows, bytes), when the enumeration is measured (the
   * built-in ones are; see `MeasuredEnumeration`); `undefined` otherwise. For progress displays without a `count()`.
   */
  get extent(): Extent | undefined {
    return this.#run?.extent();
  }

  /**
   * Stops the run after the item in flight, as an interruption by `adapter` for `reason`; the first request wins.
   * Works before the run starts too (it then stops before its first item).
   */
  stop(adapter: string, reason: string): void {
    this.#stop ??= { adapter, reason };
    this.#run?.requestStop(adapter, reason);
  }

  /**
   * Cancels the job: the run stops after the item in flight (asked before the run starts, it runs no hook and no
   * item), `onCancel` runs, the state is saved as `cancelled`, then `onShutdown` runs. The run resolves with status
   * `cancelled`, and a cancelled state never runs again.
   */
  cancel(reason: string): void {
    this.#cancel ??= reason;
    this.#run?.requestCancel(reason);
  }

  /**
   * The state an urgent stop saves: a copy of the live state, with the last finished cursor, marked as interrupted
   * by `adapter`. `undefined` once the run is deciding its outcome (`completing`, `cancelling`, `saving`, and after):
   * the run must then be let finish, or `onComplete` would run again on the next attempt and a completed job could
   * be recorded as interrupted. Before the run starts, `fallback` (the state it would have started from) is used.
   * Once a snapshot is taken, the run ends as that interruption, whatever happens next.
   */
  urgentSnapshot(adapter: string, reason: string, fallback?: JobState<Cursor>): JobState<Cursor> | undefined {
    const phase = this.phase;
    if (phase !== 'pending' && phase !== 'starting' && phase !== 'iterating') return undefined;
    const source = this.#run?.state ?? fallback;
    if (!source) return undefined;
    // From here on the run can only end as this interruption: were the enumerator to run out now, completing the
    // job here would run onComplete again under the next owner, who resumes from this snapshot.
    this.#stop ??= { adapter, reason };
    this.#takenOver = { adapter, reason };
    this.#run?.takeOver(adapter, reason);
    const state = structuredClone(source) as JobState<Cursor>;
    const at = new Date().toISOString();
    state.status = 'interrupted';
    state.timesInterrupted++;
    state.lastInterruption = { adapter, reason, at };
    state.updatedAt = at;
    return state;
  }
}
