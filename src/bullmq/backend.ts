import { InvalidOptionError } from '../errors.js';
import { createPostgresBackend, isPgPool, type BackendFactory, type PgPool, type PostgresPoolConfig } from 'bullmq';
import type { JobStore } from '../store/job-store.js';
import { PostgresJobStore, type PostgresQueueLike } from '../store/postgres-store.js';
import { RedisJobStore, type RedisQueueLike } from '../store/redis-store.js';

/**
 * What `connection` accepts for BullMQ's PostgreSQL backend: a `postgres://` / `postgresql://` URL (`?schema=`
 * names BullMQ's schema, `bullmq` by default; this package reads it, BullMQ's own Queue does not), a `pg.Pool` (you
 * close it; BullMQ uses it with schema `bullmq`, so its `search_path` must lead there), or pool options with a
 * `connectionString` (or, with `backend: createPostgresBackend`, without one) and optionally BullMQ's `schema`. URLs
 * and options migrate the schema on connect unless they say otherwise (`migrate: false` or `skipMigrations: true`).
 */
export type IterationPostgresConnection = string | PgPool | PostgresPoolConfig;

/** A BullMQ Queue or Worker, whatever its backend. */
export interface BackendOwner extends RedisQueueLike {
  getBackend(): unknown;
}

/**
 * Whether a BullMQ backend is the PostgreSQL one. Told by shape, not `instanceof`: a Queue built with another copy
 * of bullmq than ours has a backend of another class.
 */
export function isPostgresBackend(backend: unknown): backend is PostgresQueueLike {
  const candidate = backend as Partial<PostgresQueueLike> | null;
  return (
    candidate !== null &&
    typeof candidate === 'object' &&
    typeof candidate.schema === 'string' &&
    typeof candidate.queueName === 'string' &&
    typeof candidate.query === 'function'
  );
}

/** The store for a queue's or worker's jobs, in whichever datastore its backend uses. */
export function storeFor(owner: BackendOwner): JobStore {
  const backend = owner.getBackend();
  return isPostgresBackend(backend) ? new PostgresJobStore(backend) : new RedisJobStore(owner);
}

/**
 * The PostgreSQL connection a `connection` option names, or `undefined` when it names Redis. A string is PostgreSQL
 * only with a postgres scheme, so every Redis form keeps its meaning.
 */
export function postgresConnectionOf(
  connection: unknown,
  backend?: BackendFactory<any, any>,
): { connection: string | PgPool | PostgresPoolConfig; factory: BackendFactory<any, any> } | undefined {
  if (backend !== undefined && backend !== createPostgresBackend) {
    throw new InvalidOptionError('backend', backend, "BullMQ's createPostgresBackend (leave it out for Redis)");
  }
  if (typeof connection === 'string') {
    if (!/^postgres(ql)?:\/\//i.test(connection)) {
      if (backend) throw new InvalidOptionError('connection', connection, 'a postgres:// or postgresql:// URL, pool options or a pg.Pool with backend: createPostgresBackend');
      return undefined;
    }
    return { connection: { ...postgresUrlConfig(connection), migrate: true }, factory: createPostgresBackend };
  }
  if (connection === null || typeof connection !== 'object') {
    if (backend) throw new InvalidOptionError('connection', connection, 'a postgres:// URL, pool options or a pg.Pool with backend: createPostgresBackend');
    return undefined;
  }
  if (isPgPool(connection)) return { connection, factory: createPostgresBackend };
  const config = connection as PostgresPoolConfig;
  // Pool options name PostgreSQL by a `connectionString`, or by `backend` (`{ host, user, database }` could
  // otherwise be read as Redis options).
  if (typeof config.connectionString !== 'string' && backend === undefined) return undefined;
  const explicit = config.migrate !== undefined || config.skipMigrations !== undefined;
  return { connection: explicit ? config : { ...config, migrate: true }, factory: createPostgresBackend };
}

/**
 * A URL's `?schema=` names BullMQ's schema, which a URL cannot otherwise carry (BullMQ reads it only from options);
 * it is taken out so the driver never sees it.
 */
export function postgresUrlConfig(url: string): PostgresPoolConfig & { connectionString: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Said here, with the password hidden: the parser's own error carries the whole input.
    throw new InvalidOptionError('connection', url, 'a postgres:// or postgresql:// URL');
  }
  const schema = parsed.searchParams.get('schema');
  if (schema === null) return { connectionString: url };
  parsed.searchParams.delete('schema');
  return { connectionString: parsed.toString(), schema };
}
