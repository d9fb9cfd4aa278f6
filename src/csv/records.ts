import type { Pair } from '../iterable-job.js';
import type { CsvCursor } from './cursor.js';
import { CsvEnumeration } from './enumeration.js';
import { planCsv, type CsvObjectColumns, type CsvRecordsOptions } from './options.js';
import { readCsv } from './reader.js';

/**
 * The records of a CSV file as `[record, cursor]` pairs, parsed by csv-parse with `options`, starting after
 * `options.cursor`. A resumed run seeks to the cursor's byte offset instead of reading the file up to it.
 *
 * ```ts
 * buildEnumerator(params: { path: string }, { cursor }: EnumeratorContext<CsvCursor>) {
 *   return csvRecords(params.path, { cursor, columns: true });
 * }
 * ```
 *
 * Options are checked here, before anything is read: a refused csv-parse option throws `InvalidOptionError`, a
 * cursor of the wrong shape `InvalidCursorError`. A file that changed under the cursor throws `FileChangedError`
 * when iteration starts, before the first record.
 */
export function csvRecords<Row = Record<string, string>>(path: string, options: CsvRecordsOptions & { columns: CsvObjectColumns }): CsvEnumeration<Row>;
export function csvRecords<Row = string[]>(path: string, options?: CsvRecordsOptions): CsvEnumeration<Row>;
export function csvRecords(path: string, options: CsvRecordsOptions = {}): CsvEnumeration<unknown> {
  const plan = planCsv('csvRecords', path, options);
  return new CsvEnumeration((onSize) => readCsv(plan, onSize) as AsyncIterator<Pair<unknown, CsvCursor>>);
}
