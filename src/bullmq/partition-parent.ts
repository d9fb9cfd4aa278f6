import type { Job } from 'bullmq';
import createDebug from 'debug';
import type { JobStore } from '../store/job-store.js';
import { JobCancelledError, PartitionsIncompleteError } from './errors.js';
import { permanentFailure } from './execution.js';
import { idOfKey, type PartitionedParentData } from './partition-data.js';
import type { IterationResult } from './options.js';

const log = createDebug('job-iteration:bullmq');

/**
 * Finishes a partitioned job's parent, which BullMQ hands to a worker once none of its partitions is pending: each
 * completed (the parent completes with their results summed), or some were cancelled and taken out of the flow (the
 * parent fails as cancelled). A partition that failed for good keeps the parent waiting instead, until it is retried
 * and completes, so this never sees one.
 */
export async function finishParent(job: Job, store: JobStore, jobName: string, data: PartitionedParentData['partitioned']): Promise<IterationResult> {
  const values = await job.getChildrenValues<IterationResult | undefined>();
  const results = new Map(Object.entries(values).map(([key, value]) => [idOfKey(key), value]));
  const missing = data.partitions.filter((id) => !results.has(id));
  if (missing.length > 0) {
    const [parent, ...partitions] = await store.read([job.id!, ...missing]);
    const cancelled = parent?.control === 'cancel' || partitions.some((fields) => statusIn(fields.state) === 'cancelled');
    log('%s: partitioned job %s released with %d partition(s) not completed%s', job.queueName, job.id, missing.length, cancelled ? ' (cancelled)' : '');
    throw permanentFailure(cancelled ? new JobCancelledError(jobName, job.id!) : new PartitionsIncompleteError(jobName, job.id!, missing));
  }
  const all = data.partitions.map((id) => results.get(id));
  const sum = (pick: (result: IterationResult) => number) => all.reduce((total, result) => total + (result ? Number(pick(result)) || 0 : 0), 0);
  return {
    iterations: sum((r) => r.iterations),
    cursor: null,
    // Time spent running, as for one job: the partitions' times added up, not the wall time they overlapped in.
    totalTimeMs: sum((r) => r.totalTimeMs),
    timesInterrupted: sum((r) => r.timesInterrupted),
    partitions: data.partitions.length,
  };
}

function statusIn(state: string | undefined): string | undefined {
  if (state === undefined) return undefined;
  try {
    return (JSON.parse(state) as { status?: string }).status;
  } catch {
    return undefined;
  }
}
