import { isDeepStrictEqual } from 'node:util';
import type { ConnectionOptions, Job, QueueBase } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import { InvalidOptionError, InvalidParamsError, InvalidStateError, describeValue } from '../errors.js';
import type { JobState } from '../state.js';

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
 * taken over) can never overwrite the cursor of the worker that owns it now. In the same round trip it resets
 * BullMQ's stalled counter when the run made progress (a job that keeps moving survives any number of crashes;
 * one that crashes without progress still reaches maxStalledCount), and returns any pending control request so
 * cancel/pause reach the run without an extra query.
 */
const PERSIST_LUA = `
local jobKey = KEYS[1]
if redis.call("GET", KEYS[2]) ~= ARGV[1] or redis.call("EXISTS", jobKey) == 0 then
  return {0, ""}
end
redis.call("HSET", jobKey, "data", ARGV[2])
if ARGV[3] ~= "" then
  redis.call("HSET", jobKey, "progress", ARGV[3])
  local maxEvents = redis.call("HGET", KEYS[4], "opts.maxLenEvents") or 10000
  redis.call("XADD", KEYS[3], "MAXLEN", "~", maxEvents, "*", "event", "progress", "jobId", ARGV[4], "data", ARGV[3])
end
if ARGV[5] == "1" then
  redis.call("HSET", jobKey, "${STALLED_COUNTER_FIELD}", 0)
end
if ARGV[6] == "1" then
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
  data: string;
  /** JSON of the progress to publish, or '' to leave progress alone. */
  progress: string;
  resetStalled: boolean;
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
    args.data,
    args.progress,
    jobId,
    args.resetStalled ? '1' : '0',
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

export function asControl(value: unknown): ControlRequest | undefined {
  return value === 'cancel' || value === 'pause' ? value : undefined;
}

/** The shape of an iterable job's BullMQ data: its params and, once it has run, its saved state. */
export interface IterationJobData<Params = unknown, Cursor = unknown> {
  params: Params;
  state?: JobState<Cursor>;
}

/**
 * Reads `job.data`. A job added by hand with plain params (`queue.add(name, { upTo: 10 })`) works too: anything
 * that is not exactly `{ params, state? }` is taken as the params.
 */
/** Whether a job's data is `{ params, state? }`, the shape `enqueue` and the worker write. */
export function hasIterationShape(data: unknown): data is { params: unknown; state?: unknown } {
  return (
    data !== null &&
    typeof data === 'object' &&
    !Array.isArray(data) &&
    'params' in data &&
    Object.keys(data).every((k) => k === 'params' || k === 'state')
  );
}

export function readJobData(job: Pick<Job, 'data' | 'name' | 'id'>): IterationJobData {
  const data: unknown = job.data;
  if (!hasIterationShape(data)) return { params: data };
  const { params, state } = data;
  if (state !== undefined && state !== null && (typeof state !== 'object' || Array.isArray(state))) {
    throw new InvalidStateError(`Job ${job.id} ("${job.name}") has a data.state that is ${describeValue(state)}, not a saved state.`);
  }
  return { params, state: (state ?? undefined) as JobState<unknown> | undefined };
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
