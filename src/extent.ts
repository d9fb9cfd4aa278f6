/**
 * How far a job has come, in its enumeration's own unit: rows of a table, bytes of a file, batches. `done` and
 * `total` count from the job's start, across resumes.
 */
export interface Extent {
  readonly done: number;
  /**
   * How much the whole job has; absent when it cannot be told (an estimate the job has already gone past): progress
   * then shows what is done and the rate, with no percent rather than a wrong one.
   */
  readonly total?: number;
  /** What `done` and `total` count, for displays: `rows`, `bytes`, `batches`, `items`. */
  readonly unit: string;
  /**
   * A step job's current step: the other fields then measure that step alone (its rows, its bytes) when it is
   * measured, and the job's steps (`unit: 'steps'`) when it is not.
   */
  readonly step?: StepPosition;
}

/** Where a step job is: its `position`-th step (from 1) of `count`, named `name`. Displayed as `step 2/4 backfill`. */
export interface StepPosition {
  readonly name: string;
  readonly position: number;
  readonly count: number;
}

/**
 * An enumeration that can tell how far along a cursor is, so progress shows a percent and an ETA without a
 * hand-written `count()`. The built-in enumerators are measured: `postgresRecords` from the planner's row estimate
 * (or a count it was asked for), `csvRecords` from the file's size in bytes, `fromArray` from its length.
 */
export interface MeasuredEnumeration<Cursor = unknown> {
  /**
   * Where the job stands after the item whose cursor is `cursor` (`undefined`: nothing done yet), with
   * `iterations` items finished since the job's start. Called often and never awaited: answer from what is
   * already known (a size read when the enumeration started), or `undefined` while it is not known yet.
   */
  extent(cursor: Cursor | undefined, iterations: number): Extent | undefined;
}

/**
 * The extent an enumeration reports, or `undefined` when it is not measured, does not know yet, throws or answers
 * nonsense: progress is a display, and a display must never stop a job.
 */
export function extentOf(enumeration: unknown, cursor: unknown, iterations: number): Extent | undefined {
  if (enumeration === null || typeof enumeration !== 'object') return undefined;
  const measure = (enumeration as Partial<MeasuredEnumeration>).extent;
  if (typeof measure !== 'function') return undefined;
  let answer: unknown;
  try {
    answer = measure.call(enumeration, cursor, iterations);
  } catch {
    return undefined;
  }
  return asExtent(answer);
}

/**
 * `value` as an extent, or `undefined` when it is not one: what an enumeration answers, or a progress read back from
 * a queue. Counts must be finite and not negative; a missing unit is `items`; `done` never passes `total`.
 */
export function asExtent(value: unknown): Extent | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const answer = value as Extent;
  const { done, total, unit } = answer;
  if (!(Number.isFinite(done) && done >= 0)) return undefined;
  const named = typeof unit === 'string' && unit !== '' ? unit : 'items';
  const step = stepOf(answer.step);
  const at = step ? { step } : {};
  if (total === undefined) return { done, unit: named, ...at };
  if (!(Number.isFinite(total) && total >= 0)) return undefined;
  return { done: Math.min(done, total), total, unit: named, ...at };
}

function stepOf(value: unknown): StepPosition | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { name, position, count } = value as StepPosition;
  if (typeof name !== 'string' || !Number.isSafeInteger(position) || !Number.isSafeInteger(count) || position < 1 || position > count) return undefined;
  return { name, position, count };
}

/**
 * How far along a job is, for one line of a display: `41%`, `1200 rows`, and a step job's `step 2/4 backfill: 41%`.
 * `percent` is the share of `total` done, when the display has it at hand.
 */
export function describeExtent(extent: Pick<Extent, 'done' | 'total' | 'unit' | 'step'>, percent?: number): string {
  const share = percent ?? (extent.total !== undefined ? (extent.total > 0 ? Math.min(100, (extent.done / extent.total) * 100) : 100) : undefined);
  const amount = share !== undefined ? `${Math.floor(share)}%` : `${Math.round(extent.done)} ${extent.unit}`;
  const { step } = extent;
  if (!step) return amount;
  const label = stepLabelOf(step);
  // Measured in steps, the figure is the job's, not the step's: the label alone says where it is.
  return extent.unit === 'steps' ? label : `${label}: ${amount}`;
}

/**
 * What a rate is counted in: the unit, and for a step job the step too, since its next step starts a new count in
 * a unit of its own. A display starts its rate over when this changes.
 */
export function measureKey(extent: Pick<Extent, 'unit' | 'step'>): string {
  return extent.step ? `${extent.unit} of step ${extent.step.position} ${extent.step.name}` : extent.unit;
}

/** `step 2/4 backfill`. */
export function stepLabelOf(step: StepPosition): string {
  return `step ${step.position}/${step.count} ${step.name}`;
}

/**
 * The step line of a published progress (`step 2/4 backfill: 41%`), or `undefined` when it has no step. The progress
 * is read from a queue, so nothing in it is trusted: a field of the wrong type is left out.
 */
export function describeProgressStep(progress: unknown): string | undefined {
  if (progress === null || typeof progress !== 'object') return undefined;
  const { step, done, total, unit, percentage } = progress as Record<string, unknown>;
  const read = stepOf(step);
  if (!read) return undefined;
  // Names go into terminal lines and logs: no control characters, no line longer than a screen.
  const position = { ...read, name: printable(read.name) };
  const count = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : undefined);
  const measured = count(done);
  // Without its own measure the step's position is all there is to say.
  if (measured === undefined || typeof unit !== 'string' || unit === '') return stepLabelOf(position);
  const share = count(percentage);
  return describeExtent({ done: measured, total: count(total), unit: printable(unit), step: position }, share === undefined ? undefined : Math.min(100, share));
}

function printable(text: string, max = 60): string {
  const plain = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return plain.length > max ? `${plain.slice(0, max - 3)}...` : plain;
}
