import type { Job, JobsOptions, Queue } from 'bullmq';
import createDebug from 'debug';
import { InvalidOptionError } from '../errors.js';
import { JobNotFoundError } from './errors.js';
import { isIterableJobClass, jobNameOf, type IterableJobClass } from '../iterable-job.js';
import { checkParams } from '../params.js';
import type { JobState } from '../state.js';
import type { ControlRequest, JobStore, StoredFields } from '../store/job-store.js';
import { storeFor } from './backend.js';
import { assertClusterPrefix, assertJsonParams, hasIterationShape, parseStoredJob, type IterationJobData } from './redis.js';
import { PARK_DELAY_MS, PAUSE_REASON, type IterationProgress } from './options.js';
import { parentDataOf, partitionOf, type PartitionData } from './partition-data.js';

const log = createDebug('job-iteration:bullmq:control');

/** A BullMQ Queue on any backend: Redis (BullMQ's default) or PostgreSQL (`withBackend(createPostgresBackend)`). */
export type AnyQueue = Queue<any, any, string, any, any, string, any, any>;

/** Where a job sits in BullMQ. */
export type QueueState = 'active' | 'waiting' | 'prioritized' | 'delayed' | 'waiting-children' | 'completed' | 'failed' | 'unknown';

/**
 * Where an iterable job stands, from its BullMQ state, its saved iteration state and any pending request:
 * `pausing`/`cancelling` are requests a worker has not acted on yet; `paused` is parked until `resumeJob`.
 */
export type IterationStatus =
  | 'pending'
  | 'running'
  | 'interrupted'
  | 'retrying'
  | 'pausing'
  | 'paused'
  | 'cancelling'
  | 'cancelled'
  | 'completed'
  | 'failed';

/** One iterable job as `getIterationState` and `listIterableJobs` report it. */
export interface IterationJobInfo<Cursor = unknown> {
  id: string;
  name: string;
  queueState: QueueState;
  status: IterationStatus;
  /** The saved iteration state (cursor, iterations, timesInterrupted, status, ...); absent until the job first ran. */
  state: JobState<Cursor> | undefined;
  params: unknown;
  /** The last progress the job published (an `IterationProgress` for jobs run by `IterationWorker`). */
  progress: unknown;
  /** Why the job's stored data or state cannot be run, when it cannot (a worker fails it with `ERR_INVALID_JOB_DATA`). */
  invalid?: string;
  /** A cancel or pause request not yet acted on, or the pause that keeps the job parked. */
  control: ControlRequest | undefined;
  attemptsMade: number;
  failedReason: string | undefined;
  timestamp: number;
  processedOn: number | undefined;
  finishedOn: number | undefined;
  /** A partition of a partitioned job: its parent's id, and which slice it is. */
  partition?: PartitionData;
  /**
   * A partitioned job's parent: its partitions, in order. The parent's `progress` adds theirs up and its `status`
   * follows theirs (`failed` while one has failed for good and waits for a retry); it has no `state` of its own.
   */
  partitions?: IterationJobInfo[];
}

/** What a control call did. */
export interface ControlResult {
  jobId: string;
  /** The job's BullMQ state when the request was made. */
  queueState: QueueState;
  /**
   * `requested`: a worker acts on it at the job's next checkpoint (running) or when it picks the job up (waiting);
   * `applied`: done already (a parked job resumed or promoted, a delayed job parked); `none`: nothing to do (the
   * job is finished, or was not paused).
   */
  effect: 'requested' | 'applied' | 'none';
  /** Why nothing was done, when that is not plain from `queueState`. */
  reason?: string;
  /** `retryJob`: the saved cursor the job resumes after (absent when it failed before its first item). */
  cursor?: unknown;
  /** A partitioned job's parent: what the call did to each partition it reached. */
  partitions?: ControlResult[];
}

/**
 * Adds an iterable job to a BullMQ queue, named by its class (`jobNameOf`) with data `{ params }`. Params must be a
 * plain JSON value; anything else throws `InvalidParamsError` here rather than failing later in a worker. The class's
 * `static jobOptions` (attempts, backoff) apply unless `options` says otherwise.
 */
export async function enqueue<Params>(
  queue: AnyQueue,
  JobClass: IterableJobClass<Params, any, any>,
  params: Params,
  options?: JobsOptions,
): Promise<Job<IterationJobData<Params>>> {
  const name = jobNameOf(JobClass);
  assertQueuePrefix(queue);
  assertJsonParams(name, params);
  // On an instance, as a run asks it: a check may read the job's fields, or be one (an arrow function field).
  checkParams(new JobClass(), name, params);
  const merged: JobsOptions = { ...(JobClass.jobOptions as JobsOptions | undefined), ...options };
  if (merged.attempts !== undefined && !(Number.isSafeInteger(merged.attempts) && merged.attempts >= 1)) {
    throw new InvalidOptionError('attempts', merged.attempts, 'an integer >= 1');
  }
  return (await queue.add(name, { params }, merged)) as Job<IterationJobData<Params>>;
}

/**
 * Puts a failed job back in the queue to resume from its saved cursor, not from zero (BullMQ's `job.retry`, with its
 * attempts counted afresh). A job that failed as stalled (`ERR_JOB_STALLED`: an item that kept killing its worker)
 * gets a fresh count of stalls, so it is tried `maxStalledCount` more times after whatever fixed it. A job that is
 * not failed is left alone (`effect: 'none'`); a cancelled one too: cancelling is final, enqueue it anew to run it.
 */
export async function retryJob(queue: AnyQueue, jobId: string): Promise<ControlResult> {
  const queueState = await queueStateOf(queue, jobId);
  const partitions = await partitionsToReach(queue, jobId, queueState);
  if (partitions) return fanOut(jobId, queueState, partitions, (id) => retryJob(queue, id));
  if (queueState !== 'failed') return { jobId, queueState, effect: 'none' };
  const info = await getIterationState(queue, jobId);
  const state = info?.state;
  // A partitioned job's parent has no state of its own: its status says it was cancelled.
  if (state?.status === 'cancelled' || info?.status === 'cancelled') return { jobId, queueState, effect: 'none', reason: 'it was cancelled; a cancelled job is not retried (enqueue it anew)' };
  if (state?.stallsWithoutProgress) {
    const fresh = { ...state, stallsWithoutProgress: 0 };
    if (!(await storeOf(queue).replaceState(jobId, JSON.stringify(fresh)))) throw new JobNotFoundError(queue.name, jobId);
  }
  const job = await queue.getJob(jobId);
  if (!job) throw new JobNotFoundError(queue.name, jobId);
  await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
  log('%s %s: retried from cursor %j', queue.name, jobId, state?.cursor);
  return { jobId, queueState, effect: 'applied', cursor: state?.cursor };
}

/**
 * Cancels a job from any process. A running job stops at its next checkpoint; a waiting, delayed or paused job is
 * cancelled when a worker picks it up (a delayed or paused one is promoted so that happens now). Either way
 * `onCancel` runs in the worker and the job fails as cancelled (`JobCancelledError`'s message, no retries).
 */
export async function cancelJob(queue: AnyQueue, jobId: string): Promise<ControlResult> {
  const queueState = await queueStateOf(queue, jobId);
  const partitions = await partitionsToReach(queue, jobId, queueState);
  if (partitions) {
    // On the parent too: once released, it fails as cancelled whatever its partitions did meanwhile.
    await storeOf(queue).setControl(jobId, 'cancel');
    return fanOut(jobId, queueState, partitions, (id) => cancelPartition(queue, id));
  }
  if (queueState === 'completed' || queueState === 'failed') return { jobId, queueState, effect: 'none' };
  const { exists } = await storeOf(queue).setControl(jobId, 'cancel');
  if (!exists) throw new JobNotFoundError(queue.name, jobId);
  if (queueState === 'delayed') await promote(queue, jobId);
  log('%s %s: cancel requested (%s)', queue.name, jobId, queueState);
  return { jobId, queueState, effect: 'requested' };
}

/**
 * Pauses a job from any process: a running job checkpoints at its next item and is parked in the delayed set; a
 * delayed job is parked at once; a waiting job is parked when a worker picks it up. No worker runs it until
 * `resumeJob`.
 */
export async function pauseJob(queue: AnyQueue, jobId: string): Promise<ControlResult> {
  const queueState = await queueStateOf(queue, jobId);
  const partitions = await partitionsToReach(queue, jobId, queueState);
  if (partitions) return fanOut(jobId, queueState, partitions, (id) => pauseJob(queue, id));
  if (queueState === 'completed' || queueState === 'failed') return { jobId, queueState, effect: 'none' };
  const { exists, previous } = await storeOf(queue).requestPause(jobId);
  if (!exists) throw new JobNotFoundError(queue.name, jobId);
  // A cancel already asked for wins, and the store never let the pause replace it.
  if (previous === 'cancel') return { jobId, queueState, effect: 'none' };
  if (queueState === 'delayed') {
    const job = await queue.getJob(jobId);
    try {
      await job?.changeDelay(PARK_DELAY_MS);
      log('%s %s: delayed job parked', queue.name, jobId);
      return { jobId, queueState, effect: 'applied' };
    } catch {
      // It left the delayed set meanwhile; the request stands and a worker parks it.
    }
  }
  log('%s %s: pause requested (%s)', queue.name, jobId, queueState);
  return { jobId, queueState, effect: 'requested' };
}

/**
 * Resumes a paused job from any process: clears the pause and, when the job is parked, moves it back to the queue
 * (it keeps its id and resumes from its cursor). A pause that a running job has not acted on yet is withdrawn.
 */
export async function resumeJob(queue: AnyQueue, jobId: string): Promise<ControlResult> {
  const queueState0 = await queueStateOf(queue, jobId);
  const partitions = await partitionsToReach(queue, jobId, queueState0);
  if (partitions) return fanOut(jobId, queueState0, partitions, (id) => resumeJob(queue, id));
  const { exists, previous } = await storeOf(queue).withdrawPause(jobId);
  if (!exists) throw new JobNotFoundError(queue.name, jobId);
  // Resume does not undo a cancel, and the store never cleared it.
  if (previous === 'cancel') return { jobId, queueState: queueState0, effect: 'none' };
  // Read the state after clearing the request: a worker parking the job right now reads the request after its
  // move, so if we still see the job active here, the worker sees no pause and promotes it itself.
  const queueState = await queueStateOf(queue, jobId);
  if (queueState === 'delayed' && (previous === 'pause' || (await isParked(queue, jobId)))) {
    await promote(queue, jobId);
    log('%s %s: resumed', queue.name, jobId);
    return { jobId, queueState, effect: 'applied' };
  }
  return { jobId, queueState, effect: previous === 'pause' ? 'applied' : 'none' };
}

/** An iterable job's saved state and standing, or `undefined` when the queue has no such job. */
export async function getIterationState<Cursor = unknown>(queue: AnyQueue, jobId: string): Promise<IterationJobInfo<Cursor> | undefined> {
  // The BullMQ state first, then the job: a job seen failed or completed is then read with what its end wrote (its
  // failedReason, its result), where the other order could pair a job read just before it failed with its new state.
  const queueState = await queueStateOf(queue, jobId, { allowUnknown: true });
  const [loaded, [fields]] = await Promise.all([loadJob(queue, jobId), storeOf(queue).read([jobId])]);
  if (!loaded) return undefined;
  const info = describe<Cursor>(loaded, queueState, fields!);
  await withPartitions(queue, [info]);
  return info;
}

/** Options of `listIterableJobs`. */
export interface ListOptions {
  /**
   * At most this many jobs per BullMQ state.
   * @defaultValue 100
   */
  limit?: number;
  /**
   * BullMQ states to look in.
   * @defaultValue active, waiting-children, waiting, prioritized, delayed, failed, completed
   */
  states?: readonly Exclude<QueueState, 'unknown'>[];
  /** Only jobs of these classes. Default: every job whose data has the `{ params, state? }` shape. */
  jobs?: readonly IterableJobClass[];
}

// A partitioned job's parent waits in waiting-children while its partitions run.
const LIST_STATES: readonly Exclude<QueueState, 'unknown'>[] = ['active', 'waiting-children', 'waiting', 'prioritized', 'delayed', 'failed', 'completed'];

/** BullMQ's default lock duration, for a reader that does not know the workers' own. */
export const DEFAULT_LOCK_DURATION_MS = 30_000;

/** Why an active job looks stalled: no worker holds its lock, or its worker holds it but the job has gone quiet. */
export type StallSuspicion = 'lockless' | 'silent';

/**
 * The active jobs among `jobs` that look stalled, and why. `lockless`: no worker holds the lock (it crashed, was
 * killed or froze), and the stalled-job check will hand the job on. `silent`: a worker still renews the lock, but the
 * job has saved nothing for longer than a lock lasts past its own checkpoint interval: an item is hung, or very
 * slow. One round trip to the store.
 */
export async function stallSuspects(queue: AnyQueue, jobs: readonly IterationJobInfo[], lockMs = DEFAULT_LOCK_DURATION_MS): Promise<Map<string, StallSuspicion>> {
  const active = jobs.filter((job) => job.queueState === 'active');
  const unheld = await storeOf(queue).unheld(active.map((job) => job.id));
  const now = Date.now();
  const suspects = new Map<string, StallSuspicion>();
  for (const job of active) {
    if (unheld.has(job.id)) suspects.set(job.id, 'lockless');
    else {
      const savedAt = job.state?.updatedAt;
      const interval = (job.progress as Partial<IterationProgress> | undefined)?.checkpointIntervalMs ?? 1000;
      if (savedAt !== undefined && now - Date.parse(savedAt) > lockMs + interval) suspects.set(job.id, 'silent');
    }
  }
  return suspects;
}

/** The iterable jobs of a queue with their cursors and progress, a bounded number per BullMQ state. */
export async function listIterableJobs(queue: AnyQueue, options: ListOptions = {}): Promise<IterationJobInfo[]> {
  const limit = options.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidOptionError('limit', limit, 'an integer >= 1');
  const names = options.jobs?.map((JobClass) => {
    if (!isIterableJobClass(JobClass)) throw new InvalidOptionError('jobs', JobClass, 'IterableJob subclasses only');
    return jobNameOf(JobClass);
  });
  const found: { loaded: LoadedJob; queueState: QueueState }[] = [];
  const seen = new Set<string>();
  // `limit` is for the whole list, in the order of LIST_STATES: the jobs at work first.
  for (const queueState of options.states ?? LIST_STATES) {
    if (found.length >= limit) break;
    for (const loaded of await loadJobsIn(queue, queueState, limit - found.length)) {
      const id = loaded.job.id!;
      if (seen.has(id)) continue;
      // A job whose data cannot be read is listed whatever its name: it is broken, and a listing is where to see it.
      const shaped = hasIterationShape(loaded.job.data) || parentDataOf(loaded.job.data) !== undefined;
      const wanted = loaded.unreadable !== undefined || (names ? names.includes(loaded.job.name) : shaped);
      if (!wanted) continue;
      seen.add(id);
      found.push({ loaded, queueState });
      if (found.length >= limit) break;
    }
  }
  const fields = await storeOf(queue).read(found.map(({ loaded }) => loaded.job.id!));
  const infos = found.map(({ loaded, queueState }, i) => describe(loaded, queueState, fields[i]!));
  await withPartitions(queue, infos);
  return infos;
}

/** What a listing shows of a job. */
type JobView = Pick<Job, 'id' | 'name' | 'data' | 'progress' | 'attemptsMade' | 'failedReason' | 'timestamp' | 'processedOn' | 'finishedOn'>;

/** A job as read for a listing, with why its data could not be parsed when it could not. */
interface LoadedJob {
  job: JobView;
  unreadable?: string;
}

/**
 * The first `limit` jobs in one BullMQ state, fetched together. Only when one of them cannot be parsed are they read
 * one by one, so that the rest still show and the broken one shows as broken.
 */
async function loadJobsIn(queue: AnyQueue, queueState: Exclude<QueueState, 'unknown'>, limit: number): Promise<LoadedJob[]> {
  const asc = queueState !== 'completed' && queueState !== 'failed';
  try {
    const jobs = await queue.getJobs([queueState], 0, limit - 1, asc);
    return jobs.filter((job): job is Job => Boolean(job?.id)).map((job) => ({ job }));
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    const ids = await queue.getRanges([queueState], 0, limit - 1, asc);
    const loaded = await Promise.all(ids.map((id) => loadJob(queue, id)));
    return loaded.filter((job): job is LoadedJob => job !== undefined);
  }
}

/**
 * Reads one job. BullMQ throws on a job whose stored data is not JSON; such a job is read raw instead, so that a
 * listing shows it with what is wrong rather than failing as a whole.
 */
async function loadJob(queue: AnyQueue, jobId: string): Promise<LoadedJob | undefined> {
  try {
    const job = await queue.getJob(jobId);
    return job ? { job } : undefined;
  } catch (error) {
    // Only a field that is not JSON is a broken job to show; a timeout or a lost connection is an error to report.
    if (!(error instanceof SyntaxError)) throw error;
    const raw: Record<string, string | undefined> = await storeOf(queue).readRaw(jobId);
    if (!raw.name) return undefined;
    const int = (value: string | undefined) => (value === undefined ? undefined : Number.parseInt(value, 10));
    let progress: unknown = raw.progress;
    try {
      progress = JSON.parse(raw.progress ?? '0');
    } catch {
      // Shown as stored.
    }
    const job: JobView = {
      id: jobId,
      name: raw.name,
      data: raw.data,
      progress: progress as Job['progress'],
      attemptsMade: int(raw.attemptsMade ?? raw.atm) ?? 0,
      failedReason: raw.failedReason ?? '',
      timestamp: int(raw.timestamp) ?? 0,
      processedOn: int(raw.processedOn),
      finishedOn: int(raw.finishedOn),
    };
    return { job, unreadable: (error as Error).message };
  }
}

function describe<Cursor>({ job, unreadable }: LoadedJob, queueState: QueueState, { control, state: rawState }: StoredFields): IterationJobInfo<Cursor> {
  const parent = unreadable === undefined ? parentDataOf(job.data) : undefined;
  if (parent) {
    return {
      id: job.id!,
      name: job.name,
      queueState,
      // Until its partitions are read (`withPartitions`), as far as the parent alone tells.
      status: parentStatus(queueState, control, job.failedReason, []),
      state: undefined,
      params: parent.params,
      progress: job.progress,
      control,
      attemptsMade: job.attemptsMade,
      failedReason: job.failedReason || undefined,
      timestamp: job.timestamp,
      processedOn: job.processedOn ?? undefined,
      finishedOn: job.finishedOn ?? undefined,
      partitions: [],
    };
  }
  let params: unknown;
  let state: JobState<Cursor> | undefined;
  let invalid: string | undefined;
  try {
    const stored = parseStoredJob(job, job.name, rawState, unreadable);
    params = stored.params;
    state = stored.state as JobState<Cursor> | undefined;
  } catch (error) {
    // A listing shows a broken job as it is, with what is wrong; only a worker acts on it (and fails it).
    params = hasIterationShape(job.data) ? job.data.params : job.data;
    invalid = (error as Error).message;
  }
  return {
    id: job.id!,
    name: job.name,
    queueState,
    status: statusOf(queueState, state, control),
    state,
    params,
    progress: job.progress,
    control,
    attemptsMade: job.attemptsMade,
    failedReason: job.failedReason || undefined,
    ...(invalid === undefined ? {} : { invalid }),
    timestamp: job.timestamp,
    processedOn: job.processedOn ?? undefined,
    finishedOn: job.finishedOn ?? undefined,
    ...(partitionOf(job.data) ? { partition: partitionOf(job.data) } : {}),
  };
}

function statusOf(queueState: QueueState, state: JobState<any> | undefined, control: ControlRequest | undefined): IterationStatus {
  if (queueState === 'completed') return 'completed';
  if (queueState === 'failed') return state?.status === 'cancelled' ? 'cancelled' : 'failed';
  if (control === 'cancel') return 'cancelling';
  if (control === 'pause') return queueState === 'delayed' ? 'paused' : 'pausing';
  if (queueState === 'active') return 'running';
  switch (state?.status) {
    case undefined:
    case 'pending':
      return 'pending';
    case 'failed':
      return 'retrying';
    case 'completed':
    case 'cancelled':
      return state.status;
    default:
      // interrupted, or `running` left behind by a crashed worker: either way it resumes from its cursor.
      return 'interrupted';
  }
}

async function queueStateOf(queue: AnyQueue, jobId: string, { allowUnknown = false }: { allowUnknown?: boolean } = {}): Promise<QueueState> {
  if (typeof jobId !== 'string' || jobId.length === 0) throw new InvalidOptionError('jobId', jobId, 'a job id string');
  const state = (await queue.getJobState(jobId)) as QueueState;
  if (state === 'unknown' && !allowUnknown) throw new JobNotFoundError(queue.name, jobId);
  return state;
}

/** The store of a queue's jobs; one per queue, so its setup (Redis scripts, the PostgreSQL state table check) runs once. */
const stores = new WeakMap<AnyQueue, JobStore>();
function storeOf(queue: AnyQueue): JobStore {
  let store = stores.get(queue);
  if (!store) {
    assertQueuePrefix(queue);
    stores.set(queue, (store = storeFor(queue)));
  }
  return store;
}

/** A queue on Redis Cluster needs a hash-tagged prefix; said here by name, not later as a CROSSSLOT error. */
export function assertQueuePrefix(queue: AnyQueue): void {
  const { connection, prefix } = (queue as { opts?: { connection?: unknown; prefix?: string } }).opts ?? {};
  assertClusterPrefix(connection, prefix);
}

async function isParked(queue: AnyQueue, jobId: string): Promise<boolean> {
  const [fields] = await storeOf(queue).read([jobId]);
  if (!fields?.state) return false;
  try {
    return (JSON.parse(fields.state) as Partial<JobState>)?.lastInterruption?.reason === PAUSE_REASON;
  } catch {
    return false;
  }
}

async function promote(queue: AnyQueue, jobId: string): Promise<void> {
  const job = await queue.getJob(jobId);
  // It may have been promoted or picked up meanwhile; either way it is no longer parked.
  await job?.promote().catch(() => undefined);
}

// ---------------------------------------------------------------------------------------------------------------
// Partitioned jobs: a parent (BullMQ flow) over one iterable job per partition; see partitions.ts.

/**
 * The partitions a control call on `jobId` reaches, when it is a partitioned job's parent still waiting for them;
 * `undefined` for any other job (one read, only for jobs in waiting-children, which iterable jobs never are).
 */
async function partitionsToReach(queue: AnyQueue, jobId: string, queueState: QueueState): Promise<string[] | undefined> {
  if (queueState !== 'waiting-children') return undefined;
  const loaded = await loadJob(queue, jobId);
  return loaded && !loaded.unreadable ? parentDataOf(loaded.job.data)?.partitions : undefined;
}

/** One call per partition, side by side; the parent's result says what the busiest of them did. */
async function fanOut(jobId: string, queueState: QueueState, ids: readonly string[], act: (id: string) => Promise<ControlResult>): Promise<ControlResult> {
  const partitions = await Promise.all(
    ids.map((id) =>
      act(id).catch((error: unknown) => {
        // A partition removed by hand is not there to reach; the others still are.
        if (error instanceof JobNotFoundError) return { jobId: id, queueState: 'unknown' as const, effect: 'none' as const, reason: 'no such job' };
        throw error;
      }),
    ),
  );
  const effect = partitions.some((p) => p.effect === 'requested') ? 'requested' : partitions.some((p) => p.effect === 'applied') ? 'applied' : 'none';
  log('fanned out to %d partition(s) of %s: %s', ids.length, jobId, effect);
  return { jobId, queueState, effect, partitions };
}

/**
 * Cancels one partition of a cancelled parent. One that failed for good no longer runs, so nothing would take it
 * out of the flow: it leaves it here, so the parent is released once the others have stopped.
 */
async function cancelPartition(queue: AnyQueue, jobId: string): Promise<ControlResult> {
  const queueState = await queueStateOf(queue, jobId);
  if (queueState !== 'failed') return cancelJob(queue, jobId);
  const job = await queue.getJob(jobId);
  const left = Boolean(job?.parentKey) && (await job!.removeChildDependency());
  return { jobId, queueState, effect: left ? 'applied' : 'none' };
}

/** Fills in each parent's partitions, its progress (theirs added up) and its status (from theirs). */
async function withPartitions(queue: AnyQueue, infos: IterationJobInfo[]): Promise<void> {
  const parents = infos.filter((info) => info.partitions !== undefined);
  if (parents.length === 0) return;
  const listed = new Map(infos.map((info) => [info.id, info]));
  await Promise.all(
    parents.map(async (parent) => {
      const loaded = await loadJob(queue, parent.id);
      const ids = (loaded && parentDataOf(loaded.job.data)?.partitions) ?? [];
      const children = await Promise.all(ids.map(async (id) => listed.get(id) ?? (await getIterationState(queue, id))));
      const partitions = children.filter((child): child is IterationJobInfo => child !== undefined);
      parent.partitions = partitions;
      parent.status = parentStatus(parent.queueState, parent.control, parent.failedReason, partitions);
      parent.progress = summedProgress(parent, partitions, ids.length);
    }),
  );
}

/** Where a parent stands: its own outcome once it has one, else what its partitions are doing. */
function parentStatus(queueState: QueueState, control: ControlRequest | undefined, failedReason: string | undefined, partitions: readonly IterationJobInfo[]): IterationStatus {
  if (queueState === 'completed') return 'completed';
  if (queueState === 'failed') return control === 'cancel' || failedReason?.startsWith('ERR_JOB_CANCELLED') ? 'cancelled' : 'failed';
  if (control === 'cancel') return 'cancelling';
  const statuses = new Set(partitions.map((p) => p.status));
  const open = partitions.filter((p) => p.status !== 'completed');
  // A partition failed for good holds the parent until it is retried: that is what needs a person.
  for (const status of ['failed', 'cancelling', 'cancelled', 'running', 'pausing'] as const) if (statuses.has(status)) return status;
  if (open.length > 0 && open.every((p) => p.status === 'paused')) return 'paused';
  if (statuses.has('paused')) return 'pausing';
  for (const status of ['retrying', 'interrupted'] as const) if (statuses.has(status)) return status;
  // Every partition done and the parent about to be finished by a worker.
  return partitions.length > 0 && open.length === 0 ? 'running' : 'pending';
}

/** The parent's progress: its partitions' added up, as one job's would read. */
function summedProgress(parent: IterationJobInfo, partitions: readonly IterationJobInfo[], count: number): IterationProgress {
  const each = partitions.map((p) => (p.progress && typeof p.progress === 'object' ? p.progress : {}) as Partial<IterationProgress>);
  const sum = (pick: (p: Partial<IterationProgress>, i: number) => number | undefined) => each.reduce((total, p, i) => total + (pick(p, i) ?? 0), 0);
  const iterations = sum((p, i) => p.iterations ?? partitions[i]!.state?.iterations);
  const progress: IterationProgress = {
    cursor: null,
    iterations,
    elapsedMs: Math.max(0, ...each.map((p) => p.elapsedMs ?? 0)),
    timesInterrupted: sum((p) => p.timesInterrupted),
    status: parent.status === 'completed' ? 'completed' : parent.status === 'cancelled' ? 'cancelled' : parent.status === 'failed' ? 'failed' : 'running',
    updatedAt: each.map((p) => p.updatedAt ?? '').reduce((a, b) => (a > b ? a : b), '') || new Date(parent.timestamp).toISOString(),
    partitions: { count, completed: partitions.filter((p) => p.status === 'completed').length },
  };
  const units = new Set(each.map((p) => p.unit).filter((unit) => unit !== undefined));
  const unit = units.size === 1 ? [...units][0] : undefined;
  if (unit !== undefined) Object.assign(progress, { unit, done: sum((p) => p.done ?? p.iterations) });
  const done = progress.done ?? iterations;
  // A total only once every partition has told its own: a partial sum would show a percent that jumps back.
  if (partitions.length === count && each.every((p) => p.total !== undefined)) {
    const total = sum((p) => p.total);
    progress.total = total;
    progress.percentage = total > 0 ? Math.min(100, Math.round((done / total) * 10000) / 100) : 100;
    progress.progress = progress.percentage;
  }
  const rate = sum((p, i) => (partitions[i]!.status === 'running' ? p.ratePerSecond : 0));
  if (rate > 0) {
    progress.ratePerSecond = Math.round(rate * 10) / 10;
    if (progress.total !== undefined) progress.etaMs = Math.max(0, Math.round(((progress.total - done) / rate) * 1000));
  }
  return progress;
}
