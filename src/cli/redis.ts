import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { redisUrlFromEnv } from '../bullmq/redis.js';
import { UsageError } from './usage.js';


export function redisUrl(flag: string | undefined): string {
  return flag ?? redisUrlFromEnv();
}

/** A client for commands that may wait on blocking calls (BullMQ needs `maxRetriesPerRequest: null`). */
export function createRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

/**
 * Fails fast, naming the URL, when Redis cannot be reached: a CLI that retries forever in silence looks hung.
 * Tries `attempts` times, `delayMs` apart.
 */
export async function assertRedisReachable(url: string, attempts = 3, delayMs = 300): Promise<void> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 2000, enableOfflineQueue: false });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return;
    } catch (error) {
      lastError = error;
      probe.disconnect();
    }
    if (attempt < attempts) await sleep(delayMs);
  }
  throw new UsageError(`cannot reach Redis at ${url} after ${attempts} attempts: ${(lastError as Error)?.message ?? lastError}`);
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
