import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisAuthError, RedisUnreachableError } from './errors.js';
import type { RedisTarget } from './redis-url.js';

/** Redis's replies to bad credentials (`ERR invalid password` is Redis 5's). */
const AUTH_REPLY = /^(WRONGPASS|NOAUTH|ERR invalid password)\b/;

/**
 * Fails fast, naming the URL (password redacted), when Redis cannot be reached: a process that retries forever in
 * silence looks hung. Tries `attempts` times, `delayMs` apart, then throws `RedisUnreachableError`. Refused
 * credentials fail at once with `RedisAuthError`: retrying cannot fix a password.
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
  throw new RedisUnreachableError(url, source, attempts, lastError);
}
