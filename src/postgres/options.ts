import { InvalidOptionError } from '../errors.js';
import { placeholdersIn } from './placeholders.js';
import type { PgQueryableLike } from './queryable.js';

/**
 * One key value in a cursor: a number for integer columns whose value is a safe JavaScript integer (`int2`, `int4`,
 * `int8` up to 2^53 - 1), otherwise the column's text form as PostgreSQL prints it (`int8` beyond 2^53 as a decimal
 * string, timestamps in ISO 8601 with microseconds and UTC offset, text as it is).
 */
export type PostgresKeyValue = number | string;

/** The cursor of a PostgreSQL enumerator: the key values of the last finished row, in key order (`[42]`, `[3, 1042]`). */
export type PostgresCursor = PostgresKeyValue[];

/**
 * A slice of a table by its key, as `keyRanges` returns them: the rows whose key is after `from` (exclusive) and up
 * to `to` (inclusive); a missing bound leaves that side open. Both are whole keys, in the cursor's form, so the
 * range is walked with the same index condition as the cursor and adjacent ranges neither overlap nor leave a gap.
 */
export interface PostgresKeyRange {
  from?: PostgresCursor;
  to?: PostgresCursor;
}

/** Options of `postgresRecords` and `postgresBatches`. */
export interface PostgresEnumeratorOptions {
  /**
   * The table (or view) to read, written as in SQL: `orders`, `sales.orders`, `"Orders"`. Resolved once per run on
   * the connection's `search_path`; an unknown name is `UnknownTableError` (`ERR_UNKNOWN_TABLE`).
   */
  table: string;
  /**
   * The column, or columns in order, that the rows are walked by. Their values must be unique together (a primary
   * key or a unique index covering them) and NOT NULL, with an index on them in the same order for speed. Column
   * names are matched exactly as the catalog spells them (`createdAt`, not `"createdAt"`).
   * @defaultValue `'id'`
   */
  key?: string | readonly string[];
  /**
   * The columns of each row handed to the job, parsed by pg as any query's would be (int8 as strings, timestamps as
   * `Date`s, unless you changed pg's parsers). Key values for the cursor are read separately, as text.
   * @defaultValue every column of the table
   */
  columns?: readonly string[];
  /**
   * A condition rows must meet, in SQL, with `$1`, `$2`... placeholders bound to `params`. It is parenthesized and
   * ANDed with the keyset condition; the enumerator's own placeholders are numbered after yours.
   */
  where?: string;
  /** Values for the placeholders of `where`, `$1` first. Each one must be used by `where`. */
  params?: readonly unknown[];
  /**
   * Rows read per query.
   * @defaultValue 1000
   */
  batchSize?: number;
  /**
   * The cursor `buildEnumerator` received (`undefined` on a fresh start); the rows after it are read. Required, so
   * that forgetting to pass it cannot restart a resumed job from its first row.
   */
  cursor: PostgresCursor | undefined;
  /**
   * Where the total rows for progress come from: `'estimate'`, the planner's row estimate for the filtered query
   * (one `EXPLAIN`, milliseconds, as accurate as the table's statistics); `'exact'`, a `count(*)` of the filtered rows
   * (a full scan on a large table); `false`, none (no percent). Read once when the enumeration starts, beside the
   * first batch.
   * @defaultValue `'estimate'`
   */
  count?: 'estimate' | 'exact' | false;
  /**
   * Read the next batch while the job processes the current one. Only possible with a pool of two or more
   * connections; `true` with a single client is an error. It hides the read's latency, at the cost of a second
   * connection held during each read, one batch more in memory, and a read-ahead window: rows inserted (or changed)
   * inside the range of a batch already read are not seen, and that range is one batch longer.
   * @defaultValue `false`
   */
  prefetch?: boolean;
  /**
   * Only the rows of this key range (see `PostgresKeyRange`): what one partition of a partitioned job reads. A fresh
   * start begins after `range.from`; a resumed one after its cursor, which lies inside the range. The end is part of
   * every query (`(a, b) <= (...)`), so the index scan stops there, and the progress total counts the range only.
   */
  range?: PostgresKeyRange;
}

/** Options checked and given their defaults. */
export interface ResolvedOptions {
  table: string;
  key: readonly string[];
  columns: readonly string[] | undefined;
  where: string | undefined;
  params: readonly unknown[];
  batchSize: number;
  cursor: unknown;
  count: 'estimate' | 'exact' | false;
  prefetch: boolean;
  range: PostgresKeyRange;
}

/** The largest batch: a larger one is a table read into memory, not a batch. */
const MAX_BATCH_SIZE = 1_000_000;

/**
 * Checks the options before anything connects: every mistake here is one the database would otherwise report
 * half-way, or worse, not at all (an unused parameter shifting the keyset's placeholders).
 */
export function resolveOptions(db: unknown, options: PostgresEnumeratorOptions | undefined, canPrefetch: boolean): ResolvedOptions {
  if (db === null || typeof db !== 'object' || typeof (db as Partial<PgQueryableLike>).query !== 'function') {
    throw new InvalidOptionError('db', db, 'a pg.Pool, pg.Client or pg.PoolClient (an object with a query method)');
  }
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object with at least table and cursor');
  const { table, where, batchSize = 1000, count = 'estimate', prefetch } = options;
  if (typeof table !== 'string' || table.trim() === '') throw new InvalidOptionError('table', table, 'a table name, as written in SQL (`orders`, `sales.orders`)');
  const key = names('key', options.key === undefined ? ['id'] : typeof options.key === 'string' ? [options.key] : options.key);
  const columns = options.columns === undefined ? undefined : names('columns', options.columns);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new InvalidOptionError('batchSize', batchSize, `an integer from 1 to ${MAX_BATCH_SIZE}`);
  }
  if (count !== 'estimate' && count !== 'exact' && count !== false) throw new InvalidOptionError('count', count, "'estimate', 'exact' or false");
  if (prefetch !== undefined && typeof prefetch !== 'boolean') throw new InvalidOptionError('prefetch', prefetch, 'a boolean');
  if (prefetch === true && !canPrefetch) {
    throw new InvalidOptionError('prefetch', prefetch, 'false with a single client: a read-ahead needs a second connection (pass a pg.Pool with max >= 2)');
  }
  if (!Object.hasOwn(options, 'cursor')) {
    throw new InvalidOptionError('cursor', undefined, 'given: pass the cursor buildEnumerator receives ({ cursor }), undefined on a fresh start');
  }
  const params = options.params ?? [];
  if (!Array.isArray(params)) throw new InvalidOptionError('params', params, 'an array of values for the placeholders of where');
  checkPlaceholders(where, params);
  const range = checkRange(options.range);
  return { table: table.trim(), key, columns, where, params, batchSize, cursor: options.cursor, count, prefetch: prefetch ?? false, range };
}

/** The range's shape; its values are checked against the key's types by PostgreSQL, as a cursor's are. */
function checkRange(range: unknown): PostgresKeyRange {
  if (range === undefined) return {};
  const expected = 'an object { from?, to? } whose bounds are key values in the cursor form ([42], [3, 1042]), as keyRanges returns';
  if (range === null || typeof range !== 'object' || Array.isArray(range)) throw new InvalidOptionError('range', range, expected);
  const { from, to, ...rest } = range as Record<string, unknown>;
  if (Object.keys(rest).length > 0) throw new InvalidOptionError('range', range, expected);
  for (const bound of [from, to]) {
    if (bound !== undefined && !(Array.isArray(bound) && bound.length > 0)) throw new InvalidOptionError('range', range, expected);
  }
  return { ...(from === undefined ? {} : { from: from as PostgresCursor }), ...(to === undefined ? {} : { to: to as PostgresCursor }) };
}

function names(option: 'key' | 'columns', value: unknown): readonly string[] {
  const expected = option === 'key' ? 'a column name or a non-empty array of distinct column names' : 'a non-empty array of distinct column names';
  if (!Array.isArray(value) || value.length === 0) throw new InvalidOptionError(option, value, expected);
  for (const name of value) if (typeof name !== 'string' || name === '') throw new InvalidOptionError(option, value, expected);
  if (new Set(value).size !== value.length) throw new InvalidOptionError(option, value, expected);
  return [...(value as string[])];
}

/**
 * Our keyset placeholders are numbered after the user's, so `where` must use exactly `$1`..`$n` for n params: a
 * placeholder beyond them would silently bind to a key value, and an unused one leaves PostgreSQL unable to type it.
 */
function checkPlaceholders(where: unknown, params: readonly unknown[]): void {
  if (where === undefined) {
    if (params.length > 0) throw new InvalidOptionError('params', params, 'empty when there is no where (nothing uses them)');
    return;
  }
  if (typeof where !== 'string' || where.trim() === '') throw new InvalidOptionError('where', where, 'a non-empty SQL condition');
  const used = placeholdersIn(where);
  const beyond = [...used].filter((n) => n > params.length);
  if (beyond.length > 0) {
    throw new InvalidOptionError('where', where, `SQL whose $n placeholders each have a value in params (it uses $${Math.max(...beyond)}; params has ${params.length})`);
  }
  for (let n = 1; n <= params.length; n++) {
    if (!used.has(n)) throw new InvalidOptionError('params', params, `values that where uses, each one ($${n} does not appear in where)`);
  }
}
