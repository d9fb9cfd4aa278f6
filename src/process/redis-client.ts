import { Redis } from 'ioredis';

/** A client for processes that may wait on blocking calls (BullMQ needs `maxRetriesPerRequest: null`). */
export function createRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

/**
 * Quits a client, but never waits long: with Redis unreachable `quit()` would queue forever, and a process on its
 * way out must not hang on a goodbye. Drops the connection at once when it is down, else after `ms` at most.
 */
export async function closeRedis(redis: Redis | undefined, ms = 1000): Promise<void> {
  if (!redis) return;
  // Not connected now (an outage, a reconnect under way): a goodbye would only wait in the offline queue for `ms`.
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const outcome = await Promise.race([redis.quit().catch(() => 'failed' as const), timeout]);
  clearTimeout(timer);
  if (outcome !== 'OK') redis.disconnect();
}
