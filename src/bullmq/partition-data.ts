/**
 * How a partitioned job is stored: a parent job whose data names its partitions, and one iterable job per partition
 * whose data says which parent and which slice it is. Shared by the producer, the worker that finishes a parent and
 * the control calls that reach a parent's partitions.
 */

/**
 * A parent's BullMQ data. There is deliberately no top-level `params`: a worker that knows nothing of partitions
 * fails such a job as invalid data (`ERR_INVALID_JOB_DATA`) instead of running the whole job beside its partitions.
 */
export interface PartitionedParentData<Params = unknown> {
  partitioned: {
    /** The whole job's params, as given to `enqueuePartitioned`. */
    params: Params;
    /** The partitions' job ids, in partition order. */
    partitions: string[];
  };
}

/** What a partition's data carries beside its params (`{ params, partition }`). */
export interface PartitionData {
  /** The parent's job id. */
  parentId: string;
  /** 0-based. */
  index: number;
  count: number;
}

/** The parent's part of a job's data, when the job is a partitioned job's parent. */
export function parentDataOf(data: unknown): PartitionedParentData['partitioned'] | undefined {
  if (data === null || typeof data !== 'object' || Array.isArray(data) || Object.hasOwn(data, 'params')) return undefined;
  const partitioned = (data as Partial<PartitionedParentData>).partitioned;
  if (partitioned === null || typeof partitioned !== 'object' || !Array.isArray(partitioned.partitions)) return undefined;
  return partitioned.partitions.every((id) => typeof id === 'string') ? partitioned : undefined;
}

/** Which parent and slice a job is, when it is a partition. */
export function partitionOf(data: unknown): PartitionData | undefined {
  if (data === null || typeof data !== 'object') return undefined;
  const partition = (data as { partition?: Partial<PartitionData> }).partition;
  if (partition === null || typeof partition !== 'object') return undefined;
  const { parentId, index, count } = partition;
  return typeof parentId === 'string' && Number.isSafeInteger(index) && Number.isSafeInteger(count) ? { parentId, index: index!, count: count! } : undefined;
}

/** The id of partition `index` (0-based) of `parentId`: derived, so that a parent always finds its partitions. */
export function partitionId(parentId: string, index: number): string {
  return `${parentId}-p${index + 1}`;
}

/** The job id at the end of a flow dependency key (`bull:queue:id`, or `queue:id` on PostgreSQL). */
export function idOfKey(key: string): string {
  return key.slice(key.lastIndexOf(':') + 1);
}
