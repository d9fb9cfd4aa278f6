/**
 * A resumed CSV job must not pay for the records before its cursor. Generates a CSV of ROWS records (a few columns,
 * some quoted with commas, quotes, newlines and multi-byte text), then, in alternating rounds:
 *
 * - full: `runInline` of a no-op job over `csvRecords(path, { columns: true })`, from the start to the end;
 * - resume at 99%: the same job resumed from the cursor a run stopped at 99% of the records saved, to the end.
 *
 * and prints the medians and their ratio. Then the enumerator's own cost: records/s of a bare csv-parse stream over
 * the file against `for await` over `csvRecords`, alternating too.
 *
 *   npm run bench:csv            (ROWS=400000 ROUNDS=5 to change the size)
 */
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse';
import { IterableJob, runInline, type JobState } from '../src/index.js';
import { csvRecords, type CsvCursor } from '../src/csv/index.js';
import { inTurn, median } from './support.js';

const ROWS = Number(process.env.ROWS ?? 400_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);

const dir = mkdtempSync(join(tmpdir(), 'ji-bench-csv-'));
const path = join(dir, 'rows.csv');
try {
  const lines = ['id,name,email,note,amount'];
  const notes = ['plain', '"says ""hi"""', '"comma, inside"', '"two\nlines"', 'café', '"東京, 日本"'];
  for (let i = 1; i <= ROWS; i++) lines.push(`${i},user ${i},user${i}@example.com,${notes[i % notes.length]},${(i * 7) % 1000}.${i % 100}`);
  writeFileSync(path, lines.join('\n') + '\n');
  const size = statSync(path).size;

  let sink = 0;
  class Import extends IterableJob<{ path: string }, Record<string, string>, CsvCursor> {
    static override jobName = 'csv-bench';
    buildEnumerator({ path }: { path: string }, { cursor }: { cursor: CsvCursor | undefined }) {
      return csvRecords(path, { columns: true, cursor });
    }
    eachIteration(record: Record<string, string>) {
      sink += record.id!.length;
    }
  }

  const stopAt = Math.floor(ROWS * 0.99);
  const stopped = await runInline(Import, { path }, { maxIterations: stopAt });
  const saved = JSON.stringify(stopped.state);
  const cursor = stopped.state.cursor!;

  const full = async () => {
    const t = performance.now();
    const result = await runInline(Import, { path });
    if (result.state.iterations !== ROWS) throw new Error(`full read: ${result.state.iterations} records, expected ${ROWS}`);
    return performance.now() - t;
  };
  const resume = async () => {
    const t = performance.now();
    const result = await runInline(Import, { path }, { state: JSON.parse(saved) as JobState<CsvCursor> });
    if (result.state.iterations !== ROWS || result.runIterations !== ROWS - stopAt) throw new Error(`resume: ${result.runIterations} records, expected ${ROWS - stopAt}`);
    return performance.now() - t;
  };
  const bare = async () => {
    const t = performance.now();
    let n = 0;
    for await (const record of createReadStream(path).pipe(parse({ columns: true, bom: true }))) {
      sink += (record as Record<string, string>).id!.length;
      n++;
    }
    if (n !== ROWS) throw new Error(`bare csv-parse: ${n} records`);
    return ROWS / ((performance.now() - t) / 1000);
  };
  const enumerator = async () => {
    const t = performance.now();
    let n = 0;
    for await (const [record] of csvRecords(path, { columns: true })) {
      sink += record.id!.length;
      n++;
    }
    if (n !== ROWS) throw new Error(`csvRecords: ${n} records`);
    return ROWS / ((performance.now() - t) / 1000);
  };

  const ms = (x: number) => `${x.toFixed(1)} ms`;
  const rate = (x: number) => `${Math.round(x).toLocaleString('en-US')} records/s`;
  console.log(
    `csv resume: ${ROWS.toLocaleString('en-US')} records, ${(size / 1e6).toFixed(1)} MB; resume cursor ${JSON.stringify(cursor)} ` +
      `(${((cursor.offset / size) * 100).toFixed(1)}% of the bytes); ${ROUNDS} alternating rounds`,
  );
  await full();
  await resume();
  const { a: fulls, b: resumes } = await inTurn(ROUNDS, full, resume, (round, f, r) =>
    console.log(`round ${round}: full read ${ms(f)}   resume at 99% ${ms(r)}   ratio ${(r / f).toFixed(3)}`),
  );
  console.log(`median: full read ${ms(median(fulls))}   resume at 99% ${ms(median(resumes))}   ratio ${(median(resumes) / median(fulls)).toFixed(3)}`);

  await bare();
  await enumerator();
  const { a: bares, b: enumerators } = await inTurn(ROUNDS, bare, enumerator, (round, b, e) =>
    console.log(`round ${round}: bare csv-parse stream ${rate(b)}   csvRecords ${rate(e)}   ratio ${(e / b).toFixed(2)}`),
  );
  console.log(
    `median: bare csv-parse stream ${rate(median(bares))}   csvRecords ${rate(median(enumerators))}   ` +
      `ratio ${(median(enumerators) / median(bares)).toFixed(2)}; runInline over csvRecords ${rate(ROWS / (median(fulls) / 1000))}`,
  );
  if (sink < 0) console.log(sink);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
