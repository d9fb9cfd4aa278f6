// Compile-only: checked by `npm run typecheck` (and so by `npm test`), never run.
import { defineJob, type EnumeratorContext, type Extent, type MeasuredEnumeration, type Pair } from '../../src/index.js';
import { csvBatches, csvRecords, type CsvCursor, type CsvEnumeration } from '../../src/csv/index.js';
import { expectType, type Equal } from './expect-type.js';

export function rowTypes(cursor: CsvCursor | undefined): void {
  // Objects keyed by the header with `columns`, arrays of fields without; a type argument names your own row.
  expectType<Equal<typeof withHeader, CsvEnumeration<Record<string, string>>>>();
  const withHeader = csvRecords('users.csv', { columns: true, cursor });
  expectType<Equal<typeof fields, CsvEnumeration<string[]>>>();
  const fields = csvRecords('users.csv', { cursor, delimiter: ';' });
  expectType<Equal<typeof typed, CsvEnumeration<{ id: number }>>>();
  const typed = csvRecords<{ id: number }>('users.csv', { columns: true, cast: true, cursor });
  expectType<Equal<typeof batches, CsvEnumeration<Record<string, string>[]>>>();
  const batches = csvBatches('users.csv', { columns: true, batchSize: 100, cursor });

  // The enumeration is an async iterable of pairs that reports its extent in bytes.
  const pairs: AsyncIterable<Pair<Record<string, string>, CsvCursor>> = withHeader;
  const measured: MeasuredEnumeration<CsvCursor> = batches;
  expectType<Equal<ReturnType<typeof measured.extent>, Extent | undefined>>();
  void pairs;
  void fields;
  void typed;

  // @ts-expect-error csvBatches needs a batch size
  csvBatches('users.csv', { columns: true });
  // @ts-expect-error to_line counts lines from the resume offset: refused
  csvRecords('users.csv', { to_line: 10 });
  // @ts-expect-error the record alone is yielded: no info
  csvRecords('users.csv', { info: true });
  // @ts-expect-error a cursor is an object with offset and record
  csvRecords('users.csv', { cursor: 12 });
}

export function inAJob(): void {
  // A job over a CSV file: Item is inferred from the enumeration, Cursor from the context's annotation.
  const Import = defineJob({
    name: 'import',
    buildEnumerator(params: { path: string }, { cursor }: EnumeratorContext<CsvCursor>) {
      return csvBatches(params.path, { columns: true, batchSize: 500, cursor });
    },
    eachIteration(rows, _params, { cursor }) {
      expectType<Equal<typeof rows, Record<string, string>[]>>();
      expectType<Equal<typeof cursor, CsvCursor>>();
    },
  });
  void Import;
}
