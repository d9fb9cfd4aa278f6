import type { ResolvedOptions } from './options.js';
import type { TableShape } from './table-shape.js';

/** The statements one enumeration runs. */
export interface KeysetSql {
  /** The first batch: no keyset condition. */
  readonly first: string;
  /** Every later batch: the rows after `$n..` (the user's params come first). */
  readonly after: string;
  /** The filtered rows, for the row estimate and the exact count. */
  readonly filtered: string;
}

/**
 * Builds the keyset statements:
 *
 * ```sql
 * SELECT <columns>, <key as text> FROM "public"."orders"
 *  WHERE (<where>) AND ("a", "b") > ($2::integer, $3::bigint)
 *  ORDER BY "public"."orders"."a", "public"."orders"."b" LIMIT 1000
 * ```
 *
 * A row-value comparison, never `a > $1 OR (a = $1 AND b > $2)`: with an index on (a, b) PostgreSQL starts the
 * index scan at the cursor (an Index Cond), where the OR form is a filter over everything before it. Each value is
 * cast to its column's own type, so the comparison uses the column's index and semantics whatever pg sends.
 */
export function keysetSql(shape: TableShape, options: ResolvedOptions): KeysetSql {
  const keyTexts = shape.key.map((c) => c.text);
  const select = `SELECT ${[...shape.columnsSql, ...keyTexts].join(', ')}\n  FROM ${shape.sql}`;
  // On lines of its own, so a trailing `-- comment` in the user's condition cannot swallow the closing parenthesis.
  const filter = options.where === undefined ? undefined : `(\n${options.where}\n)`;
  const offset = options.params.length;
  const columns = shape.key.map((c) => c.sql);
  const values = shape.key.map((c, i) => `$${offset + i + 1}::${c.type}`);
  const keyset = columns.length === 1 ? `${columns[0]} > ${values[0]}` : `(${columns.join(', ')}) > (${values.join(', ')})`;
  // Qualified, because a bare name in ORDER BY means an output column first, and the key's text copy is one too.
  const tail = `\n ORDER BY ${columns.map((c) => `${shape.sql}.${c}`).join(', ')}\n LIMIT ${options.batchSize}`;
  const where = (conditions: Array<string | undefined>) => {
    const present = conditions.filter((c) => c !== undefined);
    return present.length === 0 ? '' : `\n WHERE ${present.join('\n   AND ')}`;
  };
  return {
    first: select + where([filter]) + tail,
    after: select + where([filter, keyset]) + tail,
    filtered: `SELECT 1 FROM ${shape.sql}${where([filter])}`,
  };
}
