import { JobIterationError, previewCursor } from '../errors.js';

/**
 * Errors only the BullMQ runtime raises: a queue's job ids, locks, stalls and the control API. Exported from
 * `job-iteration/bullmq`, and from the root for code written before they moved here.
 */

/** A job was cancelled through the control API. */
export class JobCancelledError extends JobIterationError {
  constructor(jobName: string, jobId?: string) {
    super('ERR_JOB_CANCELLED', `Job "${jobName}"${jobId ? ` (id ${jobId})` : ''} was cancelled.`);
  }
}

/** A worker tried to save state for a job whose lock it no longer holds; the write was refused. */
export class LockLostError extends JobIterationError {
  constructor(jobName: string, jobId: string) {
    super(
      'ERR_LOCK_LOST',
      `Job "${jobName}" (id ${jobId}) is no longer locked by this worker; its state was not written so a newer cursor is not overwritten.`,
    );
  }
}

/** A queue has no job with the given id (never added, or already removed). */
export class JobNotFoundError extends JobIterationError {
  readonly jobId: string;
  readonly queueName: string;
  constructor(queueName: string, jobId: string) {
    super('ERR_JOB_NOT_FOUND', `Queue "${queueName}" has no job with id ${jobId}.`);
    this.jobId = jobId;
    this.queueName = queueName;
  }
}

/**
 * A queued job's stored data is not a job this library can run: not JSON, not an object, no `params`, or a `state`
 * that is not a saved state of this job. The job fails without retries and its data is left as it is, for a person
 * to look at: guessing would complete it with items never run, or restart it from zero.
 */
export class InvalidJobDataError extends JobIterationError {
  readonly jobId: string;
  readonly jobName: string;
  constructor(jobName: string, jobId: string, problem: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_JOB_DATA', `Job ${jobId} ("${jobName}") has stored data that is not a valid iterable job: ${problem}`, options);
    this.jobId = jobId;
    this.jobName = jobName;
  }
}

/**
 * A job stalled (its worker crashed, was killed or froze past its lock) more times in a row than allowed without
 * making progress: most likely the item after `cursor` crashes or blocks its worker every time.
 */
export class JobStalledError extends JobIterationError {
  readonly jobId: string;
  readonly jobName: string;
  readonly cursor: unknown;
  readonly stalls: number;
  constructor(jobName: string, jobId: string, cursor: unknown, stalls: number, limit: number) {
    super(
      'ERR_JOB_STALLED',
      `Job ${jobId} ("${jobName}") stalled ${stalls} times in a row without progress ` +
        `${cursor === undefined ? 'before its first item' : `after cursor ${previewCursor(cursor)}`} (maxStalledCount ${limit}): ` +
        `the ${cursor === undefined ? 'first item' : 'item after that cursor'} most likely crashes or blocks its worker.`,
    );
    this.jobId = jobId;
    this.jobName = jobName;
    this.cursor = cursor;
    this.stalls = stalls;
  }
}

/**
 * A partitioned job's parent was released with partitions that never completed, though none was cancelled (one was
 * taken out of the flow by hand): the job's items were not all processed, so it fails rather than completing.
 */
export class PartitionsIncompleteError extends JobIterationError {
  readonly jobId: string;
  /** The partitions' job ids that did not complete. */
  readonly missing: readonly string[];
  constructor(jobName: string, jobId: string, missing: readonly string[]) {
    super('ERR_PARTITIONS_INCOMPLETE', `Job "${jobName}" (id ${jobId}): partition(s) ${missing.join(', ')} did not complete; their items were not all processed.`);
    this.jobId = jobId;
    this.missing = missing;
  }
}
