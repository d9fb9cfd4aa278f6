/**
 * What a runtime needs from the place its jobs live, beyond the queue's own operations: the saved state written
 * only by the worker that holds the job, and the cancel/pause requests any process can make. The Redis store
 * (`redis-store.ts`) keeps both in BullMQ's job hash; another backend implements the same contract.
 */

/** A request any process can make of a job, acted on by the worker that runs it. */
export type ControlRequest = 'cancel' | 'pause';

/** What the store keeps of one job beside the queue's own fields. */
export interface StoredFields {
  control: ControlRequest | undefined;
  /** The saved state as stored (JSON), when the job has checkpointed. */
  state: string | undefined;
}

/** One checkpoint. */
export interface CheckpointWrite {
  /** The state, as JSON. */
  state: string;
  /** The progress to publish (JSON), or '' to leave it alone. */
  progress: string;
  /** Clear the pending control request in the same write (the request has been acted on). */
  clearControl: boolean;
}

export interface CheckpointResult {
  /** False when the job is no longer held with the given token: nothing was written. */
  owned: boolean;
  /** The control request pending after the write. */
  control: ControlRequest | undefined;
}

export interface ControlChange {
  /** False when there is no such job: nothing was written. */
  exists: boolean;
  /** The request that was pending before. */
  previous: ControlRequest | undefined;
}

export interface JobStore {
  /** The saved state and the pending request of each job, in one round trip. */
  read(jobIds: readonly string[]): Promise<StoredFields[]>;
  /** The pending request of each job, in one round trip. */
  readControl(jobIds: readonly string[]): Promise<(ControlRequest | undefined)[]>;
  /**
   * Writes a checkpoint only while `token` still holds the job, so a worker that lost the job can never overwrite
   * the state of the worker that holds it now. Resets the queue's own stall counter: stalls are counted in the
   * state, across checkpoints.
   */
  checkpoint(jobId: string, token: string, write: CheckpointWrite): Promise<CheckpointResult>;
  /** Whether `token` still holds the job. */
  holdsLock(jobId: string, token: string): Promise<boolean>;
  /**
   * Those of `jobIds` (active jobs) that no worker holds a live lock on: their worker crashed, was killed or froze,
   * and the queue's stalled-job check will hand them on. One round trip.
   */
  unheld(jobIds: readonly string[]): Promise<Set<string>>;
  /** Sets or clears (`undefined`) a job's request. */
  setControl(jobId: string, request: ControlRequest | undefined): Promise<ControlChange>;
  /** Asks for a pause, unless a cancel is pending: a cancel always wins, atomically. */
  requestPause(jobId: string): Promise<ControlChange>;
  /** Withdraws a pending pause; a pending cancel stays, atomically. */
  withdrawPause(jobId: string): Promise<ControlChange>;
  /** Every field of a job as stored, for showing a job the queue itself cannot parse. */
  readRaw(jobId: string): Promise<Record<string, string>>;
  /**
   * Replaces the saved state of a job no worker holds (a failed job about to be retried), unfenced. Returns false
   * when the job does not exist.
   */
  replaceState(jobId: string, stateJson: string): Promise<boolean>;
}

/**
 * The three ways a request changes, written once over the one change each store makes atomically: set `request`
 * (empty: clear it), unless `keepCancel` and a cancel is pending, and answer with the request it replaced.
 */
export abstract class ControlRequests {
  protected abstract changeControl(jobId: string, request: ControlRequest | '', keepCancel: boolean): Promise<ControlChange>;

  /** Sets or clears (`undefined`) a job's request. */
  setControl(jobId: string, request: ControlRequest | undefined): Promise<ControlChange> {
    return this.changeControl(jobId, request ?? '', false);
  }

  /** Asks for a pause, unless a cancel is pending: a cancel always wins, atomically. */
  requestPause(jobId: string): Promise<ControlChange> {
    return this.changeControl(jobId, 'pause', true);
  }

  /** Withdraws a pending pause; a pending cancel stays, atomically. */
  withdrawPause(jobId: string): Promise<ControlChange> {
    return this.changeControl(jobId, '', true);
  }
}

export function asControl(value: unknown): ControlRequest | undefined {
  return value === 'cancel' || value === 'pause' ? value : undefined;
}
