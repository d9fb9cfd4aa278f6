/**
 * What the enumerators need from a connection: pg's `query` in array row mode. A `pg.Pool`, a `pg.Client` and a
 * `pg.PoolClient` all fit; so does any wrapper with the same method. The enumerators never connect, end or release
 * it: the connection belongs to the caller, who closes it (in `onShutdown`, say) when the job no longer needs it.
 *
 * Structural on purpose: `pg` is an optional peer dependency, and these types must not require it.
 */
export interface PgQueryableLike {
  query(config: { text: string; values?: unknown[]; rowMode: 'array' }): Promise<{ rows: unknown[][] }>;
}

/** The part of `pg.Pool` that tells a pool (several connections) from a single client. */
interface PoolShape {
  totalCount: number;
  idleCount: number;
  options?: { max?: number };
}

/**
 * Whether `db` is a pool able to run a second query while the caller holds another connection. A single client runs
 * one query at a time, so a read-ahead on it would only queue behind the job's own statements.
 */
export function hasSpareConnection(db: unknown): boolean {
  if (db === null || typeof db !== 'object') return false;
  const pool = db as Partial<PoolShape>;
  if (typeof pool.totalCount !== 'number' || typeof pool.idleCount !== 'number') return false;
  // pg.Pool's own default size.
  const max = pool.options?.max ?? 10;
  return max > 1;
}

/** Runs a statement in array row mode: pg's type parsers then never name or merge columns. */
export async function queryArrays(db: PgQueryableLike, text: string, values: unknown[] = []): Promise<unknown[][]> {
  const result = await db.query({ text, values, rowMode: 'array' });
  return result.rows;
}
