/** Messages a worker process sends its supervisor over the IPC channel. Signals travel the other way. */
export type WorkerMessage = { type: 'ready'; jobs: string[] };

/**
 * The one message a supervisor sends each worker it forks, right after the fork. The config holds the connection URL
 * with its password: over the IPC channel it stays out of the worker's environment and arguments, which other
 * processes, crash reports and `ps e` can read.
 */
export type SupervisorMessage = { type: 'config'; config: WorkerProcessConfig };

/** What the supervisor hands each worker process it forks. */
export interface WorkerProcessConfig {
  modules: string[];
  queue: string;
  concurrency: number;
  /** Redis or PostgreSQL; see `SupervisorOptions.connectionUrl`. */
  connectionUrl: string;
  /** Passed to the BullMQ worker when set. */
  lockDuration?: number;
  stalledInterval?: number;
  checkpointIntervalMs?: number;
  quiet: boolean;
  /** How log lines are written: readable text or JSON lines. */
  logFormat: 'text' | 'json';
  heartbeatMs: number;
  /** The supervisor's deadline, which an orphaned worker applies to itself. */
  shutdownTimeoutMs: number;
}

export function isConfigMessage(value: unknown): value is SupervisorMessage {
  return (
    value !== null &&
    typeof value === 'object' &&
    (value as { type?: unknown }).type === 'config' &&
    typeof (value as { config?: unknown }).config === 'object' &&
    (value as { config?: unknown }).config !== null
  );
}

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return value !== null && typeof value === 'object' && typeof (value as { type?: unknown }).type === 'string';
}
