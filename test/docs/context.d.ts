// What the documentation's code samples take from their surroundings: a database handle, a queue, the job classes
// an earlier sample defined. Declared here so every sample is type-checked against the package's published types
// as it stands in the docs, without repeating its setup.
import type { Server } from 'node:http';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { IterableJobClass } from 'job-iteration';
import type { IterationWorker } from 'job-iteration/bullmq';

declare global {
  const db: { query(sql: string, params?: unknown[]): Promise<{ rows: any[] }> };
  const redis: Redis;
  const queue: Queue;
  const jobId: string;
  const worker: IterationWorker;
  const server: Server;
  const metrics: { increment(name: string, tags?: Record<string, string>): void };
  function upsertUsers(rows: unknown[]): Promise<void>;
  function inMaintenanceWindow(): boolean;
  function isInMaintenanceWindow(): boolean;
  const Backfill: IterableJobClass<{ upTo: number }, number, number>;
  const BackfillDomains: IterableJobClass<{ batchSize: number }, number[], number>;
}
