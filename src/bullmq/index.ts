/**
 * `job-iteration/bullmq`: iterable jobs as BullMQ jobs that survive deploys and crashes. See docs/bullmq.md.
 * Importing this module registers the `bullmq` interruption adapter.
 */
export { BULLMQ_ADAPTER, bullmqAdapter } from '../../adapters/bullmq.js';
export { IterationWorker } from './worker.js';
export { InvalidJobDataError, JobCancelledError, JobNotFoundError, JobStalledError, LockLostError, PartitionsIncompleteError } from './errors.js';
export { CONTROL_ADAPTER, PARK_DELAY_MS } from './options.js';
export type {
  CloseOptions,
  InterruptionInfo,
  IterationProgress,
  IterationResult,
  IterationWorkerEvents,
  IterationWorkerOptions,
} from './options.js';
export { enqueue, cancelJob, pauseJob, resumeJob, retryJob, getIterationState, listIterableJobs, stallSuspects, DEFAULT_LOCK_DURATION_MS } from './control.js';
export { enqueuePartitioned, MAX_PARTITIONS } from './partitions.js';
export type { PartitionedJobs } from './partitions.js';
export type { PartitionData, PartitionedParentData } from './partition-data.js';
export type { AnyQueue, StallSuspicion, ControlResult, IterationJobInfo, IterationStatus, ListOptions, QueueState } from './control.js';
export { DEFAULT_REDIS_URL, isCluster, resolveConnection } from './redis.js';
export type { IterationConnection, IterationJobData } from './redis.js';
export type { IterationPostgresConnection } from './backend.js';
export type { ControlRequest } from '../store/job-store.js';
