import { randomUUID } from 'node:crypto';
import { createPostgresBackend, FlowProducer, type Job, type JobsOptions } from 'bullmq';
import { InvalidJobError, InvalidOptionError } from '../errors.js';
import { jobNameOf, type IterableJobClass } from '../iterable-job.js';
import { checkParams, frozenParams } from '../params.js';
import { isPostgresBackend } from './backend.js';
import { assertQueuePrefix, type AnyQueue } from './control.js';
import { partitionId, type PartitionData, type PartitionedParentData } from './partition-data.js';
import { assertJsonParams, type IterationJobData } from './redis.js';

/** The most partitions one job may have: each is a job with its own connection to the data and its own lock. */
export const MAX_PARTITIONS = 1000;

/** What `enqueuePartitioned` added. */
export interface PartitionedJobs<Params = unknown> {
  /** The parent: control calls on its id reach every partition, `getIterationState` adds their progress up. */
  parent: Job<PartitionedParentData<Params>>;
  /** One iterable job per partition, in partition order. */
  partitions: Job<IterationJobData<Params> & { partition: PartitionData }>[];
}

/**
 * Adds a job split into partitions that run side by side on any workers of the queue: the class's
 * `static partition(params, partitions)` returns each partition's params, and each becomes an iterable job of the
 * class with its own cursor, under one parent (a BullMQ flow). The parent completes once every partition has, with
 * their figures added up; `cancelJob`, `pauseJob`, `resumeJob` and `retryJob` on its id reach every partition; its
 * progress is theirs summed (`getIterationState`, `listIterableJobs`). A partition that fails retries alone, from its
 * own cursor, under the class's `attempts`; one that fails for good keeps the parent waiting until it is retried.
 *
 * `options` apply to every partition (attempts, backoff, delay, ...); `options.jobId` names the parent, and the
 * partitions are `<parent id>-p1`, `-p2`, ... Params, and every partition's params, are checked as `enqueue` checks
 * them, before anything is added; the flow is added atomically.
 */
export async function enqueuePartitioned<Params>(
  queue: AnyQueue,
  JobClass: IterableJobClass<Params, any, any>,
  params: Params,
  partitions: number,
  options: JobsOptions = {},
): Promise<PartitionedJobs<Params>> {
  const name = jobNameOf(JobClass);
  if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
    throw new InvalidOptionError('partitions', partitions, `an integer from 1 to ${MAX_PARTITIONS}`);
  }
  if (typeof JobClass.partition !== 'function') {
    throw new InvalidJobError(`Job class ${JobClass.name || name} has no static partition(params, partitions) method; a job splits only in a way it defines (see docs/partitions.md).`);
  }
  assertQueuePrefix(queue);
  assertJsonParams(name, params);
  checkParams(new JobClass(), name, params);
  const split: unknown = await JobClass.partition(frozenParams(name, params), partitions);
  if (!Array.isArray(split) || split.length < 1 || split.length > partitions) {
    const got = Array.isArray(split) ? `${split.length} of them` : typeof split;
    throw new InvalidJobError(`${JobClass.name || name}.partition() must return an array of 1 to ${partitions} partitions' params; got ${got}.`);
  }
  for (const part of split) {
    assertJsonParams(name, part);
    checkParams(new JobClass(), name, part);
  }
  const merged: JobsOptions = { ...(JobClass.jobOptions as JobsOptions | undefined), ...options };
  if (merged.attempts !== undefined && !(Number.isSafeInteger(merged.attempts) && merged.attempts >= 1)) {
    throw new InvalidOptionError('attempts', merged.attempts, 'an integer >= 1');
  }
  const { jobId, delay, ...shared } = merged;
  const parentId = jobId ?? randomUUID();
  const ids = split.map((_, index) => partitionId(parentId, index));
  const backend = queue.getBackend();
  const connection = queue.opts.connection as never;
  const producer = isPostgresBackend(backend)
    ? new FlowProducer({ connection }, createPostgresBackend)
    : new FlowProducer({ connection, ...(queue.opts.prefix === undefined ? {} : { prefix: queue.opts.prefix }) });
  try {
    const node = await producer.add({
      name,
      queueName: queue.name,
      data: { partitioned: { params, partitions: ids } } satisfies PartitionedParentData<Params>,
      // The parent runs nothing: the partitions' delay is theirs, and it is released the moment the last completes.
      opts: { ...shared, jobId: parentId },
      children: split.map((part, index) => ({
        name,
        queueName: queue.name,
        data: { params: part, partition: { parentId, index, count: split.length } },
        opts: { ...shared, ...(delay === undefined ? {} : { delay }), jobId: ids[index]! },
      })),
    });
    const byId = new Map((node.children ?? []).map((child) => [child.job.id, child.job]));
    return {
      parent: node.job as PartitionedJobs<Params>['parent'],
      partitions: ids.map((id) => byId.get(id)!) as PartitionedJobs<Params>['partitions'],
    };
  } finally {
    await producer.close();
  }
}
