import { InvalidStateError } from './errors.js';
import type { Extent } from './extent.js';

/**
 * Where a job stands, as its hooks and `eachIteration` read it through `this.progress` during a run (the Ruby
 * reference's `cursor_position`, `times_interrupted`, `total_time`). A snapshot: it does not change after it is read.
 */
export interface JobProgress<Cursor = unknown> {
  /** The cursor of the last finished item, or `undefined` before the first one. */
  readonly cursor: Cursor | undefined;
  /** Items finished over all runs. */
  readonly iterations: number;
  /** Items finished in this run. */
  readonly runIterations: number;
  /** Runs that ended by interruption before this one. */
  readonly timesInterrupted: number;
  /** Wall time spent inside runs, this one included up to now. */
  readonly totalTimeMs: number;
  /** How far along the job is in its enumeration's unit, when the enumeration is measured (see `MeasuredEnumeration`). */
  readonly extent?: Extent;
}

type Reader = () => JobProgress<unknown>;

// Keyed by instance rather than stored on it, so a job's own fields can never shadow or overwrite the run's view.
const readers = new WeakMap<object, Reader>();

/** @internal Makes `job.progress` answer from the run that owns `job`, until the returned release is called. */
export function bindProgress(job: object, read: Reader): () => void {
  if (readers.has(job)) throw new InvalidStateError('This job instance is already running; use one instance per run.');
  readers.set(job, read);
  return () => void readers.delete(job);
}

/** @internal */
export function readProgress<Cursor>(job: object): JobProgress<Cursor> {
  const read = readers.get(job);
  if (!read) throw new InvalidStateError('job.progress is only available while the job runs (in its hooks and eachIteration).');
  return read() as JobProgress<Cursor>;
}
