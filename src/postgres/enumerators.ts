import { KeysetEnumeration, type PostgresEnumeration } from './keyset-enumeration.js';
import type { PostgresEnumeratorOptions } from './options.js';
import type { PgQueryableLike } from './queryable.js';

/** A row as handed to the job: the requested columns, parsed by pg. */
export type PostgresRow = Record<string, unknown>;

/**
 * The rows of a table, one `[row, cursor]` pair each, in key order, starting after `options.cursor`. Reads
 * `batchSize` rows per query with a row-value keyset condition (`(a, b) > ($1, $2)`), so every query starts at the
 * cursor through the key's index, however far into the table it is.
 *
 * ```ts
 * buildEnumerator(params, { cursor }) {
 *   return postgresRecords(pool, { table: 'orders', key: ['customer_id', 'id'], where: 'status = $1', params: ['open'], cursor });
 * }
 * ```
 *
 * The table, its columns and the cursor are checked when the first row is asked for, before any row is processed:
 * `UnknownTableError`, `UnknownColumnError`, `NullableKeyError`, `InvalidCursorError`; bad options throw
 * `InvalidOptionError` at once.
 *
 * @typeParam Row - the row type you know the columns to have; not checked.
 */
export function postgresRecords<Row extends object = PostgresRow>(db: PgQueryableLike, options: PostgresEnumeratorOptions): PostgresEnumeration<Row> {
  return new KeysetEnumeration<Row>('postgresRecords', 'records', db, options);
}

/**
 * The rows of a table in batches of `batchSize`, one `[rows, cursor]` pair per batch, the cursor being the last
 * row's: a batch is done as a whole or not at all, so an interrupted job never resumes half-way into one. Same
 * options, checks and SQL as `postgresRecords`.
 */
export function postgresBatches<Row extends object = PostgresRow>(db: PgQueryableLike, options: PostgresEnumeratorOptions): PostgresEnumeration<Row[]> {
  return new KeysetEnumeration<Row[]>('postgresBatches', 'batches', db, options);
}
