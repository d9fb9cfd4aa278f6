import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { InvalidRedisUrlError, RedisAuthError, RedisUnreachableError } from './errors.js';
import type { ConnectionTarget, RedisTarget } from './redis-url.js';

/** Redis's replies to bad credentials (`ERR invalid password` is Redis 5's). */
const AUTH_REPLY = /^(WRONGPASS|NOAUTH|ERR invalid password)\b/;
/** Redis's reply to a SELECT of a database number past its `databases` setting. */
const DB_REPLY = /^ERR (DB index is out of range|invalid DB index)/;

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
    let noDatabase: string | undefined;
    probe.on('error', (error: Error) => {
      if (AUTH_REPLY.test(error.message)) refused ??= error.message;
      if (DB_REPLY.test(error.message)) noDatabase ??= error.message;
    });
    try {
      await probe.connect();
      await probe.ping();
      // ioredis selects the URL's database as it connects, and reports a refusal only as an error event, which can
      // come after the ping: ask again, and wait for the answer.
      const db = Number(new URL(url).pathname.slice(1) || 0);
      if (db > 0) await probe.select(db);
      probe.disconnect();
      return;
    } catch (error) {
      lastError = error;
      probe.disconnect();
      const reply = (error as Error)?.message ?? '';
      if (AUTH_REPLY.test(reply)) refused ??= reply;
      if (DB_REPLY.test(reply)) noDatabase ??= reply;
      if (refused !== undefined) throw new RedisAuthError(url, source, refused);
      // As with a password, retrying cannot fix a database number.
      if (noDatabase !== undefined) throw new InvalidRedisUrlError(url, source, `Redis says: ${noDatabase.replace(/^ERR /, '')}`);
    }
    if (attempt < attempts) await sleep(delayMs);
  }
  throw new RedisUnreachableError(url, source, attempts, lastError);
}

/**
 * Redis answers, or PostgreSQL does with BullMQ's schema in place (looking at a queue must not create its tables:
 * `job-iteration migrate` does). Either fails fast with a named error, password redacted.
 */
export async function assertReachable(target: ConnectionTarget): Promise<void> {
  if (target.kind === 'redis') return assertRedisReachable(target);
  const { assertPostgresReachable } = await import('./postgres-client.js');
  return assertPostgresReachable(target);
}
