import { Redis } from 'ioredis';

/** A client for processes that may wait on blocking calls (BullMQ needs `maxRetriesPerRequest: null`). */
export function createRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
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
