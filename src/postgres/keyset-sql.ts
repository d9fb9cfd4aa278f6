import type { ResolvedOptions } from './options.js';
import type { TableShape } from './table-shape.js';

/** The statements one enumeration runs. */
export interface KeysetSql {
  /** The first batch: no keyset condition. */
  readonly first: string;
  /** Every later batch: the rows after `$n..` (the user's params come first, the range's end last). */
  readonly after: string;
  /** The filtered rows of the range, for the row estimate and the exact count: params, then `range.from`, then `range.to`. */
  readonly filtered: string;
}

/**
 * Builds the keyset statements:
 *
 * ```sql
 * SELECT <columns>, "a"::text || ',' || "b"::text FROM "public"."orders"
 *  WHERE (<where>) AND ("a", "b") > ($2::integer, $3::bigint)
 *  ORDER BY "public"."orders"."a", "public"."orders"."b" LIMIT 1000
 * ```
 *
 * A row-value comparison, never `a > $1 OR (a = $1 AND b > $2)`: with an index on (a, b) PostgreSQL starts the
 * index scan at the cursor (an Index Cond), where the OR form is a filter over everything before it. Each value is
 * cast to its column's own type, so the comparison uses the column's index and semantics whatever pg sends.
 */
export function keysetSql(shape: TableShape, options: ResolvedOptions): KeysetSql {
  const select = `SELECT ${[...shape.columnsSql, keyText(shape)].join(', ')}\n  FROM ${shape.sql}`;
  // On lines of its own, so a trailing `-- comment` in the user's condition cannot swallow the closing parenthesis.
  const filter = options.where === undefined ? undefined : `(\n${options.where}\n)`;
  const offset = options.params.length;
  const columns = shape.key.map((c) => c.sql);
  const n = shape.key.length;
  /** The key compared with the values bound from placeholder `$at + 1` on. */
  const compare = (op: '>' | '<=', at: number) => {
    const values = shape.key.map((c, i) => `$${at + i + 1}::${c.type}`);
    return columns.length === 1 ? `${columns[0]} ${op} ${values[0]}` : `(${columns.join(', ')}) ${op} (${values.join(', ')})`;
  };
  const keyset = compare('>', offset);
  // A fresh start begins after range.from as a resume begins after its cursor, through the same statement.
  const hasFrom = options.range.from !== undefined;
  const hasTo = options.range.to !== undefined;
  // Qualified: a bare name in ORDER BY means an output column first, and a one-column key's text copy is output
  // under the column's own name.
  const tail = `\n ORDER BY ${columns.map((c) => `${shape.sql}.${c}`).join(', ')}\n LIMIT ${options.batchSize}`;
  const where = (conditions: Array<string | undefined>) => {
    const present = conditions.filter((c) => c !== undefined);
    return present.length === 0 ? '' : `\n WHERE ${present.join('\n   AND ')}`;
  };
  return {
    first: select + where([filter, hasTo ? compare('<=', offset) : undefined]) + tail,
    after: select + where([filter, keyset, hasTo ? compare('<=', offset + n) : undefined]) + tail,
    filtered: `SELECT 1 FROM ${shape.sql}${where([filter, hasFrom ? keyset : undefined, hasTo ? compare('<=', offset + (hasFrom ? n : 0)) : undefined])}`,
  };
}

/**
 * The key of each row as one text column: the value's text for a one-column key; integers joined by commas (no
 * integer's text holds one); else a JSON array of the texts, which PostgreSQL escapes. One column rather than one per
 * key column: every column costs pg a string and a parse per row, and a batch needs only its last row's cursor.
 */
export function keyText(shape: TableShape): string {
  const texts = shape.key.map((c) => c.text);
  if (texts.length === 1) return texts[0]!;
  if (shape.key.every((c) => c.integer)) return texts.join(` || ',' || `);
  return `json_build_array(${texts.join(', ')})::text`;
}
