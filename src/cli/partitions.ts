import type { JobsOptions, Queue } from 'bullmq';
import { enqueuePartitioned, MAX_PARTITIONS, type IterationJobInfo, type IterationProgress } from '../bullmq/index.js';
import type { IterableJobClass } from '../iterable-job.js';
import { intFlag } from './args.js';
import { shorten } from './text.js';
import { ExitCode, UsageError } from './usage.js';

/** `--partitions`: how many partitions, checked before the module's split runs. */
export function partitionsFlag(value: string): number {
  const k = intFlag('partitions', value, 1, 1);
  if (k > MAX_PARTITIONS) throw new UsageError(`--partitions must be at most ${MAX_PARTITIONS}; got "${value}"`);
  return k;
}

/** `enqueue --partitions <k>`: the parent's id on stdout (the id every other command takes), the partitions on stderr. */
export async function enqueuePartitionedJob(queue: Queue, JobClass: IterableJobClass, params: unknown, k: number, options: JobsOptions): Promise<number> {
  if (typeof JobClass.partition !== 'function') {
    throw new UsageError(`job "${JobClass.jobName ?? JobClass.name}" has no static partition(params, partitions) method, so it cannot be split; see docs/partitions.md`);
  }
  const { parent, partitions } = await enqueuePartitioned(queue, JobClass, params, k, options);
  console.log(parent.id);
  console.error(
    `enqueued ${parent.name} as job ${parent.id} on queue "${queue.name}" in ${partitions.length} partition(s): ${partitions.map((p) => p.id).join(', ')}` +
      (partitions.length < k ? ` (the job split into fewer than the ${k} asked for)` : ''),
  );
  return ExitCode.ok;
}

/**
 * The listing's order for the table: each partitioned job's parent with its partitions right under it (marked, for
 * indenting), the rest as listed. A partition whose parent is not in the listing stays where it was.
 */
export function groupPartitions(jobs: readonly IterationJobInfo[]): Array<{ job: IterationJobInfo; partition: boolean }> {
  const parents = new Set(jobs.filter((job) => job.partitions !== undefined).map((job) => job.id));
  const rows: Array<{ job: IterationJobInfo; partition: boolean }> = [];
  for (const job of jobs) {
    if (job.partition && parents.has(job.partition.parentId)) continue;
    rows.push({ job, partition: false });
    for (const child of job.partitions ?? []) rows.push({ job: child, partition: true });
  }
  return rows;
}

/** `status <parent id>`: one line per partition under the parent's own lines. */
export function partitionLines(info: IterationJobInfo): string[] {
  if (!info.partitions) return [];
  const { partitions } = info;
  const count = (info.progress as Partial<IterationProgress> | undefined)?.partitions?.count ?? partitions.length;
  const lines = [`\npartitions: ${count} (${partitions.filter((p) => p.status === 'completed').length} completed)`];
  for (const p of partitions) {
    const progress = (p.progress && typeof p.progress === 'object' ? p.progress : {}) as Partial<IterationProgress>;
    const items = p.state?.iterations ?? progress.iterations ?? 0;
    const share = progress.percentage !== undefined ? ` (${progress.percentage}%)` : '';
    const cursor = p.state && 'cursor' in p.state ? shorten(JSON.stringify(p.state.cursor), 40) : 'none yet';
    const error = p.queueState === 'failed' && p.failedReason ? `; ${shorten(p.failedReason.split('\n')[0]!, 60)}` : '';
    lines.push(`  ${p.id}  ${p.status}  items ${items}${share}  cursor ${cursor}  attempts ${p.attemptsMade}${error}`);
  }
  return lines;
}
