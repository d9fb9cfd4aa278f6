/**
 * `job-iteration/csv`: enumerators over CSV files that resume by byte offset. Needs the optional peer `csv-parse`.
 * See docs/enumerators.md.
 */
export { csvRecords } from './records.js';
export { csvBatches } from './batches.js';
export { CsvEnumeration } from './enumeration.js';
export type { CsvCursor } from './cursor.js';
export type { CsvRecordsOptions, CsvBatchesOptions, CsvParseOptions, CsvObjectColumns } from './options.js';
export { FileChangedError } from './errors.js';
export type { FileChange } from './errors.js';
