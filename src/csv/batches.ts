import { InvalidOptionError } from '../errors.js';
import type { CsvCursor } from './cursor.js';
import { CsvEnumeration } from './enumeration.js';
import { planCsv, type CsvBatchesOptions, type CsvObjectColumns } from './options.js';
import { readCsv } from './reader.js';

/**
 * The records of a CSV file in arrays of up to `batchSize`, as `[records, cursor]` pairs: the cursor is that of the
 * batch's last record, so a batch is done as a whole or not at all, and a resumed run starts with the record after
 * it. Same options, errors and progress as `csvRecords`.
 *
 * ```ts
 * buildEnumerator(params: { path: string }, { cursor }: EnumeratorContext<CsvCursor>) {
 *   return csvBatches(params.path, { cursor, columns: true, batchSize: 500 });
 * }
 * ```
 */
export function csvBatches<Row = Record<string, string>>(path: string, options: CsvBatchesOptions & { columns: CsvObjectColumns }): CsvEnumeration<Row[]>;
export function csvBatches<Row = string[]>(path: string, options: CsvBatchesOptions): CsvEnumeration<Row[]>;
export function csvBatches(path: string, options: CsvBatchesOptions): CsvEnumeration<unknown[]> {
  const batchSize = options?.batchSize;
  if (!(Number.isSafeInteger(batchSize) && batchSize >= 1)) throw new InvalidOptionError('batchSize', batchSize, 'an integer >= 1');
  const plan = planCsv('csvBatches', path, options);
  return new CsvEnumeration((onSize) => inBatches(readCsv(plan, onSize), batchSize));
}

async function* inBatches(records: AsyncIterable<[unknown, CsvCursor]>, batchSize: number): AsyncGenerator<[unknown[], CsvCursor], void, undefined> {
  let batch: unknown[] = [];
  let last: CsvCursor | undefined;
  // Leaving this loop early (a stop while a batch is out) returns the reader too, which closes the file.
  for await (const [record, cursor] of records) {
    batch.push(record);
    last = cursor;
    if (batch.length === batchSize) {
      yield [batch, last];
      batch = [];
    }
  }
  if (batch.length > 0) yield [batch, last!];
}
