import { redisUrlFromEnv } from '../bullmq/redis.js';
import { InvalidConnectionUrlError, InvalidRedisUrlError } from './errors.js';

/** A Redis URL and where it came from, for messages that must say where to fix it. */
export interface RedisTarget {
  url: string;
  source: '--connection' | '--redis' | 'REDIS_URL' | 'the default URL';
}

/** Where a command's queue lives: Redis or BullMQ's PostgreSQL backend, and where the URL came from. */
export interface ConnectionTarget {
  kind: 'redis' | 'postgres';
  url: string;
  source: RedisTarget['source'];
}

/** BullMQ's rule for a schema name (`quoteSchemaName`), checked here so a bad one is bad input before any connect. */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/**
 * The explicit URL (the `--redis` flag), else `REDIS_URL`, else the default; checked here, because ioredis throws a
 * TypeError that quotes the whole URL, password included, on one it cannot parse.
 */
export function redisTarget(explicit: string | undefined, flag: '--connection' | '--redis' = '--redis'): RedisTarget {
  const source = explicit !== undefined ? flag : process.env.REDIS_URL ? 'REDIS_URL' : 'the default URL';
  const url = explicit ?? redisUrlFromEnv();
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // Reported below, without the parser's message: it quotes the input.
  }
  // The path is the database number; ioredis would pass anything else to SELECT and fail after connecting.
  if (!parsed || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') || !parsed.hostname || !/^\/?(\d+)?$/.test(parsed.pathname)) {
    throw new InvalidRedisUrlError(url, source);
  }
  return { url, source };
}

/**
 * `--connection` (or its alias `--redis`; both at once must agree), else `REDIS_URL`, else the default Redis URL.
 * Only a flag may name PostgreSQL: `REDIS_URL` keeps meaning Redis, as it does for the library.
 */
export function connectionTarget(values: { connection?: string; redis?: string }): ConnectionTarget {
  // Spaces around a pasted URL are dropped here, once, so every process that gets it sees the same URL.
  const connection = values.connection?.trim();
  const redis = values.redis?.trim();
  if (connection !== undefined && redis !== undefined && connection !== redis) {
    throw new InvalidConnectionUrlError(connection, '--connection', 'it differs from --redis; give one of them');
  }
  const flag = connection !== undefined ? '--connection' : '--redis';
  const explicit = connection ?? redis;
  if (explicit === undefined || !/^postgres(ql)?:/i.test(explicit.trim())) {
    if (explicit !== undefined && !/^rediss?:/i.test(explicit.trim())) throw new InvalidConnectionUrlError(explicit, flag);
    return { kind: 'redis', ...redisTarget(explicit, flag) };
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(explicit);
  } catch {
    // Reported below, without the parser's message: it quotes the input.
  }
  if (!parsed || (!parsed.hostname && !parsed.searchParams.get('host'))) throw new InvalidConnectionUrlError(explicit, flag);
  const schema = parsed.searchParams.get('schema');
  if (schema !== null && !SCHEMA_NAME.test(schema)) {
    throw new InvalidConnectionUrlError(explicit, flag, `?schema= must be a plain identifier (letters, digits, _ and $, at most 63); got "${schema}"`);
  }
  return { kind: 'postgres', url: explicit, source: flag };
}
