/** Messages a worker process sends its supervisor over the IPC channel. Signals travel the other way. */
export type WorkerMessage = { type: 'ready'; jobs: string[] };

/** What the supervisor hands each worker process it forks (through the environment). */
export interface WorkerProcessConfig {
  modules: string[];
  queue: string;
  concurrency: number;
  redisUrl: string;
  /** Passed to the BullMQ worker when set. */
  lockDuration?: number;
  stalledInterval?: number;
  checkpointIntervalMs?: number;
  quiet: boolean;
  heartbeatMs: number;
  /** The supervisor's deadline, which an orphaned worker applies to itself. */
  shutdownTimeoutMs: number;
}

export const WORKER_CONFIG_ENV = 'JOB_ITERATION_WORKER_CONFIG';

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return value !== null && typeof value === 'object' && typeof (value as { type?: unknown }).type === 'string';
}
