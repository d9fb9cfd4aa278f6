import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { redisUrlFromEnv } from '../bullmq/redis.js';
import { RedisAuthError } from '../errors.js';
import { redactUrl, redactUrls } from '../redact.js';
import { UsageError } from './usage.js';

/** A command's Redis URL and where it came from, for messages that must say where to fix it. */
export interface RedisTarget {
  url: string;
  source: '--redis' | 'REDIS_URL' | 'the default URL';
}

/**
 * `--redis`, else `REDIS_URL`, else the default; checked here, because ioredis throws a TypeError that quotes the
 * whole URL, password included, on one it cannot parse.
 */
export function redisTarget(flag: string | undefined): RedisTarget {
  const source = flag !== undefined ? '--redis' : process.env.REDIS_URL ? 'REDIS_URL' : 'the default URL';
  const url = flag ?? redisUrlFromEnv();
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // Reported below, without the parser's message: it quotes the input.
  }
  if (!parsed || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') || !parsed.hostname) {
    throw new UsageError(`${source} is not a redis:// or rediss:// URL: ${redactUrl(url)} (expected redis://[[user]:password@]host[:port][/db])`);
  }
  return { url, source };
}

/** A client for commands that may wait on blocking calls (BullMQ needs `maxRetriesPerRequest: null`). */
export function createRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

/** Redis's replies to bad credentials (`ERR invalid password` is Redis 5's). */
const AUTH_REPLY = /^(WRONGPASS|NOAUTH|ERR invalid password)\b/;

/**
 * Fails fast, naming the URL (password redacted), when Redis cannot be reached: a CLI that retries forever in
 * silence looks hung. Tries `attempts` times, `delayMs` apart. Refused credentials fail at once with
 * `RedisAuthError`: retrying cannot fix a password.
 */
export async function assertRedisReachable({ url, source }: RedisTarget, attempts = 3, delayMs = 300): Promise<void> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 2000, enableOfflineQueue: false });
    // A refused AUTH arrives here, while connect() only reports the connection it then closed.
    let refused: string | undefined;
    probe.on('error', (error: Error) => {
      if (AUTH_REPLY.test(error.message)) refused ??= error.message;
    });
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return;
    } catch (error) {
      lastError = error;
      probe.disconnect();
      const reply = (error as Error)?.message ?? '';
      if (AUTH_REPLY.test(reply)) refused ??= reply;
      if (refused !== undefined) throw new RedisAuthError(url, source, refused);
    }
    if (attempt < attempts) await sleep(delayMs);
  }
  const why = redactUrls(String((lastError as Error)?.message ?? lastError));
  throw new UsageError(`cannot reach Redis at ${redactUrl(url)} (from ${source}) after ${attempts} attempts: ${why}`);
}

/**
 * Quits a client, but never waits long: with Redis unreachable `quit()` would queue forever, and a process on its
 * way out must not hang on a goodbye. Gives up after `ms` and drops the connection.
 */
export async function closeRedis(redis: Redis | undefined, ms = 1000): Promise<void> {
  if (!redis) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const outcome = await Promise.race([redis.quit().catch(() => 'failed' as const), timeout]);
  clearTimeout(timer);
  if (outcome !== 'OK') redis.disconnect();
}
