import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, Pool, PoolConfig } from 'pg';
import { assertSchemaCompatibility, DEFAULT_SCHEMA, LATEST_SCHEMA_VERSION, runMigrations } from 'bullmq';
import { postgresUrlConfig } from '../bullmq/backend.js';
import { JobModuleError, PostgresAuthError, PostgresUnreachableError, SchemaNotMigratedError } from './errors.js';
import type { ConnectionTarget } from './redis-url.js';

type Pg = typeof import('pg');

/**
 * `pg`, loaded only when a PostgreSQL URL is used: it is an optional peer dependency, and a Redis user need not
 * install it.
 */
export async function loadPg(): Promise<Pg> {
  try {
    const module = (await import('pg')) as Pg & { default?: Pg };
    return module.default ?? module;
  } catch (error) {
    throw new JobModuleError('pg', 'a postgres:// connection needs the pg package: npm install pg', { cause: error });
  }
}

/** The driver's settings for a URL (without `?schema=`, which the driver does not know) and BullMQ's schema. */
export function postgresSettings(url: string): { config: PoolConfig; schema: string } {
  const { schema, connectionString } = postgresUrlConfig(url);
  // Every wait is bounded: a server that accepts and never answers must not hang a command or a stop.
  return { config: { connectionString, connectionTimeoutMillis: 5000, query_timeout: 15_000 }, schema: schema ?? DEFAULT_SCHEMA };
}

/** A small pool of our own (heartbeats, status), its idle-client errors routed to `onError` instead of a crash. */
export async function createPostgresPool(url: string, onError: (error: Error) => void, max = 1): Promise<{ pool: Pool; schema: string }> {
  const pg = await loadPg();
  const { config, schema } = postgresSettings(url);
  const pool = new pg.Pool({ ...config, max });
  pool.on('error', onError);
  return { pool, schema };
}

/**
 * SQLSTATEs that retrying cannot fix: a refused password (28P01), a refused login (28000: no pg_hba entry, no such
 * role), no such database (3D000).
 */
const REFUSED = new Set(['28P01', '28000', '3D000']);

/**
 * Fails fast, naming the URL (password redacted), when PostgreSQL cannot be reached: `attempts` tries `delayMs`
 * apart, then `PostgresUnreachableError`; a refused login fails at once with `PostgresAuthError`. With
 * `schema: 'required'`, BullMQ's schema must be there and current, else `SchemaNotMigratedError`: looking at a
 * queue must not create tables.
 */
export async function assertPostgresReachable(target: ConnectionTarget, { schema = 'required', attempts = 3, delayMs = 300 }: { schema?: 'required' | 'any'; attempts?: number; delayMs?: number } = {}): Promise<void> {
  const pg = await loadPg();
  const settings = postgresSettings(target.url);
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const client: Client = new pg.Client({ ...settings.config, connectionTimeoutMillis: 2000 });
    // A connection that breaks after connect reports here; without a listener it would crash the process.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      lastError = error;
      await client.end().catch(() => undefined);
      const code = (error as { code?: string }).code;
      if (code && REFUSED.has(code)) throw new PostgresAuthError(target.url, target.source, (error as Error).message);
      if (attempt < attempts) await sleep(delayMs);
      continue;
    }
    try {
      if (schema === 'required') await assertMigrated(client, target, settings.schema);
      else await client.query('SELECT 1');
      return;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  throw new PostgresUnreachableError(target.url, target.source, attempts, lastError);
}

async function assertMigrated(client: Client, target: ConnectionTarget, schema: string): Promise<void> {
  let version: number;
  try {
    version = await assertSchemaCompatibility(client, schema);
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'SchemaMigrationRequiredError') throw new SchemaNotMigratedError(target.url, schema, 'no such schema, or no BullMQ tables in it');
    throw error;
  }
  if (version < LATEST_SCHEMA_VERSION) throw new SchemaNotMigratedError(target.url, schema, `at version ${version}, this BullMQ needs ${LATEST_SCHEMA_VERSION}`);
}

/**
 * Brings BullMQ's schema up to date (one transaction, under BullMQ's advisory lock, so concurrent callers run it
 * once), then runs each of `more` (our own tables) in it. Returns the schema and its version.
 */
export async function migratePostgres(target: ConnectionTarget, more: (schema: string) => string[]): Promise<{ schema: string; version: number }> {
  await assertPostgresReachable(target, { schema: 'any' });
  const pg = await loadPg();
  const { config, schema } = postgresSettings(target.url);
  const client: Client = new pg.Client({ ...config, query_timeout: 120_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const version = await runMigrations(client, schema);
    for (const ddl of more(schema)) await client.query(ddl);
    return { schema, version };
  } finally {
    await client.end().catch(() => undefined);
  }
}
