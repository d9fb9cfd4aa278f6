import { isDeepStrictEqual } from 'node:util';
import type { ConnectionOptions, Job } from 'bullmq';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { InvalidOptionError, InvalidParamsError, describeValue } from '../errors.js';
import { InvalidJobDataError } from './errors.js';
import { parseState, type JobState } from '../state.js';

/**
 * What `connection` accepts: an ioredis instance, an ioredis `Cluster` (with a hash-tagged `prefix`, see
 * {@link assertClusterPrefix}), ioredis options (optionally with a `url` whose host, port, credentials and db the
 * other options refine), or a `redis://` / `rediss://` URL.
 */
export type IterationConnection = Redis | Cluster | (RedisOptions & { url?: string }) | string;

/** Whether a client is an ioredis `Cluster` (told by its flag: a client of another copy of ioredis counts too). */
export function isCluster(client: unknown): client is Cluster {
  return client !== null && typeof client === 'object' && (client as { isCluster?: unknown }).isCluster === true;
}

/**
 * On Redis Cluster every key a script touches must hash to one slot. BullMQ's keys, and this package's, are
 * `<prefix>:<queue>:...`, so the prefix must carry a hash tag (`{ji}`): the whole queue then lives in one slot. An
 * untagged prefix would fail later, at the first script, with a CROSSSLOT error that names no option.
 */
export function assertClusterPrefix(client: unknown, prefix: string | undefined): void {
  if (!isCluster(client)) return;
  const tagged = /\{[^{}]+\}/.test(prefix ?? '');
  if (!tagged) {
    throw new InvalidOptionError('prefix', prefix, 'a hash-tagged prefix such as "{ji}" on Redis Cluster, so that every key of a queue hashes to one slot');
  }
}

/** The URL used when no connection is given and `REDIS_URL` is unset. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** `REDIS_URL` when set and not empty, else the default. */
export function redisUrlFromEnv(): string {
  return process.env.REDIS_URL || DEFAULT_REDIS_URL;
}

/** Turns the `connection` option into what BullMQ accepts. */
export function resolveConnection(connection: IterationConnection | undefined): ConnectionOptions {
  if (connection === undefined) return optionsFromUrl(redisUrlFromEnv(), 'REDIS_URL') as ConnectionOptions;
  if (typeof connection === 'string') return optionsFromUrl(connection, 'connection') as ConnectionOptions;
  if (isCluster(connection)) {
    // BullMQ duplicates the cluster client for its blocking connection; each node client must not retry requests.
    if (connection.options.redisOptions?.maxRetriesPerRequest !== null) {
      throw new InvalidOptionError(
        'connection',
        connection,
        'an ioredis Cluster created with { redisOptions: { maxRetriesPerRequest: null } } (BullMQ workers block on Redis and require it)',
      );
    }
    return connection as unknown as ConnectionOptions;
  }
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
    throw new InvalidOptionError('connection', connection, 'an ioredis instance or Cluster, ioredis options or a redis:// URL');
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
    // URL keeps an IPv6 address in brackets; ioredis wants it bare.
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    maxRetriesPerRequest: null,
  };
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  const db = parsed.pathname.replace(/^\//, '');
  if (db) {
    if (!/^\d+$/.test(db)) throw new InvalidOptionError(option, url, 'a redis:// URL whose path, when given, is a database number');
    options.db = Number(db);
  }
  if (parsed.protocol === 'rediss:') options.tls = {};
  return options;
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
