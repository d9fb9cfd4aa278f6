import { JobIterationError } from '../errors.js';

/**
 * The table an enumerator was asked to read is not one this connection can see: it does not exist, its schema is
 * not on the `search_path`, or the name is not valid SQL. Raised before any row is read.
 */
export class UnknownTableError extends JobIterationError {
  /** The table as the options named it. */
  readonly table: string;
  /** Which enumerator refused it, e.g. `postgresRecords(orders)`. */
  readonly source: string;
  constructor(source: string, table: string, detail: string, options?: { cause?: unknown }) {
    super('ERR_UNKNOWN_TABLE', `${source}: no table or view ${JSON.stringify(table)} is visible to this connection (${detail}).`, options);
    this.table = table;
    this.source = source;
  }
}

/** A column named in `key` or `columns` is not a column of the table. Raised before any row is read. */
export class UnknownColumnError extends JobIterationError {
  /** The table, schema-qualified as the catalog spells it. */
  readonly table: string;
  readonly column: string;
  /** The option that named it: `key` or `columns`. */
  readonly option: 'key' | 'columns';
  readonly source: string;
  constructor(source: string, table: string, column: string, option: 'key' | 'columns', hint: string) {
    super('ERR_UNKNOWN_COLUMN', `${source}: ${table} has no column ${JSON.stringify(column)} (named in option "${option}")${hint}.`);
    this.table = table;
    this.column = column;
    this.option = option;
    this.source = source;
  }
}

/**
 * A key column can hold NULL. The keyset comparison `(a, b) > ($1, $2)` is never true for a row whose key is NULL,
 * so such a row would be passed over, never processed, and the job would still complete. Raised before any row is
 * read; declare the column NOT NULL, or key on columns that are.
 */
export class NullableKeyError extends JobIterationError {
  readonly table: string;
  readonly column: string;
  readonly source: string;
  constructor(source: string, table: string, column: string, relationIsView: boolean) {
    super(
      'ERR_NULLABLE_KEY',
      `${source}: key column ${JSON.stringify(column)} of ${table} can be NULL. The keyset comparison never matches a NULL ` +
        'key, so rows holding one would be skipped, never processed. ' +
        (relationIsView
          ? 'PostgreSQL reports every column of a view as nullable: iterate the underlying table, filtering with `where`.'
          : `Declare it NOT NULL (ALTER TABLE ${table} ALTER COLUMN ${quoteForMessage(column)} SET NOT NULL) or key on NOT NULL columns.`),
    );
    this.table = table;
    this.column = column;
    this.source = source;
  }
}

function quoteForMessage(column: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(column) ? column : `"${column.replaceAll('"', '""')}"`;
}
