import { normalize_options, type ColumnOption, type CsvError, type InfoRecord, type Options } from 'csv-parse';
import { InvalidOptionError } from '../errors.js';
import { checkCsvCursor, type CsvCursor } from './cursor.js';

/**
 * csv-parse options the CSV enumerators refuse, with why. A resumed run parses from a byte offset, so anything that
 * counts lines from the start of the file, or changes what a record is, would silently differ between a run from
 * the start and a resumed one.
 */
const REFUSED: Readonly<Record<string, string>> = {
  to_line: 'left out: after a resume csv-parse counts lines from the offset, not from the start of the file (use `to`, a record number)',
  info: 'left out: the enumerators yield the record alone, and its cursor carries the byte offset and record number',
  raw: 'left out: the enumerators yield the record alone (keep what you need of it in `on_record` or `cast`)',
  objname: 'left out: the enumerators yield records, not [name, record] pairs',
};

/** The csv-parse options the CSV enumerators take (snake_case or camelCase, as csv-parse reads them). */
export interface CsvParseOptions extends Omit<Options, 'info' | 'raw' | 'objname' | 'to_line' | 'toLine' | 'on_record' | 'onRecord'> {
  /**
   * csv-parse's `on_record`: maps each record to the item yielded, or drops it (`null`, `undefined`). Its context's
   * `records` and `bytes` count from the start of the file, on a resumed run too.
   */
  on_record?(record: unknown, context: InfoRecord): unknown;
  /** `on_record`, in camelCase. */
  onRecord?(record: unknown, context: InfoRecord): unknown;
}

/** Options of `csvRecords`: csv-parse's, a saved cursor, and how much to read at a time. */
export interface CsvRecordsOptions extends CsvParseOptions {
  /** The enumerator context's cursor: `undefined` reads from the start, a saved `CsvCursor` resumes after it. */
  cursor?: CsvCursor | undefined;
  /**
   * Bytes read from the file at a time.
   * @defaultValue 65536
   */
  highWaterMark?: number;
}

/** Options of `csvBatches`. */
export interface CsvBatchesOptions extends CsvRecordsOptions {
  /** Records per batch; the last batch may be shorter. */
  batchSize: number;
}

/** `columns` values that make records objects: read from a header row (`true`, a function) or given (an array). */
export type CsvObjectColumns = true | ColumnOption[] | ((header: string[]) => ColumnOption[]);

/** What a CSV enumeration needs to read a file: validated once, when it is built. */
export interface CsvPlan {
  path: string;
  /** Who refuses a cursor or a changed file, e.g. `csvRecords(data/users.csv)`. */
  source: string;
  cursor: CsvCursor | undefined;
  /** Handed to csv-parse as they are, in snake_case; `from`, `to`, `on_record` and `on_skip` are applied here instead. */
  parse: Record<string, unknown>;
  /** Whether the first record is a header row (`columns: true` or a function). */
  withHeader: boolean;
  /** First record number to yield (csv-parse's `from`), 1 when none. */
  from: number;
  /** Last record number to yield (csv-parse's `to`), `Infinity` when none. */
  to: number;
  onRecord: ((record: any, context: InfoRecord) => unknown) | undefined;
  onSkip: ((error: CsvError | undefined, raw: string | undefined) => unknown) | undefined;
  /** The record delimiters given, as bytes; empty when csv-parse discovers them (`\n`, `\r\n` or `\r`). */
  recordDelimiters: readonly Buffer[];
  highWaterMark: number;
}

const OWN = new Set(['cursor', 'highWaterMark', 'batchSize']);
const DEFAULT_HIGH_WATER_MARK = 64 * 1024;

/**
 * Validates the options of a CSV enumerator once, when it is built, and splits them into what csv-parse gets and
 * what the enumerator applies itself. `from`, `to` and `on_record` count and filter records by their number in the
 * file; csv-parse would count from the resume offset instead.
 */
export function planCsv(fn: string, path: string, options: CsvRecordsOptions = {}): CsvPlan {
  if (typeof path !== 'string' || path === '') throw new InvalidOptionError('path', path, 'the path of a CSV file');
  const source = `${fn}(${path})`;
  const parse: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options ?? {})) {
    if (OWN.has(key)) continue;
    // csv-parse reads camelCase and snake_case alike; so must the checks below, or `toLine` would slip past them.
    const name = key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
    const refused = REFUSED[name];
    if (refused !== undefined && value !== undefined && value !== null && value !== false) throw new InvalidOptionError(key, value, refused);
    if (refused === undefined) parse[name] = value;
  }
  // A BOM is not part of the first column's name; csv-parse keeps it unless told otherwise.
  if (parse.bom === undefined) parse.bom = true;
  // Throws csv-parse's own error for an option it does not accept, before any file is opened.
  const normalized = normalize_options(parse as Options);
  const onRecord = normalized.on_record ?? undefined;
  const onSkip = normalized.on_skip ?? undefined;
  for (const name of ['from', 'to', 'on_record', 'on_skip']) delete parse[name];
  const highWaterMark = options?.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  if (!(Number.isSafeInteger(highWaterMark) && highWaterMark >= 1)) throw new InvalidOptionError('highWaterMark', highWaterMark, 'an integer >= 1 (bytes)');
  const withHeader = normalized.columns === true;
  return {
    path,
    source,
    cursor: checkCsvCursor(options?.cursor, source, withHeader),
    parse,
    withHeader,
    from: normalized.from,
    to: normalized.to === -1 ? Infinity : normalized.to,
    onRecord,
    onSkip,
    recordDelimiters: normalized.record_delimiter,
    highWaterMark,
  };
}
