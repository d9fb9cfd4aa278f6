import { Worker, type BackendFactory, type Job, type JobJson, type Processor, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { isPostgresBackend } from './backend.js';

/** The parts of BullMQ's RedisConnection that a forced disconnect needs. */
interface Connection {
  _client?: Redis;
  extraOptions?: { shared?: boolean };
}

/** The internals of BullMQ 6's Worker this class reaches into, in one place. */
interface BullInternals {
  lockManager?: { close(): Promise<void> };
  getBackend(): { connection?: Connection; blockingConnection?: Connection; disconnect?(): Promise<void> };
}

/**
 * BullMQ's `Worker`, with the guards this runtime needs. A job whose `data` is not JSON still reaches the
 * processor, which fails it with a named error: BullMQ itself would throw while fetching it, leaving it active with
 * no one processing it, stalling every few seconds with nothing logged. And a close can be finished by force.
 */
export class GuardedWorker extends Worker {
  readonly #unreadable = new WeakMap<Job, string>();

  /** `factory` picks BullMQ's backend (PostgreSQL); without it the worker is on Redis, BullMQ's default. */
  constructor(name: string, processor: Processor, options: WorkerOptions<any>, factory?: BackendFactory<any, any>) {
    // The overloads tie the options' connection type to the factory's; both come from `postgresConnectionOf` or
    // `resolveConnection`, which pair them.
    super(name, processor, options, factory as undefined);
  }

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

  /**
   * Whether the worker's main Redis connection is up right now. Always true on PostgreSQL: a pool has no connection
   * state to read, and its queries fail rather than wait for a server that went away.
   */
  connected(): boolean {
    const backend = (this as unknown as BullInternals).getBackend();
    if (isPostgresBackend(backend)) return true;
    return backend.connection?._client?.status === 'ready';
  }

  /**
   * Drops the sockets BullMQ's own `close()` could not: after Redis went away, its blocking connection can wait for
   * an 'end' event that never comes, so `close()` never resolves. Only connections this worker owns are touched.
   */
  forceDisconnect(): void {
    const internals = this as unknown as BullInternals;
    void internals.lockManager?.close().catch(() => undefined);
    const backend = internals.getBackend();
    if (isPostgresBackend(backend)) {
      // Ends only a pool BullMQ made; a pg.Pool passed in stays open for its owner.
      void backend.disconnect?.().catch(() => undefined);
      return;
    }
    backend.blockingConnection?._client?.disconnect();
    if (backend.connection && !backend.connection.extraOptions?.shared) backend.connection._client?.disconnect();
  }
}
