import { queryArrays, type PgQueryableLike } from './queryable.js';

/**
 * How many rows the enumeration covers from its first row, for progress: the planner's estimate for the filtered
 * query (one EXPLAIN, no scan; it follows `where` as well as the statistics allow) or an exact `count(*)`.
 */
export async function rowTotal(db: PgQueryableLike, filteredSql: string, params: readonly unknown[], how: 'estimate' | 'exact'): Promise<number> {
  if (how === 'exact') {
    const [[count] = []] = await queryArrays(db, `SELECT count(*)::text FROM (${filteredSql}) AS filtered`, [...params]);
    return Number(count);
  }
  const [[plan] = []] = await queryArrays(db, `EXPLAIN (FORMAT JSON) ${filteredSql}`, [...params]);
  // pg parses json columns, unless the caller replaced its parser.
  const parsed = (typeof plan === 'string' ? JSON.parse(plan) : plan) as Array<{ Plan?: { 'Plan Rows'?: unknown } }>;
  const rows = Number(parsed[0]?.Plan?.['Plan Rows']);
  if (!Number.isFinite(rows) || rows < 0) throw new Error(`EXPLAIN gave no row estimate for ${filteredSql}`);
  return rows;
}
