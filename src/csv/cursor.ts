import { createHash } from 'node:crypto';
import { InvalidCursorError } from '../errors.js';

/**
 * Where a CSV enumeration stands: the record just finished and where the next one starts. A plain JSON object, saved
 * as the job's cursor.
 *
 * ```json
 * { "offset": 1048593, "record": 20417, "header": "Yx3v0c1bS2nQ6dPk" }
 * ```
 */
export interface CsvCursor {
  /** Byte offset in the file right after the record (its record delimiter included): where the next record starts. */
  readonly offset: number;
  /**
   * The record's number in the file, from 1, as csv-parse counts records (`info.records`): the header row, empty and
   * comment lines, and records skipped for errors or empty values do not count.
   */
  readonly record: number;
  /**
   * With a header row (`columns: true` or a function): a 16-character hash of the column names, so a resume notices
   * a file whose header changed. Absent otherwise.
   */
  readonly header?: string;
}

const KEYS = new Set(['offset', 'record', 'header']);

/**
 * Checks a cursor from outside the process before anything is read. `withHeader` says whether the options read a
 * header row, in which case the cursor must carry the header's hash, and otherwise must not.
 */
export function checkCsvCursor(cursor: unknown, source: string, withHeader: boolean): CsvCursor | undefined {
  if (cursor === undefined) return undefined;
  const refuse = (problem: string): never => {
    throw new InvalidCursorError(undefined, cursor, problem, { source });
  };
  if (cursor === null || typeof cursor !== 'object' || Array.isArray(cursor)) {
    return refuse('expected an object { offset, record } as the CSV enumerators yield');
  }
  const { offset, record, header } = cursor as Record<string, unknown>;
  const unknown = Object.keys(cursor).filter((key) => !KEYS.has(key));
  if (unknown.length > 0) refuse(`unknown key(s) ${unknown.join(', ')}; a CSV cursor has offset, record and, with a header row, header`);
  if (!isPositiveInteger(offset)) refuse('offset must be a byte offset, an integer >= 1');
  if (!isPositiveInteger(record)) refuse('record must be a record number, an integer >= 1');
  if (withHeader && typeof header !== 'string') refuse('header is missing: these options read a header row (columns: true or a function), so the cursor must carry its hash');
  if (!withHeader && header !== undefined) refuse('it carries a header hash, but these options read no header row: it was saved by a run with other columns');
  return cursor as CsvCursor;
}

/** The hash a cursor carries for a header row: short, and stable across processes and versions of Node. */
export function hashHeader(columns: unknown): string {
  return createHash('sha256').update(JSON.stringify(columns)).digest('base64url').slice(0, 16);
}

function isPositiveInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 1;
}
