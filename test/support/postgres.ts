import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import pg from 'pg';

/** The PostgreSQL the tests use; a missing server fails them, nothing is skipped. */
export const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Every wait on PostgreSQL is bounded: a hung server fails the test instead of holding up the run. */
export const PG_TIMEOUTS = { connectionTimeoutMillis: 10_000, statement_timeout: 30_000, query_timeout: 30_000 } as const;

export function newPool(config: pg.PoolConfig = {}): pg.Pool {
  return new pg.Pool({ connectionString: PG_URL, max: 4, ...PG_TIMEOUTS, ...config });
}

export async function newClient(config: pg.ClientConfig = {}): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: PG_URL, ...PG_TIMEOUTS, ...config });
  await client.connect();
  return client;
}

/** A table name no other test (or concurrent run) uses. */
export function uniqueName(prefix: string): string {
  return `ji_${prefix}_${randomBytes(4).toString('hex')}`;
}

/**
 * Creates a table with a unique name from `ddl(name)` (one or more statements) and drops it when the test ends,
 * passed or failed. Returns the name.
 */
export async function tableFor(ctx: TestContext, db: pg.Pool, prefix: string, ddl: (name: string) => string): Promise<string> {
  const name = uniqueName(prefix);
  ctx.after(() => db.query(`DROP TABLE IF EXISTS ${name}`));
  await db.query(ddl(name));
  return name;
}
