import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { UsageError } from './usage.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export function redisUrl(flag: string | undefined): string {
  return flag ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
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
