import { Worker, type Job, type JobJson } from 'bullmq';
import type { Redis } from 'ioredis';

/** The parts of BullMQ's RedisConnection that a forced disconnect needs. */
interface Connection {
  _client?: Redis;
  extraOptions?: { shared?: boolean };
}

/** The internals of BullMQ 6's Worker this class reaches into, in one place. */
interface BullInternals {
  lockManager?: { close(): Promise<void> };
  getBackend(): { connection?: Connection; blockingConnection?: Connection };
}

/**
 * BullMQ's `Worker`, with the guards this runtime needs. A job whose `data` is not JSON still reaches the
 * processor, which fails it with a named error: BullMQ itself would throw while fetching it, leaving it active with
 * no one processing it, stalling every few seconds with nothing logged. And a close can be finished by force.
 */
export class GuardedWorker extends Worker {
  readonly #unreadable = new WeakMap<Job, string>();

  /** Why the job's `data` could not be parsed as JSON, when it could not. */
  unreadableData(job: Job): string | undefined {
    return this.#unreadable.get(job);
  }

  protected override createJob(json: JobJson, jobId: string): Job {
    try {
      return super.createJob(json, jobId);
    } catch (error) {
      const job = super.createJob({ ...json, data: 'null' }, jobId);
      this.#unreadable.set(job, (error as Error).message);
      return job;
    }
  }

  /** Whether the worker's main Redis connection is up right now. */
  connected(): boolean {
    return (this as unknown as BullInternals).getBackend().connection?._client?.status === 'ready';
  }

  /**
   * Drops the sockets BullMQ's own `close()` could not: after Redis went away, its blocking connection can wait for
   * an 'end' event that never comes, so `close()` never resolves. Only connections this worker owns are touched.
   */
  forceDisconnect(): void {
    const internals = this as unknown as BullInternals;
    void internals.lockManager?.close().catch(() => undefined);
    const backend = internals.getBackend();
    backend.blockingConnection?._client?.disconnect();
    if (backend.connection && !backend.connection.extraOptions?.shared) backend.connection._client?.disconnect();
  }
}
