import { InvalidOptionError } from '../errors.js';
import { cursorOf } from './key-cursor.js';
import { keyText } from './keyset-sql.js';
import { resolveOptions, type PostgresCursor, type PostgresKeyRange } from './options.js';
import { queryArrays, type PgQueryableLike } from './queryable.js';
import { rowTotal } from './row-total.js';
import { readTableShape } from './table-shape.js';

/** Options of `keyRanges`. */
export interface KeyRangesOptions {
  /** The table, as `postgresRecords` takes it. */
  table: string;
  /**
   * The key the partitions walk, as `postgresRecords` takes it (and checks it: unique, NOT NULL).
   * @defaultValue `'id'`
   */
  key?: string | readonly string[];
  /** How many ranges to cut. */
  partitions: number;
  /** Only rows meeting this condition are counted when cutting (the same `where` the partitions will read with). */
  where?: string;
  /** Values for the placeholders of `where`. */
  params?: readonly unknown[];
  /**
   * Where the boundaries come from: `false` reads every key in order (exact: each range holds the same number of
   * rows, give or take one); a percent (0 < p <= 100) reads that share of the rows (`TABLESAMPLE BERNOULLI`, a
   * tables only, not views) and cuts at its quantiles, close to equal on a large table at a fraction of the cost.
   * @defaultValue exact up to 2,000,000 rows by the planner's estimate; above that, a sample of about 200,000 rows
   */
  sample?: number | false;
}

/** The largest number of ranges: each becomes a job, and a flow of more than this is better cut another way. */
const MAX_PARTITIONS = 1000;
const EXACT_UP_TO_ROWS = 2_000_000;
const SAMPLE_ROWS = 200_000;

/**
 * Cuts a table into `partitions` key ranges holding about as many rows each, by the key's own distribution: the
 * boundaries are the keys at the 1/K, 2/K, ... quantiles of the rows in key order, so skewed keys (most rows under a
 * few values of the first column) and keys that are not integers (text, timestamps, composite keys) cut as evenly as
 * a dense integer id. The first range is open below, the last open above, and each boundary is a whole key, so the
 * ranges cover every row, a row inserted later included, exactly once. A table with fewer rows than partitions gets
 * fewer ranges (one per row, one when it is empty).
 *
 * Hand each range to `postgresRecords` / `postgresBatches` as `range`: each partition then reads only its own slice,
 * through the key's index.
 */
export async function keyRanges(db: PgQueryableLike, options: KeyRangesOptions): Promise<PostgresKeyRange[]> {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object with table and partitions');
  const { partitions, sample } = options;
  if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
    throw new InvalidOptionError('partitions', partitions, `an integer from 1 to ${MAX_PARTITIONS}`);
  }
  if (sample !== undefined && sample !== false && !(typeof sample === 'number' && sample > 0 && sample <= 100)) {
    throw new InvalidOptionError('sample', sample, 'false, or a percent of rows to sample (0 < p <= 100)');
  }
  const resolved = resolveOptions(
    db,
    { table: options.table, key: options.key, where: options.where, params: options.params, cursor: undefined, count: false },
    false,
  );
  if (partitions === 1) return [{}];
  const shape = await readTableShape(db, resolved, 'keyRanges');
  const filter = resolved.where === undefined ? '' : `\n WHERE (\n${resolved.where}\n)`;
  let percent = sample === undefined ? undefined : sample === false ? undefined : sample;
  if (sample === undefined) {
    const estimate = await rowTotal(db, `SELECT 1 FROM ${shape.sql}${filter}`, resolved.params, 'estimate');
    if (estimate > EXACT_UP_TO_ROWS) percent = Math.min(100, (100 * SAMPLE_ROWS) / estimate);
  }
  const k = resolved.params.length + 1;
  const tablesample = percent === undefined ? '' : ` TABLESAMPLE BERNOULLI ($${k + 1}::real)`;
  const order = shape.key.map((c) => `${shape.sql}.${c.sql}`).join(', ');
  // Row rn (1-based, of n) is boundary i when rn = ceil(n * i / K) for some i in 1..K-1: exactly when integer
  // division moves on between rn - 1 and rn. Tested per row, so the keys stream by in index order and only the
  // K - 1 boundaries come back.
  const sql =
    `SELECT k FROM (\n  SELECT ${keyText(shape)} AS k, row_number() OVER (ORDER BY ${order}) AS rn, count(*) OVER () AS n` +
    `\n  FROM ${shape.sql}${tablesample}${filter}\n) AS keyed` +
    `\n WHERE rn < n AND (rn * $${k}::bigint) / n > ((rn - 1) * $${k}::bigint) / n\n ORDER BY rn`;
  const values = [...resolved.params, partitions, ...(percent === undefined ? [] : [percent])];
  const rows = await queryArrays(db, sql, values);
  const bounds: PostgresCursor[] = rows.map(([text]) => cursorOf(shape.key, text as string));
  const ranges: PostgresKeyRange[] = [];
  let from: PostgresCursor | undefined;
  for (const to of bounds) {
    ranges.push(from === undefined ? { to } : { from, to });
    from = to;
  }
  ranges.push(from === undefined ? {} : { from });
  return ranges;
}
