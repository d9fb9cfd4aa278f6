import { InvalidOptionError } from '../errors.js';
import { cursorOf } from './key-cursor.js';
import { keyText } from './keyset-sql.js';
import { resolveOptions, type PostgresCursor, type PostgresKeyRange } from './options.js';
import { queryArrays, type PgQueryableLike } from './queryable.js';
import { rowTotal } from './row-total.js';
import { readTableShape, type TableShape } from './table-shape.js';

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
   * Where the boundaries come from: `false` counts the rows and reads the key at each boundary's place in key order
   * (exact: each range holds the same number of rows, give or take one; an index-only scan up to each boundary, so
   * about a second for 4 ranges of 10 million rows); a percent (0 < p <= 100) reads that share of the rows
   * (`TABLESAMPLE BERNOULLI`, tables only, not views) and cuts at its quantiles: close to equal, from one pass.
   * @defaultValue exact up to 10,000,000 rows by the planner's estimate; above that, a sample of about 200,000 rows
   */
  sample?: number | false;
}

/** The largest number of ranges: each becomes a job, and a flow of more than this is better cut another way. */
const MAX_PARTITIONS = 1000;
const EXACT_UP_TO_ROWS = 10_000_000;
const SAMPLE_ROWS = 200_000;
/**
 * Up to this many boundaries, each is read at its offset: together about (K - 1) / 2 passes over the index, each
 * cheap; beyond, numbering every row once (measured about six times the cost per row) is cheaper.
 */
const OFFSET_READS_UP_TO = 12;

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
  const texts = percent === undefined ? await exactBounds(db, shape, filter, resolved.params, partitions) : await sampledBounds(db, shape, filter, resolved.params, partitions, percent);
  const bounds: PostgresCursor[] = texts.map((text) => cursorOf(shape.key, text));
  const ranges: PostgresKeyRange[] = [];
  let from: PostgresCursor | undefined;
  for (const to of bounds) {
    ranges.push(from === undefined ? { to } : { from, to });
    from = to;
  }
  ranges.push(from === undefined ? {} : { from });
  return ranges;
}

/** The row number (1-based, of n) of boundary i = 1..K-1: ceil(n * i / K), each once, the last row never. */
function boundaryRows(n: number, partitions: number): number[] {
  const rows = new Set<number>();
  for (let i = 1; i < partitions; i++) {
    const rn = Math.ceil((n * i) / partitions);
    if (rn >= 1 && rn < n) rows.add(rn);
  }
  return [...rows];
}

/**
 * The exact boundaries: a count, then each boundary's key read at its offset in key order. Each of those is an
 * index(-only) scan that stops at its row, so for a few partitions they cost less than numbering every row; for many,
 * every row is numbered once instead.
 */
async function exactBounds(db: PgQueryableLike, shape: TableShape, filter: string, params: readonly unknown[], partitions: number): Promise<string[]> {
  const [[count] = []] = await queryArrays(db, `SELECT count(*)::text FROM ${shape.sql}${filter}`, [...params]);
  const rows = boundaryRows(Number(count), partitions);
  if (rows.length === 0) return [];
  const order = shape.key.map((c) => `${shape.sql}.${c.sql}`).join(', ');
  const columns = shape.key.map((c) => c.sql).join(', ');
  const at = params.length + 1;
  if (rows.length <= OFFSET_READS_UP_TO) {
    // Every boundary in one statement, so in one snapshot: read one by one, rows written in between could put a
    // later boundary at or below an earlier one, and the ranges would overlap. The key's text is made for the one
    // row found, outside: inside, it would be made for every row skipped.
    const sql =
      `SELECT boundary_text FROM unnest($${at}::bigint[]) WITH ORDINALITY AS wanted(rn, i)\n` +
      `CROSS JOIN LATERAL (\n  SELECT ${keyText(shape)} AS boundary_text FROM (\n    SELECT ${columns} FROM ${shape.sql}${filter}\n` +
      `    ORDER BY ${order}\n    OFFSET wanted.rn - 1 LIMIT 1\n  ) AS boundary\n) AS found\nORDER BY wanted.i`;
    // Rows deleted since the count: a boundary past the end is no boundary (the lateral read finds no row).
    return (await queryArrays(db, sql, [...params, rows])).map(([text]) => text).filter((text): text is string => typeof text === 'string');
  }
  const sql =
    `SELECT ${keyText(shape)} FROM (\n  SELECT ${columns}, row_number() OVER (ORDER BY ${order}) AS rn\n  FROM ${shape.sql}${filter}\n) AS keyed` +
    `\n WHERE rn = ANY ($${at}::bigint[])\n ORDER BY rn`;
  return (await queryArrays(db, sql, [...params, rows])).map(([text]) => text as string);
}

/** Boundaries at the quantiles of a sample of the rows (`TABLESAMPLE BERNOULLI`). */
async function sampledBounds(db: PgQueryableLike, shape: TableShape, filter: string, params: readonly unknown[], partitions: number, percent: number): Promise<string[]> {
  const k = params.length + 1;
  const order = shape.key.map((c) => `${shape.sql}.${c.sql}`).join(', ');
  // Row rn (1-based, of the n sampled) is boundary i when rn = ceil(n * i / K) for some i in 1..K-1: exactly when
  // integer division moves on between rn - 1 and rn.
  const sql =
    `SELECT k FROM (\n  SELECT ${keyText(shape)} AS k, row_number() OVER (ORDER BY ${order}) AS rn, count(*) OVER () AS n` +
    `\n  FROM ${shape.sql} TABLESAMPLE BERNOULLI ($${k + 1}::real)${filter}\n) AS keyed` +
    `\n WHERE rn < n AND (rn * $${k}::bigint) / n > ((rn - 1) * $${k}::bigint) / n\n ORDER BY rn`;
  return (await queryArrays(db, sql, [...params, partitions, percent])).map(([text]) => text as string);
}
