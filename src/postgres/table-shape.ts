import { InvalidOptionError } from '../errors.js';
import { NullableKeyError, UnknownColumnError, UnknownTableError } from './errors.js';
import type { ResolvedOptions } from './options.js';
import { queryArrays, type PgQueryableLike } from './queryable.js';

/** A key column as the enumerator reads and binds it. */
export interface KeyColumn {
  readonly name: string;
  /** The quoted identifier. */
  readonly sql: string;
  /** The column's own type as `format_type` prints it, to cast cursor values back with (`timestamp with time zone`). */
  readonly type: string;
  /** `int2`, `int4` or `int8` (domains over them too): cursor values are numbers while they are safe integers. */
  readonly integer: boolean;
  /**
   * The expression that reads the value as exact text. Dates and times go through `to_json`, whose ISO 8601 form
   * keeps microseconds and the UTC offset and, unlike `::text`, does not follow the connection's `DateStyle`.
   */
  readonly text: string;
}

/** What the catalog says about the table, checked against the options. */
export interface TableShape {
  /** The table as SQL: `"public"."orders"`. */
  readonly sql: string;
  /** The table for messages: `public.orders`. */
  readonly name: string;
  /** Quoted columns of the rows handed to the job, and their names. */
  readonly columns: readonly string[];
  readonly columnsSql: readonly string[];
  readonly key: readonly KeyColumn[];
}

/** Relation kinds a SELECT reads: tables, partitioned tables, views, materialized views, foreign tables. */
const READABLE = new Set(['r', 'p', 'v', 'm', 'f']);
/** Kinds whose catalog can prove a key unique (through a unique index). */
const INDEXED = new Set(['r', 'p', 'm']);

// One round trip: the relation, its columns with their types and nullability, and its unique indexes (as
// "attnums:key-count" pairs) repeated on each row.
const CATALOG_SQL = `
SELECT n.nspname, c.relname, c.relkind::text, a.attnum, a.attname, a.attnotnull,
       format_type(a.atttypid, a.atttypmod),
       CASE WHEN t.typtype = 'd' THEN bt.typname ELSE t.typname END,
       t.typcategory::text,
       (SELECT string_agg(i.indkey::text || ':' || i.indnkeyatts, ';')
          FROM pg_index i
         WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
 WHERE c.oid = to_regclass($1)
 ORDER BY a.attnum`;

interface CatalogColumn {
  attnum: number;
  name: string;
  notNull: boolean;
  type: string;
  baseType: string;
  category: string;
}

/**
 * Reads the table's shape from the catalog and refuses, with a named error, what would go wrong later or silently:
 * an unknown table or column, a key that can be NULL, a key that is not unique.
 */
export async function readTableShape(db: PgQueryableLike, options: ResolvedOptions, enumerator: string): Promise<TableShape> {
  const given = `${enumerator}(${options.table})`;
  let rows: unknown[][];
  try {
    rows = await queryArrays(db, CATALOG_SQL, [options.table]);
  } catch (error) {
    // to_regclass refuses names that are not valid SQL (too many dots, an unclosed quote): bad input, not an outage.
    const code = (error as { code?: unknown }).code;
    if (code === '42601' || code === '42602' || code === '0A000') throw new UnknownTableError(given, options.table, (error as Error).message, { cause: error });
    throw error;
  }
  const first = rows[0];
  if (first === undefined) throw new UnknownTableError(given, options.table, await searchPathNote(db));
  const [schema, relname, relkind] = first as [string, string, string];
  const name = `${schema}.${relname}`;
  const source = `${enumerator}(${name})`;
  if (!READABLE.has(relkind)) throw new UnknownTableError(given, options.table, `${name} is ${RELKINDS[relkind] ?? 'not a table'}`);

  const all: CatalogColumn[] = [];
  for (const row of rows) {
    if (row[4] === null) continue;
    all.push({
      attnum: Number(row[3]),
      name: row[4] as string,
      notNull: row[5] === true,
      type: row[6] as string,
      baseType: row[7] as string,
      category: row[8] as string,
    });
  }
  const byName = new Map(all.map((c) => [c.name, c]));
  const find = (column: string, option: 'key' | 'columns'): CatalogColumn => {
    const found = byName.get(column);
    if (found) return found;
    const near = all.find((c) => c.name.toLowerCase() === column.toLowerCase());
    const hint = near ? `; did you mean ${JSON.stringify(near.name)}? Names match exactly, without SQL quotes` : `; its columns: ${listColumns(all)}`;
    throw new UnknownColumnError(source, name, column, option, hint);
  };

  const keyColumns = options.key.map((column) => find(column, 'key'));
  const rowColumns = (options.columns ?? all.map((c) => c.name)).map((column) => find(column, 'columns'));
  for (const column of keyColumns) {
    if (!column.notNull) throw new NullableKeyError(source, name, column.name, relkind === 'v');
  }
  if (INDEXED.has(relkind)) {
    const unique = uniqueIndexes(first[9] as string | null, all);
    if (!unique.some((index) => index.every((column) => options.key.includes(column)))) {
      // Only NOT NULL columns can join a key.
      const shortest = unique.filter((index) => index.every((c) => byName.get(c)!.notNull)).sort((x, y) => x.length - y.length)[0];
      const fix = shortest
        ? `append its unique columns: key: ${JSON.stringify([...options.key, ...shortest.filter((c) => !options.key.includes(c))])}`
        : `${name} has no primary key or unique index to append`;
      throw new InvalidOptionError(
        'key',
        options.key.length === 1 ? options.key[0] : options.key,
        `columns of ${name} that a primary key or unique index covers: rows sharing one key value would be split ` +
          `across two batches, and those after the first skipped (${fix})`,
      );
    }
  }

  return {
    sql: `${quoteIdentifier(schema)}.${quoteIdentifier(relname)}`,
    name,
    columns: rowColumns.map((c) => c.name),
    columnsSql: rowColumns.map((c) => quoteIdentifier(c.name)),
    key: keyColumns.map((c) => {
      const sql = quoteIdentifier(c.name);
      return {
        name: c.name,
        sql,
        type: c.type,
        integer: c.baseType === 'int2' || c.baseType === 'int4' || c.baseType === 'int8',
        text: c.category === 'D' ? `to_json(${sql}) #>> '{}'` : `${sql}::text`,
      };
    }),
  };
}

/** Quotes an identifier as PostgreSQL's `quote_ident` would always do: names are never spliced into SQL as they are. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The column names of each unique index on plain columns. A key holding all the columns of one is unique: `(id)`
 * makes the key `(created_at, id)` unique.
 */
function uniqueIndexes(indexes: string | null, columns: readonly CatalogColumn[]): string[][] {
  if (!indexes) return [];
  const byAttnum = new Map(columns.map((c) => [c.attnum, c.name]));
  const found: string[][] = [];
  for (const index of indexes.split(';')) {
    const [attnums = '', keyCount = '0'] = index.split(':');
    // INCLUDE columns come after the key count; an expression shows as attnum 0, which names no column.
    const names = attnums.split(' ').slice(0, Number(keyCount)).map((attnum) => byAttnum.get(Number(attnum)));
    if (names.length > 0 && names.every((n) => n !== undefined)) found.push(names as string[]);
  }
  return found;
}

async function searchPathNote(db: PgQueryableLike): Promise<string> {
  const [[path] = []] = await queryArrays(db, "SELECT current_setting('search_path')");
  return `search_path: ${String(path)}; qualify the name with its schema, e.g. "sales.orders"`;
}

function listColumns(columns: readonly CatalogColumn[]): string {
  const shown = columns.slice(0, 20).map((c) => c.name).join(', ');
  return columns.length > 20 ? `${shown}, ... (${columns.length} in all)` : shown || 'none';
}

const RELKINDS: Record<string, string> = {
  i: 'an index',
  I: 'a partitioned index',
  S: 'a sequence',
  c: 'a composite type',
  t: 'a TOAST table',
};
