import type { Job } from 'bullmq';
import { DelayedError } from 'bullmq';
import type { IterableJob, IterableJobClass } from '../iterable-job.js';
import type { JobState } from '../state.js';
import type { ControlRequest } from './redis.js';

/** Rejects when an urgent close has taken the job over; the processor stops waiting for the run then. */
export class Released extends DelayedError {
  constructor() {
    super('handed back to the queue by an urgent close');
  }
}

/** One job this worker is running. */
export class ActiveRun {
  /** Aborts the run's signal on an urgent close. */
  readonly urgent = new AbortController();
  /** Set once an urgent close owns the job: from then on the run writes nothing and moves nothing. */
  released = false;
  /** The run's own hand-back (move to wait/delayed/parked, cancel), once started. */
  handback: Promise<unknown> | undefined;
  /** The run promise settled: the processor is finishing on its own. */
  settled = false;
  /** The engine's live state, as of the last finished item (handed over by `observe`; read by an urgent close). */
  live: JobState<unknown> | undefined;
  /** The one instance of the job class this run uses: for `count`, the run itself and `onCancel`. */
  readonly instance: IterableJob<any, any, any>;
  /** The engine run has begun (it calls `onShutdown` itself from then on). */
  started = false;
  control: ControlRequest | undefined;
  controlReadAt = Date.now();
  lockLost = false;
  persistedJson: string | undefined;
  total: number | undefined;
  runStartedAt = performance.now();
  /** Items done when the run started: a checkpoint past this point is progress. */
  runStartIterations = 0;
  release!: (error: Released) => void;
  readonly releasedPromise = new Promise<never>((_, reject) => {
    this.release = reject;
  });

  constructor(
    readonly job: Job,
    readonly token: string,
    readonly JobClass: IterableJobClass,
    readonly jobName: string,
    readonly params: unknown,
    readonly initialState: JobState<unknown>,
  ) {
    this.releasedPromise.catch(() => undefined);
    this.instance = new JobClass();
    this.runStartIterations = initialState.iterations;
  }
}
