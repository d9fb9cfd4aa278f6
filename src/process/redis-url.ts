import { redisUrlFromEnv } from '../bullmq/redis.js';
import { InvalidRedisUrlError } from './errors.js';

/** A Redis URL and where it came from, for messages that must say where to fix it. */
export interface RedisTarget {
  url: string;
  source: '--redis' | 'REDIS_URL' | 'the default URL';
}

/**
 * The explicit URL (the `--redis` flag), else `REDIS_URL`, else the default; checked here, because ioredis throws a
 * TypeError that quotes the whole URL, password included, on one it cannot parse.
 */
export function redisTarget(explicit: string | undefined): RedisTarget {
  const source = explicit !== undefined ? '--redis' : process.env.REDIS_URL ? 'REDIS_URL' : 'the default URL';
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
