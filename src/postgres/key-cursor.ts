import { InvalidCursorError } from '../errors.js';
import type { PostgresCursor, PostgresKeyValue } from './options.js';
import { queryArrays, type PgQueryableLike } from './queryable.js';
import type { KeyColumn } from './table-shape.js';

/**
 * A key value read as text, as it goes into the cursor: integers as numbers while JavaScript holds them exactly,
 * everything else as the text PostgreSQL printed, which casts back to the very same value.
 */
export function keyValue(column: KeyColumn, text: string): PostgresKeyValue {
  if (!column.integer) return text;
  const number = Number(text);
  // Above 2^53 - 1, Number() rounds to a neighbour: the decimal string is the only exact form left.
  return Number.isSafeInteger(number) ? number : text;
}

const INTEGER_TEXT = /^-?\d+$/;

/**
 * Checks a saved cursor against the key before any row is read, and returns the values to bind. A cursor of the
 * wrong shape would otherwise make the keyset comparison fail half-way, or worse, compare and match nothing.
 */
export async function checkCursor(db: PgQueryableLike, cursor: unknown, key: readonly KeyColumn[], source: string): Promise<PostgresKeyValue[]> {
  const names = key.map((c) => c.name).join(', ');
  const refuse = (problem: string, cause?: unknown): never => {
    throw new InvalidCursorError(undefined, cursor, problem, cause === undefined ? { source } : { source, cause });
  };
  if (!Array.isArray(cursor)) refuse(`expected a JSON array of ${key.length} key value(s) (${names})`);
  const values = cursor as unknown[];
  if (values.length !== key.length) {
    refuse(`it holds ${values.length} value(s), the key (${names}) has ${key.length}; was the key option changed since the job started?`);
  }
  key.forEach((column, i) => {
    const value = values[i];
    if (column.integer) {
      const ok = (typeof value === 'number' && Number.isSafeInteger(value)) || (typeof value === 'string' && INTEGER_TEXT.test(value));
      if (!ok) refuse(`value ${i + 1} (${column.name}, ${column.type}) must be an integer or a decimal string; got ${describe(value)}`);
    } else if (typeof value !== 'string') {
      refuse(`value ${i + 1} (${column.name}, ${column.type}) must be a string, the column's text form; got ${describe(value)}`);
    }
  });
  const bound = values as PostgresKeyValue[];
  // PostgreSQL itself says whether each text is a value of its column's type ("2024-13-45" is not a timestamp, and an
  // int4 column does not hold 2^40): asked once per run, instead of failing the first batch with a data error.
  try {
    await queryArrays(db, `SELECT ${key.map((c, i) => `$${i + 1}::${c.type}`).join(', ')}`, bound);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('22')) refuse(`PostgreSQL refuses it for the key (${names}): ${(error as Error).message}`, error);
    throw error;
  }
  return bound;
}

/** A whole cursor from the key text of a row, as `keyText` in keyset-sql.ts writes it. */
export function cursorOf(key: readonly KeyColumn[], text: string): PostgresCursor {
  if (key.length === 1) return [keyValue(key[0]!, text)];
  const texts = key.every((c) => c.integer) ? text.split(',') : (JSON.parse(text) as string[]);
  const cursor: PostgresCursor = new Array(key.length);
  for (let i = 0; i < key.length; i++) cursor[i] = keyValue(key[i]!, texts[i]!);
  return cursor;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}
