import { isDeepStrictEqual } from 'node:util';
import type { ConnectionOptions, Job, QueueBase } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import { InvalidOptionError, InvalidParamsError, describeValue } from '../errors.js';
import { InvalidJobDataError } from './errors.js';
import { parseState, type JobState } from '../state.js';

/**
 * What `connection` accepts: an ioredis instance, ioredis options (optionally with a `url` whose host, port,
 * credentials and db the other options refine), or a `redis://` / `rediss://` URL.
 */
export type IterationConnection = Redis | (RedisOptions & { url?: string }) | string;

/** The URL used when no connection is given and `REDIS_URL` is unset. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** `REDIS_URL` when set and not empty, else the default. */
export function redisUrlFromEnv(): string {
  return process.env.REDIS_URL || DEFAULT_REDIS_URL;
}

/**
 * The job hash field that carries a pending control request (`cancel` or `pause`). It lives beside BullMQ's own
 * fields rather than in `data`, because `data` is rewritten by every checkpoint and a request must survive that.
 */
export const CONTROL_FIELD = 'ji:control';
export type ControlRequest = 'cancel' | 'pause';

/**
 * The job hash field that holds the saved iteration state (JSON). It sits beside `data` rather than inside it, so
 * a checkpoint writes the state alone: params of any size are written once, by `enqueue`, and never again, and
 * whatever else a producer put in `data` stays exactly as it was.
 */
export const STATE_FIELD = 'ji:state';

/** BullMQ's stalled counter field (see moveStalledJobsToWait-*.lua: `HINCRBY jobKey "stc" 1`). */
export const STALLED_COUNTER_FIELD = 'stc';

/** Turns the `connection` option into what BullMQ accepts. */
export function resolveConnection(connection: IterationConnection | undefined): ConnectionOptions {
  if (connection === undefined) return optionsFromUrl(redisUrlFromEnv(), 'REDIS_URL') as ConnectionOptions;
  if (typeof connection === 'string') return optionsFromUrl(connection, 'connection') as ConnectionOptions;
  if (isRedisInstance(connection)) {
    // BullMQ duplicates the instance for its blocking connection and refuses one that retries requests.
    if (connection.options.maxRetriesPerRequest !== null) {
      throw new InvalidOptionError(
        'connection',
        connection,
        'an ioredis instance created with { maxRetriesPerRequest: null } (BullMQ workers block on Redis and require it)',
      );
    }
    return connection as unknown as ConnectionOptions;
  }
  if (connection === null || typeof connection !== 'object') {
    throw new InvalidOptionError('connection', connection, 'an ioredis instance, ioredis options or a redis:// URL');
  }
  const { url, ...rest } = connection;
  const base = url === undefined ? {} : optionsFromUrl(url, 'connection.url');
  return { ...base, ...rest, maxRetriesPerRequest: null } as ConnectionOptions;
}

function isRedisInstance(value: unknown): value is Redis {
  return value !== null && typeof value === 'object' && typeof (value as Redis).defineCommand === 'function' && 'options' in value;
}

function optionsFromUrl(url: string, option: string): RedisOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidOptionError(option, url, 'a redis:// or rediss:// URL');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new InvalidOptionError(option, url, 'a redis:// or rediss:// URL');
  }
  const options: RedisOptions = {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    maxRetriesPerRequest: null,
  };
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  const db = parsed.pathname.replace(/^\//, '');
  if (db) options.db = Number(db);
  if (parsed.protocol === 'rediss:') options.tls = {};
  return options;
}

/**
 * Writes a checkpoint only while the caller still holds the job's lock, so a worker that lost the job (stalled,
 * taken over) can never overwrite the cursor of the worker that owns it now. Only the state field is written, never
 * `data`. In the same round trip it resets BullMQ's stalled counter (stalls are counted in the state instead, across
 * checkpoints; see the worker's claim) and returns any pending control request, so cancel/pause reach the run
 * without an extra query.
 */
const PERSIST_LUA = `
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

/** Sets (ARGV[1] non-empty) or clears the control request of a job that exists; never creates a stray hash. */
const CONTROL_LUA = `
if redis.call("EXISTS", KEYS[1]) == 0 then
  return {0, ""}
end
local previous = redis.call("HGET", KEYS[1], "${CONTROL_FIELD}") or ""
if ARGV[1] == "" then
  redis.call("HDEL", KEYS[1], "${CONTROL_FIELD}")
else
  redis.call("HSET", KEYS[1], "${CONTROL_FIELD}", ARGV[1])
end
return {1, previous}
`;

interface ScriptedRedis extends Redis {
  jiPersist(...args: string[]): Promise<[number, string]>;
  jiControl(...args: string[]): Promise<[number, string]>;
}

/** The raw ioredis client behind a BullMQ Queue or Worker, with this module's scripts defined on it. */
export async function scriptedClient(owner: QueueBase): Promise<ScriptedRedis> {
  const client = (await (owner.getBackend() as unknown as { client: Promise<unknown> }).client) as ScriptedRedis;
  if (typeof client.jiPersist !== 'function') {
    // defineCommand sends EVALSHA and falls back to EVAL once, so the script text crosses the wire rarely.
    client.defineCommand('jiPersist', { numberOfKeys: 4, lua: PERSIST_LUA });
    client.defineCommand('jiControl', { numberOfKeys: 1, lua: CONTROL_LUA });
  }
  return client;
}

export interface PersistArgs {
  token: string;
  /** JSON of the state. */
  state: string;
  /** JSON of the progress to publish, or '' to leave progress alone. */
  progress: string;
  clearControl: boolean;
}

/** Fenced checkpoint write; see PERSIST_LUA. `ok: false` means the lock is gone and nothing was written. */
export async function persistFenced(
  owner: QueueBase,
  jobId: string,
  args: PersistArgs,
): Promise<{ ok: boolean; control: ControlRequest | undefined }> {
  const client = await scriptedClient(owner);
  const jobKey = owner.toKey(jobId);
  const [ok, control] = await client.jiPersist(
    jobKey,
    `${jobKey}:lock`,
    owner.keys.events!,
    owner.keys.meta!,
    args.token,
    args.state,
    args.progress,
    jobId,
    args.clearControl ? '1' : '0',
  );
  return { ok: ok === 1, control: asControl(control) };
}

/** Sets or clears (request undefined) a job's control request. Returns whether the job exists and the previous request. */
export async function writeControl(
  owner: QueueBase,
  jobId: string,
  request: ControlRequest | undefined,
): Promise<{ exists: boolean; previous: ControlRequest | undefined }> {
  const client = await scriptedClient(owner);
  const [exists, previous] = await client.jiControl(owner.toKey(jobId), request ?? '');
  return { exists: exists === 1, previous: asControl(previous) };
}

export async function readControl(owner: QueueBase, jobIds: readonly string[]): Promise<(ControlRequest | undefined)[]> {
  if (jobIds.length === 0) return [];
  const client = await scriptedClient(owner);
  const pipeline = client.pipeline();
  for (const id of jobIds) pipeline.hget(owner.toKey(id), CONTROL_FIELD);
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, value]) => (error ? undefined : asControl(value)));
}

/** The fields this library keeps beside a job's BullMQ fields. */
export interface StoredFields {
  control: ControlRequest | undefined;
  /** The raw JSON of the saved state, when the job has checkpointed. */
  state: string | undefined;
}

/** Reads the control request and the saved state of each job in one round trip. */
export async function readStoredFields(owner: QueueBase, jobIds: readonly string[]): Promise<StoredFields[]> {
  if (jobIds.length === 0) return [];
  const client = await scriptedClient(owner);
  const pipeline = client.pipeline();
  for (const id of jobIds) pipeline.hmget(owner.toKey(id), CONTROL_FIELD, STATE_FIELD);
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, value]) => {
    const [control, state] = error ? [] : (value as (string | null)[]);
    return { control: asControl(control), state: state ?? undefined };
  });
}

/** Whether the lock of a job is still held with `token`. */
export async function holdsLock(owner: QueueBase, jobId: string, token: string): Promise<boolean> {
  const client = await scriptedClient(owner);
  return (await client.get(`${owner.toKey(jobId)}:lock`)) === token;
}

export function asControl(value: unknown): ControlRequest | undefined {
  return value === 'cancel' || value === 'pause' ? value : undefined;
}

/**
 * The shape of an iterable job's BullMQ data: `{ params }`, as `enqueue` writes it. Other keys a producer adds are
 * kept as they are. A `state` key is read only from jobs that have never checkpointed (the state lives in its own
 * hash field, `STATE_FIELD`); it lets a saved state be handed to a new job to resume it.
 */
export interface IterationJobData<Params = unknown, Cursor = unknown> {
  params: Params;
  state?: JobState<Cursor>;
}

/** Whether a job's data has the `{ params, ... }` shape that `enqueue` writes. */
export function hasIterationShape(data: unknown): data is { params: unknown; state?: unknown } {
  return data !== null && typeof data === 'object' && !Array.isArray(data) && Object.hasOwn(data, 'params');
}

/** A job as it is read back from the queue: its params and, when it has run before, its saved state. */
export interface StoredJob {
  params: unknown;
  state: JobState<unknown> | undefined;
}

/**
 * Reads what a worker needs to run a job, treating everything that comes from the queue as untrusted: data that
 * is not `{ params, ... }`, or a saved state that is not this job's, throws `InvalidJobDataError` naming the job and
 * what is wrong. Nothing is guessed: a guess could complete the job with its items never run, or restart it.
 *
 * @param rawState the job's `STATE_FIELD`, when it has one; it wins over a `state` inside `data`.
 * @param unreadable why `data` could not be parsed as JSON at all, when it could not.
 */
export function parseStoredJob(
  job: Pick<Job, 'data' | 'id'>,
  jobName: string,
  rawState: string | undefined,
  unreadable?: string,
): StoredJob {
  const id = String(job.id);
  if (unreadable !== undefined) throw new InvalidJobDataError(jobName, id, `its data is not valid JSON (${unreadable}).`);
  const data: unknown = job.data;
  if (!hasIterationShape(data)) {
    throw new InvalidJobDataError(
      jobName,
      id,
      `its data must be an object with a "params" key (as enqueue() writes it); got ${describeData(data)}.`,
    );
  }
  // A `state` in the data is checked whenever it is there, even when the saved state field wins over it: `null` or
  // a malformed state there says something wrote the job by hand, and running on would hide it.
  const seed = Object.hasOwn(data, 'state') ? savedState(id, jobName, 'data.state', data.state) : undefined;
  const state = rawState === undefined ? seed : savedState(id, jobName, 'its saved state', rawState);
  return { params: data.params, state };
}

function savedState(jobId: string, jobName: string, source: string, state: unknown): JobState<unknown> {
  if (state === null || (typeof state !== 'string' && typeof state !== 'object')) {
    throw new InvalidJobDataError(jobName, jobId, `${source} is ${describeValue(state)}, not a saved state.`);
  }
  try {
    return parseState<unknown>(state, jobName);
  } catch (cause) {
    throw new InvalidJobDataError(jobName, jobId, `${source} is not a saved state of this job: ${(cause as Error).message}`, { cause });
  }
}

function describeData(data: unknown): string {
  if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
    const keys = Object.keys(data);
    return keys.length ? `an object with keys ${keys.slice(0, 5).map((k) => JSON.stringify(k)).join(', ')}${keys.length > 5 ? ', ...' : ''}` : 'an empty object';
  }
  return describeValue(data);
}

/** Throws `InvalidParamsError` unless `params` survives JSON unchanged (what BullMQ will store). */
export function assertJsonParams(jobName: string, params: unknown): void {
  let json: string | undefined;
  try {
    json = JSON.stringify(params);
  } catch (error) {
    throw new InvalidParamsError(jobName, (error as Error).message);
  }
  if (json === undefined) throw new InvalidParamsError(jobName, `got ${describeValue(params)}.`);
  if (!isDeepStrictEqual(JSON.parse(json), params)) {
    throw new InvalidParamsError(
      jobName,
      'they change when stored as JSON (a Date, Map, class instance, undefined field, NaN or Infinity somewhere).',
    );
  }
}
