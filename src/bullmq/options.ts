import type { BackendFactory, Job, Telemetry, WorkerOptions } from 'bullmq';
import type { LockLostError } from './errors.js';
import type { IterableJobClass } from '../iterable-job.js';
import type { JobState } from '../state.js';
import type { StepPosition } from '../extent.js';
import type { IterationConnection } from './redis.js';
import type { IterationPostgresConnection } from './backend.js';

/**
 * How long a paused job is parked in BullMQ's delayed set. A worker that picks a parked job up while it is still
 * paused parks it again, so this only bounds how often a paused job is looked at. Kept well below the point where
 * BullMQ's delayed score (`timestamp * 4096`) stops being an exact double.
 */
export const PARK_DELAY_MS = 365 * 24 * 60 * 60 * 1000;

/** The reason a paused job's interruption records; how a parked job is told from one delayed for other reasons. */
export const PAUSE_REASON = 'pause requested';

/** What a job resumed after an error records as its interruption (see `IterableJob.resumeErrorsAfterProgress`). */
export const ERROR_AFTER_PROGRESS = 'error-after-progress';

/** The name the per-run cancel/pause adapter reports in interruptions. */
export const CONTROL_ADAPTER = 'bullmq-control';

/** What an interrupted job's delay is decided from. */
export interface InterruptionInfo {
  adapter: string;
  reason: string;
  /** Set when an adapter throttled the job: it goes back to the queue delayed by at least this much. */
  retryAfterMs?: number;
  /** True when the interruption comes from this worker stopping (a deploy), not from the job's own budget. */
  workerStopping: boolean;
}

/** The BullMQ `Worker` options that `IterationWorker` manages itself; everything else passes through. */
type ManagedOptions = 'connection' | 'concurrency' | 'autorun';

/** Options of `IterationWorker`. Options not listed here (`lockDuration`, `stalledInterval`, `prefix`, `limiter`, ...) go to the BullMQ `Worker`. */
export interface IterationWorkerOptions extends Omit<WorkerOptions, ManagedOptions> {
  /** The job classes this worker runs; a job is routed by its name (`jobNameOf(cls)`). */
  jobs: readonly IterableJobClass[];
  /**
   * An ioredis instance (created with `maxRetriesPerRequest: null`; you close it), ioredis options, or a
   * `redis://` URL. Or BullMQ's PostgreSQL backend: a `postgres://` URL, a `pg.Pool`, or pool options with a
   * `connectionString` (and BullMQ's `schema`); see `IterationPostgresConnection`.
   * @defaultValue `process.env.REDIS_URL`, else `redis://127.0.0.1:6379`
   */
  connection?: IterationConnection | IterationPostgresConnection;
  /**
   * BullMQ's `createPostgresBackend`, to run on PostgreSQL with pool options that have no `connectionString`
   * (`{ host, user, password, database }`), which could otherwise be read as Redis options. A postgres URL, a
   * `pg.Pool` or options with a `connectionString` need no `backend`. Any other factory is refused.
   */
  backend?: BackendFactory<any, any>;
  /**
   * Jobs run at once by this worker. All of them stop at their next checkpoint on close.
   * @defaultValue 1
   */
  concurrency?: number;
  /**
   * Stop on SIGTERM/SIGINT (graceful) and on a second signal or SIGQUIT (urgent). Every worker of a process shares
   * one handler. Set `false` when something else in the process (the CLI, your framework) owns the signals and
   * calls `stop()`.
   * @defaultValue true
   */
  handleSignals?: boolean;
  /**
   * How often a running job saves its cursor to Redis, in milliseconds; 0 saves after every item. After a
   * `kill -9`, at most this much work is done again. A job class's `static checkpointIntervalMs` wins over this.
   * Each save is one Redis round trip, so the default costs one write per second per running job.
   * @defaultValue the process default from `configure()`, 1000
   */
  checkpointIntervalMs?: number;
  /**
   * Delay before an interrupted job can be picked up again. A number applies to every interruption, but never
   * shortens a throttle's `retryAfterMs`; a function decides per interruption (it sees `retryAfterMs`) and has the
   * last word. A throttled job waits `retryAfterMs` with the default. With 0, a job stopped by a closing worker goes
   * to the front of the queue (`moveToWait`) and any other interruption to the back (`moveToDelayed(now)`). A delay
   * is not a failed attempt: the job keeps its attempts and its id.
   * @defaultValue 0
   */
  interruptDelayMs?: number | ((interruption: InterruptionInfo, job: Job) => number);
  /**
   * How often the worker looks for cancel/pause requests of its running jobs, in milliseconds, on top of the
   * look that every checkpoint does for free.
   * @defaultValue 1000
   */
  controlPollIntervalMs?: number;
  /**
   * Start taking jobs at once. With `false`, call `run()`.
   * @defaultValue true
   */
  autorun?: boolean;
  /**
   * A job fails with `JobStalledError` (`ERR_JOB_STALLED`) once it stalls more than this many times in a row
   * without progress. A stall is a run that ended without an outcome: its worker crashed or was killed, froze past
   * its lock, or lost the lock. Stalls are counted in the job's saved state (`timesStalled`, and
   * `stallsWithoutProgress`, which a periodic checkpoint past the point of the last stall clears), so a job that
   * keeps moving survives any number of crashes, while an item that crashes or blocks its worker every time fails
   * the job after at most `maxStalledCount + 2` attempts. Also passed to BullMQ, whose own counter covers a worker
   * that dies before the run has claimed the job.
   * @defaultValue 3 (BullMQ's own default is 1)
   */
  maxStalledCount?: number;
  /**
   * BullMQ's telemetry (`new BullMQOtel({ enableMetrics: true })` from `bullmq-otel`, or any implementation of
   * BullMQ's `Telemetry`). BullMQ gets it as is, for its own spans and metrics; on top, each run of an iterable job is
   * an `iterate <queue>` span under BullMQ's `process <queue>` span, and the run metrics go through its `meter`. See
   * docs/telemetry.md. Without it nothing of the kind is loaded or done.
   */
  telemetry?: Telemetry;
  /**
   * How long a close waits on Redis, in milliseconds. While Redis is unreachable, running jobs cannot be handed
   * back: once it has been unreachable this long in a row, the close lets them go (they resume from their last
   * checkpoint when their locks expire, as after a crash). BullMQ's own close, which can hang forever on a
   * connection that broke before the close began, gets this long after the jobs are back; then its connections are
   * dropped. So `close()` always resolves, whatever Redis does.
   * @defaultValue 5000
   */
  closeTimeoutMs?: number;
}

/** Options of `close()` and `stop()`. */
export interface CloseOptions {
  /**
   * Do not wait for the item in flight: abort each run's signal, save its last finished cursor, put the job back in
   * the queue and close. A job whose `onComplete` (or outcome save) is running is let finish. Works while a
   * graceful close is already under way.
   * @defaultValue false
   */
  urgent?: boolean;
}

/** The `progress` an iterable job publishes; dashboards (Bull Board, Taskforce) show it as the job's progress. */
export interface IterationProgress {
  cursor: unknown;
  /** Items finished over all runs. */
  iterations: number;
  /**
   * How much the whole job has: items when the class implements `count(params)`, else the measured enumeration's
   * total in `unit` (rows of `postgresRecords`, bytes of `csvRecords`).
   */
  total?: number;
  /** How much is done in `unit`, when the total comes from a measured enumeration rather than `count()`. */
  done?: number;
  /** What `done` and `total` count when they come from a measured enumeration: `rows`, `bytes`, `items`. */
  unit?: string;
  /**
   * A step job's current step (`step 2/4 backfill`); `done`, `total`, `unit` and `percentage` then measure that
   * step alone when it is measured (its rows, its bytes), and the job's steps (`unit: 'steps'`) when it is not.
   */
  step?: StepPosition;
  /** 0-100, when `total` is known. */
  percentage?: number;
  /** The same percent, under the name dashboards that draw a job's progress read (Bull Board's ring). */
  progress?: number;
  /** This run's rate, in `unit` per second (items when `count()` gives the total). */
  ratePerSecond?: number;
  /** Estimated milliseconds left at this run's rate, when `total` is known. */
  etaMs?: number;
  /** Time spent running, over all runs. */
  elapsedMs: number;
  timesInterrupted: number;
  status: JobState['status'];
  updatedAt: string;
  /** How often the run saves its state (ms): a save older than this and a lock's duration means it is stuck. */
  checkpointIntervalMs?: number;
  /**
   * A partitioned job's parent: how many partitions it has, and how many completed. Its other figures are the
   * partitions' added up (iterations, done, total, rate), the ETA being that of the remaining rows at that rate.
   */
  partitions?: { count: number; completed: number };
}

/** What a completed iterable job returns to BullMQ (`job.returnvalue`). */
export interface IterationResult {
  iterations: number;
  cursor: unknown;
  totalTimeMs: number;
  timesInterrupted: number;
  /** A partitioned job's parent: how many partitions its figures add up. */
  partitions?: number;
}

/** Events of `IterationWorker`, on top of the BullMQ worker events it forwards. */
export interface IterationWorkerEvents {
  /**
   * A run of a job began: its state is claimed, its first item comes next. `resumed` when an earlier run had
   * started it (`state` holds the cursor it resumes after).
   */
  started: [job: Job, info: { resumed: boolean; state: JobState<unknown> }];
  /** A job stopped early and was put back in the queue with its cursor. */
  interrupted: [job: Job, info: InterruptionInfo & { delayMs: number; state: JobState<unknown> }];
  /**
   * A step job reached a step: its first when it starts, each next one with the save that ends the step before it
   * (every finished step is saved at once, so none is missed). A job resumed inside a step gets none for it again.
   */
  step: [job: Job, info: { step: StepPosition; state: JobState<unknown> }];
  /** A job was cancelled: `onCancel` ran and the job is failing, without retries. */
  cancelled: [job: Job, state: JobState<unknown>];
  /** A job was paused and parked in the delayed set. */
  parked: [job: Job, state: JobState<unknown> | undefined];
  /** A checkpoint was refused because another worker now holds the job; the run stopped without touching it. */
  lockLost: [job: Job, error: LockLostError];
  /**
   * A job was picked up whose previous run ended without an outcome (crash, kill, freeze, lost lock); it resumes
   * from its last checkpoint. `state.timesStalled` counts it.
   */
  stalledRun: [job: Job, state: JobState<unknown>];
  /** A close let a running job go without handing it back, because Redis stayed unreachable; it resumes from its last checkpoint. */
  abandoned: [job: Job, reason: string];
  active: [job: Job, prev: string];
  completed: [job: Job, result: unknown, prev: string];
  failed: [job: Job | undefined, error: Error, prev: string];
  progress: [job: Job, progress: unknown];
  stalled: [jobId: string, prev: string];
  error: [error: Error];
  ready: [];
  drained: [];
  closing: [message: string];
  closed: [];
}
