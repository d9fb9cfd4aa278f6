import type { Redis } from 'ioredis';
import { ControlRequests, asControl, type CheckpointResult, type CheckpointWrite, type ControlChange, type ControlRequest, type JobStore, type StoredFields } from './job-store.js';

/**
 * The job hash field that carries a pending control request. It lives beside BullMQ's own fields rather than in
 * `data`, so that nothing BullMQ or a checkpoint writes can drop it.
 */
export const CONTROL_FIELD = 'ji:control';

/**
 * The job hash field that holds the saved iteration state (JSON). It sits beside `data` rather than inside it, so
 * a checkpoint writes the state alone: params of any size are written once, by `enqueue`, and never again, and
 * whatever else a producer put in `data` stays exactly as it was.
 */
export const STATE_FIELD = 'ji:state';

/** BullMQ's stalled counter field (see moveStalledJobsToWait-*.lua: `HINCRBY jobKey "stc" 1`). */
export const STALLED_COUNTER_FIELD = 'stc';

/**
 * What the store needs of a BullMQ Queue or Worker: where its keys are (`toKey(jobId)`; the queue's own keys, such
 * as its events stream, are `toKey('events')`), and the Redis client it already has.
 */
export interface RedisQueueLike {
  toKey(id: string): string;
  getBackend(): unknown;
}

/**
 * Writes a checkpoint only while the caller still holds the job's lock, so a worker that lost the job (stalled,
 * taken over) can never overwrite the cursor of the worker that owns it now. Only the state field is written, never
 * `data`. In the same round trip it resets BullMQ's stalled counter (stalls are counted in the state instead,
 * across checkpoints), publishes the progress event BullMQ's own `updateProgress` would, and returns any pending
 * control request, so cancel and pause reach the run without an extra query.
 */
const CHECKPOINT_LUA = `
local jobKey = KEYS[1]
if redis.call("GET", KEYS[2]) ~= ARGV[1] or redis.call("EXISTS", jobKey) == 0 then
  return {0, ""}
end
redis.call("HSET", jobKey, "${STATE_FIELD}", ARGV[2])
if ARGV[3] ~= "" then
  redis.call("HSET", jobKey, "progress", ARGV[3])
  local maxEvents = redis.call("HGET", KEYS[4], "opts.maxLenEvents") or 10000
  redis.call("XADD", KEYS[3], "MAXLEN", "~", maxEvents, "*", "event", "progress", "jobId", ARGV[4], "data", ARGV[3])
end
redis.call("HSET", jobKey, "${STALLED_COUNTER_FIELD}", 0)
if ARGV[5] == "1" then
  redis.call("HDEL", jobKey, "${CONTROL_FIELD}")
end
return {1, redis.call("HGET", jobKey, "${CONTROL_FIELD}") or ""}
`;

/**
 * Sets (ARGV[1] non-empty) or clears the control request of a job that exists; never creates a stray hash. With
 * ARGV[2] = "1" a pending cancel is kept: a pause must not replace it, even for a moment.
 */
const CONTROL_LUA = `
if redis.call("EXISTS", KEYS[1]) == 0 then
  return {0, ""}
end
local previous = redis.call("HGET", KEYS[1], "${CONTROL_FIELD}") or ""
if ARGV[2] == "1" and previous == "cancel" then
  return {1, previous}
end
if ARGV[1] == "" then
  redis.call("HDEL", KEYS[1], "${CONTROL_FIELD}")
else
  redis.call("HSET", KEYS[1], "${CONTROL_FIELD}", ARGV[1])
end
return {1, previous}
`;

interface ScriptedRedis extends Redis {
  jiCheckpoint(...args: string[]): Promise<[number, string]>;
  jiControl(...args: string[]): Promise<[number, string]>;
}

/** A `JobStore` in BullMQ's Redis job hashes, on the client the queue or worker already has. */
export class RedisJobStore extends ControlRequests implements JobStore {
  readonly #owner: RedisQueueLike;

  constructor(owner: RedisQueueLike) {
    super();
    this.#owner = owner;
  }

  async #client(): Promise<ScriptedRedis> {
    const client = (await (this.#owner.getBackend() as { client: Promise<unknown> }).client) as ScriptedRedis;
    if (typeof client.jiCheckpoint !== 'function') {
      // defineCommand sends EVALSHA and falls back to EVAL once, so the script text crosses the wire rarely.
      client.defineCommand('jiCheckpoint', { numberOfKeys: 4, lua: CHECKPOINT_LUA });
      client.defineCommand('jiControl', { numberOfKeys: 1, lua: CONTROL_LUA });
    }
    return client;
  }

  async read(jobIds: readonly string[]): Promise<StoredFields[]> {
    if (jobIds.length === 0) return [];
    const pipeline = (await this.#client()).pipeline();
    for (const id of jobIds) pipeline.hmget(this.#owner.toKey(id), CONTROL_FIELD, STATE_FIELD);
    const results = (await pipeline.exec()) ?? [];
    return results.map(([error, value]) => {
      // A failed read is not an empty one: read as "no saved state", it would restart the job from zero.
      if (error) throw error;
      const [control, state] = value as (string | null)[];
      return { control: asControl(control), state: state ?? undefined };
    });
  }

  async readControl(jobIds: readonly string[]): Promise<(ControlRequest | undefined)[]> {
    if (jobIds.length === 0) return [];
    const pipeline = (await this.#client()).pipeline();
    for (const id of jobIds) pipeline.hget(this.#owner.toKey(id), CONTROL_FIELD);
    const results = (await pipeline.exec()) ?? [];
    return results.map(([error, value]) => {
      if (error) throw error;
      return asControl(value);
    });
  }

  async checkpoint(jobId: string, token: string, write: CheckpointWrite): Promise<CheckpointResult> {
    const client = await this.#client();
    const jobKey = this.#owner.toKey(jobId);
    const [owned, control] = await client.jiCheckpoint(
      jobKey,
      `${jobKey}:lock`,
      this.#owner.toKey('events'),
      this.#owner.toKey('meta'),
      token,
      write.state,
      write.progress,
      jobId,
      write.clearControl ? '1' : '0',
    );
    return { owned: owned === 1, control: asControl(control) };
  }

  async holdsLock(jobId: string, token: string): Promise<boolean> {
    return (await (await this.#client()).get(`${this.#owner.toKey(jobId)}:lock`)) === token;
  }

  async unheld(jobIds: readonly string[]): Promise<Set<string>> {
    if (jobIds.length === 0) return new Set();
    const pipeline = (await this.#client()).pipeline();
    for (const id of jobIds) pipeline.exists(`${this.#owner.toKey(id)}:lock`);
    const replies = (await pipeline.exec()) ?? [];
    return new Set(jobIds.filter((_, i) => replies[i]?.[1] === 0));
  }

  protected async changeControl(jobId: string, request: string, keepCancel: boolean): Promise<ControlChange> {
    const [exists, previous] = await (await this.#client()).jiControl(this.#owner.toKey(jobId), request, keepCancel ? '1' : '0');
    return { exists: exists === 1, previous: asControl(previous) };
  }

  async readRaw(jobId: string): Promise<Record<string, string>> {
    return (await this.#client()).hgetall(this.#owner.toKey(jobId));
  }

  async replaceState(jobId: string, stateJson: string): Promise<boolean> {
    const client = await this.#client();
    // In one step: an HSET on a job removed meanwhile would create a job hash out of nothing.
    const lua = `if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end redis.call("HSET", KEYS[1], "${STATE_FIELD}", ARGV[1]) return 1`;
    return (await client.eval(lua, 1, this.#owner.toKey(jobId), stateJson)) === 1;
  }
}
