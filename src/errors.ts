import { redactUrls } from './redact.js';
import type { JobState } from './job-state.js';

/**
 * Every error this library raises on purpose carries one of these codes. The list is the whole catalogue, so a
 * `switch` on `error.code` stays exhaustive; each class lives with the layer that raises it (`job-iteration/bullmq`
 * for a queue's errors, the process layer for Redis URLs and job modules).
 */
export type ErrorCode =
  | 'ERR_CURSOR_NOT_SERIALIZABLE'
  | 'ERR_INVALID_ENUMERATOR'
  | 'ERR_INVALID_STATE'
  | 'ERR_STATE_NOT_WRITABLE'
  | 'ERR_INVALID_OPTION'
  | 'ERR_INVALID_JOB'
  | 'ERR_INVALID_ADAPTER'
  | 'ERR_ADAPTER_EXISTS'
  | 'ERR_UNKNOWN_ADAPTER'
  | 'ERR_UNKNOWN_JOB'
  | 'ERR_JOB_CANCELLED'
  | 'ERR_PARTITIONS_INCOMPLETE'
  | 'ERR_LOCK_LOST'
  | 'ERR_JOB_NOT_FOUND'
  | 'ERR_INVALID_PARAMS'
  | 'ERR_ITERATION_FAILED'
  | 'ERR_SIGNALS_OWNED'
  | 'ERR_INVALID_JOB_DATA'
  | 'ERR_INVALID_CURSOR'
  | 'ERR_JOB_STALLED'
  | 'ERR_REDIS_AUTH'
  | 'ERR_REDIS_UNREACHABLE'
  | 'ERR_INVALID_REDIS_URL'
  | 'ERR_INVALID_CONNECTION_URL'
  | 'ERR_POSTGRES_UNREACHABLE'
  | 'ERR_POSTGRES_AUTH'
  | 'ERR_SCHEMA_NOT_MIGRATED'
  | 'ERR_JOB_MODULE'
  | 'ERR_UNKNOWN_TABLE'
  | 'ERR_UNKNOWN_COLUMN'
  | 'ERR_NULLABLE_KEY'
  | 'ERR_FILE_CHANGED'
  | 'ERR_STEPS_CHANGED'
  | 'ERR_RESUMPTION_LIMIT';

/**
 * Base class of every named error. `code` is stable across versions; match on it, not on the message.
 */
export class JobIterationError extends Error {
  readonly code: ErrorCode;
  /** The last good checkpoint of the run that failed, when the error comes from a run. */
  state?: JobState<unknown>;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A cursor is not a plain JSON value, so it could not be restored exactly after a restart. */
export class CursorNotSerializableError extends JobIterationError {
  readonly jobName: string;
  readonly cursor: unknown;
  /** Where inside the cursor the offending value sits, e.g. `cursor[1].id`. */
  readonly path: string;

  constructor(jobName: string, cursor: unknown, path: string, what: string) {
    super(
      'ERR_CURSOR_NOT_SERIALIZABLE',
      `Job "${jobName}" yielded a cursor that is not a JSON value: ${path} is ${what}. ` +
        'Cursors are saved as JSON and must round-trip exactly (use strings for BigInt and dates, arrays for tuples).',
    );
    this.jobName = jobName;
    this.cursor = cursor;
    this.path = path;
  }
}

/** `buildEnumerator` returned something that is not an iterable of `[item, cursor]` pairs. */
export class InvalidEnumeratorError extends JobIterationError {
  readonly jobName: string;
  constructor(jobName: string, message: string) {
    super('ERR_INVALID_ENUMERATOR', `Job "${jobName}": ${message}`);
    this.jobName = jobName;
  }
}

/** A saved state handed back to resume a job is not one this library wrote (or belongs to another job). */
export class InvalidStateError extends JobIterationError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_STATE', message, options);
  }
}

/** A state file cannot be written where it is asked to be: its folder cannot be made, or not written in. */
export class StateNotWritableError extends JobIterationError {
  /** The state file's path. */
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('ERR_STATE_NOT_WRITABLE', message, options);
    this.path = path;
  }
}

/** An option has a value outside its domain. The message names the option and the value. */
export class InvalidOptionError extends JobIterationError {
  readonly option: string;
  /**
   * The value given. Errors end up in logs, and a value can hold a secret (a connection URL, an ioredis client's
   * options): a string is kept with any URL password redacted, and the property is left out of what
   * `util.inspect` and `console.error` print.
   */
  declare readonly value: unknown;
  constructor(option: string, value: unknown, expected: string) {
    super('ERR_INVALID_OPTION', `Option "${option}" must be ${expected}; got ${describeValue(value)}.`);
    this.option = option;
    Object.defineProperty(this, 'value', { value: typeof value === 'string' ? redactUrls(value) : value, enumerable: false });
  }
}

/** A class handed to a runner is not an `IterableJob` subclass. */
export class InvalidJobError extends JobIterationError {
  constructor(message: string) {
    super('ERR_INVALID_JOB', message);
  }
}

/** An interruption adapter failed validation at registration. */
export class InvalidAdapterError extends JobIterationError {
  readonly adapterName: string;
  constructor(adapterName: string, message: string) {
    super('ERR_INVALID_ADAPTER', `Interruption adapter "${adapterName}": ${message}`);
    this.adapterName = adapterName;
  }
}

/** An interruption adapter name is already taken. Unregister the old one first to replace it. */
export class AdapterExistsError extends JobIterationError {
  readonly adapterName: string;
  constructor(adapterName: string) {
    super(
      'ERR_ADAPTER_EXISTS',
      `Interruption adapter "${adapterName}" is already registered; call InterruptionAdapters.unregister("${adapterName}") first to replace it.`,
    );
    this.adapterName = adapterName;
  }
}

/**
 * An adapter name that nothing registered. This is a hard error on purpose: a misspelt adapter that silently
 * never interrupts would turn a deploy into a killed job.
 */
export class UnknownAdapterError extends JobIterationError {
  readonly adapterName: string;
  constructor(adapterName: string, known: readonly string[]) {
    super(
      'ERR_UNKNOWN_ADAPTER',
      `No interruption adapter is registered as "${adapterName}" (registered: ${known.length ? known.join(', ') : 'none'}).`,
    );
    this.adapterName = adapterName;
  }
}

/** No job class is known under a job name. */
export class UnknownJobError extends JobIterationError {
  readonly jobName: string;
  constructor(jobName: string, known: readonly string[], where?: string) {
    super(
      'ERR_UNKNOWN_JOB',
      `No iterable job is registered as "${jobName}"${where ? ` in ${where}` : ''} (known: ${known.length ? known.join(', ') : 'none'}).`,
    );
    this.jobName = jobName;
  }
}

/** A job's params are not a plain JSON value, so the job could not be stored and resumed exactly. */
export class InvalidParamsError extends JobIterationError {
  readonly jobName: string;
  /**
   * @param options.refused - the job's `validateParams` refused them, and `detail` is its reason; otherwise they are
   *   not plain JSON.
   */
  constructor(jobName: string, detail: string, options?: { refused?: boolean; cause?: unknown }) {
    super(
      'ERR_INVALID_PARAMS',
      options?.refused ? `Params of job "${jobName}" are refused: ${detail}` : `Params of job "${jobName}" must be a plain JSON value: ${detail}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.jobName = jobName;
  }
}

/** Wraps a thrown non-Error value so that `state` can be attached to it. */
export class IterationFailedError extends JobIterationError {
  constructor(jobName: string, cause: unknown) {
    super('ERR_ITERATION_FAILED', `Job "${jobName}" failed with a non-Error value: ${describeValue(cause)}`, { cause });
  }
}

export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    // Values quoted in messages are often connection URLs: their passwords must not reach the output.
    const shown = redactUrls(value);
    return JSON.stringify(shown.length > 80 ? `${shown.slice(0, 77)}...` : shown);
  }
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  const ctor = (value as object).constructor?.name;
  return ctor && ctor !== 'Object' ? `a ${ctor}` : 'an object';
}

/** A second component tried to own this process's stop signals. */
export class SignalsOwnedError extends JobIterationError {
  constructor() {
    super(
      'ERR_SIGNALS_OWNED',
      'Stop signals are already trapped in this process by another job-iteration component (the CLI, the ' +
        'supervisor, or IterationWorkers next to such an owner). Pass `handleSignals: false` to the workers and stop ' +
        'them from the owner, e.g. with worker.stop().',
    );
  }
}

/**
 * A saved cursor is valid JSON but not a cursor this job accepts (its `validateCursor` said no). Raised before any
 * hook or item runs, so a cursor of the wrong shape can never make a job "complete" having done nothing.
 */
export class InvalidCursorError extends JobIterationError {
  /** The job whose cursor was refused; `undefined` when an enumerator refused it (see `source`). */
  readonly jobName: string | undefined;
  readonly cursor: unknown;
  /**
   * @param jobName - the job, when its `validateCursor` refused the cursor.
   * @param options.source - who refused it when no job name is at hand, e.g. `postgresRecords(public.orders)`: a
   *   built-in enumerator checks its own cursor before it reads anything.
   */
  constructor(jobName: string | undefined, cursor: unknown, problem: string, options?: { cause?: unknown; source?: string }) {
    const who = jobName !== undefined ? `Job "${jobName}"` : (options?.source ?? 'The enumerator');
    super('ERR_INVALID_CURSOR', `${who} cannot resume from the saved cursor ${previewCursor(cursor)}: ${problem}`, options);
    this.jobName = jobName;
    this.cursor = cursor;
  }
}

/** A cursor as JSON, cut short: messages name it without flooding a log. */
export function previewCursor(cursor: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(cursor);
  } catch {
    json = undefined;
  }
  if (json === undefined) return describeValue(cursor);
  return json.length > 120 ? `${json.slice(0, 117)}...` : json;
}


/**
 * A step job's saved cursor names steps the job no longer has where the cursor says: a completed step renamed,
 * reordered or removed, or the step in progress gone from its position. An `InvalidCursorError`, so whatever fails a
 * refused cursor for good (BullMQ does not retry it) fails this too; its own code says which refusal it is.
 */
export class StepsChangedError extends InvalidCursorError {
  declare readonly jobName: string;
  /** The steps as the saved cursor knows them (completed ones, then the one it was in). */
  readonly savedSteps: readonly string[];
  /** The job's steps now. */
  readonly steps: readonly string[];
  readonly change: string;
  constructor(jobName: string, cursor: unknown, savedSteps: readonly string[], steps: readonly string[], change: string) {
    super(jobName, cursor, `its steps changed since the cursor was saved (${change}). Saved: ${savedSteps.join(', ') || 'none'}; now: ${steps.join(', ')}`);
    (this as { code: ErrorCode }).code = 'ERR_STEPS_CHANGED';
    this.savedSteps = savedSteps;
    this.steps = steps;
    this.change = change;
  }
}

/**
 * A job was about to be resumed more times than its `maxResumptions` allows. Raised before any hook or item of that
 * run. The saved cursor is kept (a queue marks the state `failed`), so raising the limit and retrying the job resumes
 * it after that cursor.
 */
export class ResumptionLimitError extends JobIterationError {
  readonly jobName: string;
  readonly maxResumptions: number;
  readonly cursor: unknown;
  constructor(jobName: string, maxResumptions: number, cursor: unknown) {
    super(
      'ERR_RESUMPTION_LIMIT',
      `Job "${jobName}" was resumed ${maxResumptions} time(s), its maxResumptions; this run would be one more, so it stops at cursor ${previewCursor(cursor)}. Raise maxResumptions and retry the job to go on from there.`,
    );
    this.jobName = jobName;
    this.maxResumptions = maxResumptions;
    this.cursor = cursor;
  }
}
