/** A value that survives `JSON.stringify` / `JSON.parse` unchanged. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Where a job's state stands. `running` is what a crashed run leaves behind. */
export type JobStatus = 'pending' | 'running' | 'interrupted' | 'completed' | 'failed' | 'cancelled';

/**
 * The persisted record of one job's progress. It is plain JSON: store it anywhere, hand it back to resume.
 * See docs/state-format.md.
 */
export interface JobState<Cursor = JsonValue> {
  /** Format version; bumped only with a migration. */
  version: 1;
  jobName: string;
  status: JobStatus;
  /**
   * The cursor of the last item whose `eachIteration` finished. Absent until the first item is done; the next run
   * starts *after* it.
   */
  cursor?: Cursor;
  /** Items finished over all runs. */
  iterations: number;
  /** Runs that ended by interruption. */
  timesInterrupted: number;
  /**
   * Runs that ended without saving an outcome: the worker crashed or was killed, its process froze until its lock
   * expired, or it lost the lock. Counted by the run that picks the job up next. Absent in states written before
   * it existed, which is read as 0.
   */
  timesStalled?: number;
  /**
   * Stalls since the job last made progress (a periodic checkpoint past the point of the previous stall). A runtime
   * fails the job once this exceeds its limit (BullMQ: `maxStalledCount`), so an item that crashes or blocks its
   * worker every time cannot keep the job alive forever.
   */
  stallsWithoutProgress?: number;
  /**
   * Runs that resumed the job: every run after the one that started it. A job's `maxResumptions` is checked
   * against it. Absent in states written before it existed, which is read as 0.
   */
  resumptions?: number;
  /** Wall time spent inside runs, summed over all runs. */
  totalTimeMs: number;
  /** When the first run started (ISO 8601). Absent until then: `onStart` fires once, decided by this, not by attempts. */
  startedAt?: string;
  /** When the state was last written (ISO 8601). */
  updatedAt?: string;
  /** When the enumerator was exhausted (ISO 8601). */
  completedAt?: string;
  /**
   * Why the last run stopped early, when it was interrupted; `retryAfterMs` when an adapter throttled it (the job
   * is not to go on before `at` plus that long).
   */
  lastInterruption?: { adapter: string; reason: string; at: string; retryAfterMs?: number };
  /** Message of the last failure, when a run threw. */
  lastError?: string;
}
