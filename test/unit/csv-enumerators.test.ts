import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { parse } from 'csv-parse/sync';
import { IterableJob, InvalidCursorError, InvalidOptionError, runInline, type JobState, type RunOptions } from '../../src/index.js';
import { extentOf } from '../../src/extent.js';
import { csvBatches, csvRecords, FileChangedError, type CsvCursor, type CsvRecordsOptions } from '../../src/csv/index.js';

const BOM = '\ufeff';
/** Quoted newlines, commas and quotes, CRLF, multi-byte UTF-8, an empty field, and a record split across lines. */
const TRICKY_ROWS = [
  'id,name,note',
  '1,"Zoë, ünïcødé",plain',
  '2,"two\r\nlines, ""quoted""",日本語テキスト',
  '3,,"a,b,c"',
  '4,"emoji 🎉🎉","""leading quote"',
  '5,"ends with newline\r\n",x',
  '6,last,"€"',
];

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ji-csv-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeCsv(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** A job that reads `path` with `options` and keeps what it was given, in order, across runs. */
function csvJob(path: string, options: Omit<CsvRecordsOptions, 'cursor'> & { batchSize?: number } = {}) {
  const seen: unknown[] = [];
  const cursors: CsvCursor[] = [];
  class ReadsCsv extends IterableJob<Record<string, never>, unknown, CsvCursor> {
    static override jobName = 'reads-csv';
    buildEnumerator(_params: Record<string, never>, { cursor }: { cursor: CsvCursor | undefined }) {
      const { batchSize, ...rest } = options;
      return batchSize === undefined ? csvRecords(path, { ...rest, cursor }) : csvBatches(path, { ...rest, batchSize, cursor });
    }
    eachIteration(item: unknown, _params: unknown, { cursor }: { cursor: CsvCursor }) {
      seen.push(item);
      cursors.push(cursor);
    }
  }
  return { ReadsCsv, seen, cursors };
}

/**
 * Runs the job to completion, stopping after each count in `stops` and resuming from the state the stop returned,
 * as a restarted process would (through JSON).
 */
async function runWithStops(JobClass: ReturnType<typeof csvJob>['ReadsCsv'], stops: readonly number[], options: RunOptions<CsvCursor> = {}) {
  let state: JobState<CsvCursor> | undefined = options.state as JobState<CsvCursor> | undefined;
  for (const maxIterations of stops) {
    const result = await runInline(JobClass, {}, { ...options, state, maxIterations });
    state = JSON.parse(JSON.stringify(result.state));
    if (result.status === 'completed') return result;
  }
  return runInline(JobClass, {}, { ...options, state });
}

/** What one uninterrupted csv-parse of the whole file gives, with the enumerators' default of skipping a BOM. */
function parseWhole(path: string, options: Record<string, unknown> = {}): unknown[] {
  return parse(readFileSync(path), { bom: true, ...options }) as unknown[];
}

/** File descriptors of this process open on `path`. */
function openFds(path: string): string[] {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  });
}

/** A deterministic file of `n` records with a bit of everything in them, CRLF-separated, behind a BOM. */
function bigCsv(n: number): string {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pieces = ['plain', 'comma, inside', 'quote "here"', 'new\r\nline', 'naïve café', '漢字', '🎉', ''];
  const field = () => {
    const text = pieces[Math.floor(random() * pieces.length)]! + (random() < 0.5 ? ` ${Math.floor(random() * 1000)}` : '');
    return /[",\r\n]/.test(text) || random() < 0.2 ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const lines = ['id,a,b,c'];
  for (let i = 1; i <= n; i++) lines.push(`${i},${field()},${field()},${field()}`);
  return BOM + lines.join('\r\n') + '\r\n';
}

describe('csvRecords', () => {
  for (const [label, text] of [
    ['CRLF, BOM, final newline', BOM + TRICKY_ROWS.join('\r\n') + '\r\n'],
    ['CRLF, BOM, no final newline', BOM + TRICKY_ROWS.join('\r\n')],
    ['LF, no BOM, final newline', TRICKY_ROWS.join('\n').replaceAll('\r\n', '\n') + '\n'],
    ['LF, no BOM, no final newline', TRICKY_ROWS.join('\n').replaceAll('\r\n', '\n')],
  ] as const) {
    for (const columns of [true, false] as const) {
      test(`${label}, columns: ${columns}: resumed after every record, the runs together yield one full csv-parse of the file`, async (t) => {
        const path = writeCsv(tempDir(t), 'tricky.csv', text);
        const whole = parseWhole(path, { columns });
        assert.equal(whole.length, columns ? 6 : 7);
        for (let k = 0; k <= whole.length; k++) {
          const { ReadsCsv, seen } = csvJob(path, { columns });
          const result = await runWithStops(ReadsCsv, [k]);
          assert.equal(result.status, 'completed');
          assert.deepEqual(seen, whole, `stopped after ${k} record(s)`);
          assert.equal(result.state.iterations, whole.length);
        }
      });
    }
  }

  test('a UTF-16LE file behind its BOM: the BOM sets the encoding on a resumed run too', async (t) => {
    const path = join(tempDir(t), 'utf16.csv');
    writeFileSync(path, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(TRICKY_ROWS.join('\r\n') + '\r\n', 'utf16le')]));
    const whole = parseWhole(path, { columns: true });
    assert.deepEqual((whole[1] as Record<string, string>).note, '日本語テキスト');
    for (let k = 1; k <= whole.length; k++) {
      const { ReadsCsv, seen } = csvJob(path, { columns: true });
      await runWithStops(ReadsCsv, [k]);
      assert.deepEqual(seen, whole, `stopped after ${k} record(s)`);
    }
  });

  test('the cursor is the byte offset where the next record starts, and the record number', async (t) => {
    const text = BOM + TRICKY_ROWS.join('\r\n');
    const path = writeCsv(tempDir(t), 'offsets.csv', text);
    const { ReadsCsv, cursors } = csvJob(path, { columns: true });
    await runInline(ReadsCsv, {});
    const bytes = readFileSync(path);
    const lineStarts = ['2,', '3,', '4,', '5,', '6,'].map((start) => bytes.indexOf(`\r\n${start}`) + 2);
    assert.deepEqual(
      cursors.map((c) => c.offset),
      [...lineStarts, bytes.length],
    );
    assert.deepEqual(
      cursors.map((c) => c.record),
      [1, 2, 3, 4, 5, 6],
    );
    assert.ok(cursors.every((c) => typeof c.header === 'string' && c.header === cursors[0]!.header));
    assert.deepEqual(Object.keys(cursors[0]!), ['offset', 'record', 'header']);
  });

  test('a bigger file, with small reads so records straddle chunks: resumed at a spread of points, and stopped every few records', async (t) => {
    const path = writeCsv(tempDir(t), 'big.csv', bigCsv(3000));
    const whole = parseWhole(path, { columns: true });
    assert.equal(whole.length, 3000);
    for (const k of [1, 2, 17, 333, 1000, 1499, 2500, 2998, 2999, 3000]) {
      const { ReadsCsv, seen } = csvJob(path, { columns: true, highWaterMark: k % 2 ? 97 : 65536 });
      await runWithStops(ReadsCsv, [k]);
      assert.deepEqual(seen, whole, `stopped after ${k} records`);
    }
    const { ReadsCsv, seen } = csvJob(path, { columns: true, highWaterMark: 1024 });
    const stops = Array.from({ length: 200 }, (_, i) => 1 + ((i * 37) % 41));
    const result = await runWithStops(ReadsCsv, stops);
    assert.ok(result.state.timesInterrupted >= 100, `${result.state.timesInterrupted} interruptions`);
    assert.deepEqual(seen, whole);
  });

  test('a resumed run seeks: it reads the head and what follows the offset, not the records before it', async (t) => {
    const path = writeCsv(tempDir(t), 'seek.csv', bigCsv(2000));
    const parsed: string[] = [];
    const { ReadsCsv, seen } = csvJob(path, {
      columns: true,
      cast: (value, context) => {
        if (context.index === 0 && !context.header) parsed.push(value);
        return value;
      },
    });
    const first = await runInline(ReadsCsv, {}, { maxIterations: 1990 });
    parsed.length = 0;
    await runInline(ReadsCsv, {}, { state: first.state });
    assert.equal(seen.length, 2000);
    // The first record twice (once to check the header, once to prime the parse), then the ten after the offset.
    assert.deepEqual(parsed, ['1', '1', ...Array.from({ length: 10 }, (_, i) => String(1991 + i))]);
  });

  test('columns given as a function or an array, from_line, comments and empty lines resume like a run that never stopped', async (t) => {
    const dir = tempDir(t);
    const path = writeCsv(dir, 'preamble.csv', 'exported by a tool\n# generated\nid,name\n1,a\n\n# note\n2,"b\nb"\n3,c\n\n');
    const cases: Record<string, unknown>[] = [
      { from_line: 3, columns: (header: string[]) => header.map((h) => h.toUpperCase()), comment: '#', skip_empty_lines: true },
      { fromLine: 4, columns: ['key', 'value'], comment: '#', skipEmptyLines: true },
      { from_line: 3, comment: '#', skip_empty_lines: true },
    ];
    for (const options of cases) {
      const whole = parseWhole(path, options);
      assert.ok(whole.length >= 2);
      for (let k = 1; k <= whole.length; k++) {
        const { ReadsCsv, seen } = csvJob(path, options as CsvRecordsOptions);
        await runWithStops(ReadsCsv, [k]);
        assert.deepEqual(seen, whole, `${JSON.stringify(options)}, stopped after ${k}`);
      }
    }
  });

  test('the field count and the header come from the top of the file on a resume too: skip_records_with_error skips the same records', async (t) => {
    // Record 3 has two fields where the others have three: a full parse skips it, so must a run resumed just before it.
    const path = writeCsv(tempDir(t), 'ragged.csv', 'a,b,c\n1,2,3\n4,5,6\n7,8\n9,10,11\n12,13,14\n');
    for (const columns of [true, false]) {
      const skipped: string[] = [];
      const options = { columns, skip_records_with_error: true, on_skip: (_error: unknown, raw: string | undefined) => void skipped.push(String(raw)) };
      const whole = parseWhole(path, { columns, skip_records_with_error: true });
      for (let k = 1; k <= whole.length; k++) {
        const { ReadsCsv, seen } = csvJob(path, options);
        await runWithStops(ReadsCsv, [k]);
        assert.deepEqual(seen, whole, `columns ${columns}, stopped after ${k}`);
      }
      assert.ok(skipped.length >= whole.length - 1, 'on_skip ran for the bad record');
    }
  });

  test('from and to count records from the start of the file, across resumes', async (t) => {
    const path = writeCsv(tempDir(t), 'range.csv', bigCsv(50));
    for (const range of [{ from: 5 }, { to: 12 }, { from: 3, to: 9 }, { from: '10', to: '10' }]) {
      const whole = parseWhole(path, { columns: true, ...range });
      for (const k of [1, 2, 3, whole.length - 1]) {
        const { ReadsCsv, seen, cursors } = csvJob(path, { columns: true, ...range } as CsvRecordsOptions);
        await runWithStops(ReadsCsv, [k]);
        assert.deepEqual(seen, whole, `${JSON.stringify(range)}, stopped after ${k}`);
        assert.equal(cursors[0]!.record, Number(range.from ?? 1));
      }
    }
  });

  test('on_record sees the record number and byte offset from the start of the file, and may drop records', async (t) => {
    const path = writeCsv(tempDir(t), 'on-record.csv', 'n\n1\n2\n3\n4\n5\n6\n');
    const contexts: [number, number][] = [];
    const { ReadsCsv, seen, cursors } = csvJob(path, {
      columns: true,
      on_record: (record: { n: string }, context) => {
        contexts.push([context.records, context.bytes]);
        const n = Number(record.n);
        return n % 2 ? null : n;
      },
    });
    await runWithStops(ReadsCsv, [1, 1]);
    assert.deepEqual(seen, [2, 4, 6]);
    assert.deepEqual(
      cursors.map((c) => [c.record, c.offset]),
      [
        [2, 6],
        [4, 10],
        [6, 14],
      ],
    );
    // The head's record is parsed again on each resume but not handed to on_record.
    assert.deepEqual(contexts, [
      [1, 4],
      [2, 6],
      [3, 8],
      [4, 10],
      [5, 12],
      [6, 14],
    ]);
  });

  test('a file truncated under the cursor fails with ERR_FILE_CHANGED before any record, naming the path and both sizes', async (t) => {
    const path = writeCsv(tempDir(t), 'shrinks.csv', bigCsv(100));
    const { ReadsCsv, seen } = csvJob(path, { columns: true });
    const first = await runInline(ReadsCsv, {}, { maxIterations: 60 });
    const offset = first.state.cursor!.offset;
    truncateSync(path, 1000);
    const error = await runInline(ReadsCsv, {}, { state: first.state }).then(
      () => assert.fail('resumed over a truncated file'),
      (thrown: unknown) => thrown,
    );
    assert.ok(error instanceof FileChangedError);
    assert.equal(error.code, 'ERR_FILE_CHANGED');
    assert.equal(error.change, 'truncated');
    assert.equal(error.path, path);
    assert.equal(error.size, 1000);
    assert.equal(error.offset, offset);
    assert.match(error.message, new RegExp(`${path}.* 1000 bytes, shorter than the cursor's offset of ${offset} bytes`));
    assert.equal(seen.length, 60, 'nothing yielded after the change');
    assert.deepEqual(error.state?.cursor, first.state.cursor, 'the saved cursor is kept');
  });

  test('a file rewritten under the cursor, or a header that changed, fails with ERR_FILE_CHANGED before any record', async (t) => {
    const dir = tempDir(t);
    const original = 'id,name\n1,alpha\n2,beta\n3,gamma\n';
    const cursorAfter = async (path: string, k: number, options: CsvRecordsOptions = { columns: true }) => {
      writeFileSync(path, original);
      const { ReadsCsv } = csvJob(path, options);
      return (await runInline(ReadsCsv, {}, { maxIterations: k })).state;
    };
    const resume = async (path: string, state: JobState<CsvCursor>, options: CsvRecordsOptions = { columns: true }) => {
      const { ReadsCsv, seen } = csvJob(path, options);
      const error = await runInline(ReadsCsv, {}, { state }).then(
        () => assert.fail('resumed over a changed file'),
        (thrown: unknown) => thrown,
      );
      assert.deepEqual(seen, []);
      assert.ok(error instanceof FileChangedError, String(error));
      return error;
    };

    const path = join(dir, 'changes.csv');
    let state = await cursorAfter(path, 1);
    writeFileSync(path, 'id,name\n1,alphabet\n2,beta\n3,gamma\n');
    assert.equal((await resume(path, state)).change, 'boundary', 'the offset now falls inside a record');

    state = await cursorAfter(path, 1);
    writeFileSync(path, 'id,label\n1,alpha\n2,beta\n3,gamma\n');
    const header = await resume(path, state);
    assert.equal(header.change, 'header');
    assert.match(header.message, /header row is not the one the cursor was saved under/);

    // A last record with no newline is complete only at the end of the file: appending to it changes it.
    writeFileSync(path, 'id,name\n1,alpha\n2,beta');
    const { ReadsCsv } = csvJob(path, { columns: true });
    state = (await runInline(ReadsCsv, {})).state;
    appendFileSync(path, 'ine\n3,gamma\n');
    state.status = 'interrupted';
    assert.equal((await resume(path, state)).change, 'boundary');

    // Without a header the same rewrite is caught by the boundary check.
    state = await cursorAfter(path, 3, {});
    writeFileSync(path, 'id,name\n1,alpha\n2,betamax\n3,gamma\n');
    assert.equal((await resume(path, state, {})).change, 'boundary');
  });

  test('a cursor of the wrong shape fails with ERR_INVALID_CURSOR, naming the enumerator and the file, before any record', async (t) => {
    const path = writeCsv(tempDir(t), 'users.csv', 'id\n1\n2\n');
    const bad: [unknown, RegExp][] = [
      [5, /expected an object \{ offset, record \}/],
      [[4, 1], /expected an object/],
      [{ offset: '4', record: 1 }, /offset must be a byte offset/],
      [{ offset: 4 }, /record must be a record number/],
      [{ offset: 0, record: 1 }, /offset must be a byte offset, an integer >= 1/],
      [{ offset: 4, record: 1, line: 2 }, /unknown key\(s\) line/],
      [{ offset: 4, record: 1 }, /header is missing/],
    ];
    for (const [cursor, problem] of bad) {
      assert.throws(
        () => csvRecords(path, { columns: true, cursor: cursor as CsvCursor }),
        (error: unknown) => {
          assert.ok(error instanceof InvalidCursorError);
          assert.equal(error.code, 'ERR_INVALID_CURSOR');
          assert.match(error.message, new RegExp(`^csvRecords\\(${path.replaceAll('/', '\\/')}\\) cannot resume from the saved cursor`));
          assert.match(error.message, problem);
          return true;
        },
      );
    }
    assert.throws(() => csvRecords(path, { cursor: { offset: 3, record: 1, header: 'x' } }), /these options read no header row/);
    assert.throws(() => csvBatches(path, { batchSize: 2, cursor: 'x' as never }), /^InvalidCursorError: csvBatches\(/);

    const { ReadsCsv, seen } = csvJob(path, { columns: true });
    const state = JSON.parse(JSON.stringify((await runInline(ReadsCsv, {}, { maxIterations: 1 })).state));
    state.cursor = { offset: '3' };
    await assert.rejects(runInline(ReadsCsv, {}, { state }), InvalidCursorError);
    assert.equal(seen.length, 1, 'no record after the refused cursor');
  });

  test('options that would break offsets are refused with ERR_INVALID_OPTION; csv-parse refuses its own bad options', (t) => {
    const path = writeCsv(tempDir(t), 'x.csv', 'a\n1\n');
    for (const [option, value] of [
      ['to_line', 3],
      ['toLine', 3],
      ['info', true],
      ['raw', true],
      ['objname', 'a'],
    ] as const) {
      assert.throws(
        () => csvRecords(path, { [option]: value } as CsvRecordsOptions),
        (error: unknown) => error instanceof InvalidOptionError && error.code === 'ERR_INVALID_OPTION' && error.option === option && error.message.includes('left out'),
        option,
      );
    }
    assert.doesNotThrow(() => csvRecords(path, { info: false, raw: undefined, to_line: null } as CsvRecordsOptions));
    for (const batchSize of [0, 1.5, -1, '10', undefined]) {
      assert.throws(() => csvBatches(path, { batchSize } as never), (error: unknown) => error instanceof InvalidOptionError && error.option === 'batchSize');
    }
    assert.throws(() => csvRecords(path, { highWaterMark: 0 }), InvalidOptionError);
    assert.throws(() => csvRecords('', {}), InvalidOptionError);
    assert.throws(() => csvRecords(path, { from: -2 }), /from must be a positive integer/);
    assert.throws(() => csvRecords(path, { delimiter: 5 as never }), /delimiter/);
  });

  test('a missing file fails with ENOENT naming the path; a directory is refused, naming it', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'nowhere.csv');
    const { ReadsCsv } = csvJob(path);
    await assert.rejects(runInline(ReadsCsv, {}), (error: NodeJS.ErrnoException) => error.code === 'ENOENT' && error.message.includes(path));
    await assert.rejects(runInline(csvJob(dir).ReadsCsv, {}), (error: unknown) => error instanceof InvalidOptionError && error.message.includes(dir));
  });

  test('a malformed record fails the run at the last good cursor, with csv-parse error, and closes the file', async (t) => {
    const path = writeCsv(tempDir(t), 'bad.csv', 'a,b\n1,2\n3,"unclosed\n4,5\n');
    const { ReadsCsv, seen } = csvJob(path, { columns: true });
    const error = await runInline(ReadsCsv, {}).then(
      () => assert.fail('parsed a malformed file'),
      (thrown: { code?: string; state?: JobState<CsvCursor> }) => thrown,
    );
    assert.equal(error.code, 'CSV_QUOTE_NOT_CLOSED');
    assert.deepEqual(seen, [{ a: '1', b: '2' }]);
    assert.deepEqual(error.state?.cursor, { offset: 8, record: 1, header: (error.state?.cursor as CsvCursor).header });
    assert.deepEqual(openFds(path), []);
  });

  test('a malformed record in the middle of a big file: every good record before it runs, and the cursor is the last of them', async (t) => {
    const lines = ['a,b,c'];
    for (let i = 1; i <= 50_000; i++) lines.push(i === 40_000 ? `${i},x,y,z` : `${i},x,y`);
    const path = writeCsv(tempDir(t), 'wide.csv', `${lines.join('\n')}\n`);
    const { ReadsCsv, seen } = csvJob(path, { columns: true });
    const error = await runInline(ReadsCsv, {}).then(
      () => assert.fail('parsed a malformed file'),
      (thrown: { code?: string; state?: JobState<CsvCursor> }) => thrown,
    );
    assert.equal(error.code, 'CSV_RECORD_INCONSISTENT_COLUMNS');
    assert.equal(seen.length, 39_999, 'the records parsed before the bad one are not dropped with it');
    assert.equal(error.state?.cursor?.record, 39_999);
    assert.equal(error.state?.iterations, 39_999);
    assert.deepEqual(openFds(path), []);
  });

  test('extent reports bytes: the cursor offset out of the file size', async (t) => {
    const text = bigCsv(200);
    const path = writeCsv(tempDir(t), 'extent.csv', text);
    const size = Buffer.byteLength(text);
    const enumeration = csvRecords(path, { columns: true });
    assert.equal(extentOf(enumeration, undefined, 0), undefined, 'unknown before the file is opened');
    const iterator = enumeration[Symbol.asyncIterator]();
    const first = await iterator.next();
    assert.ok(!first.done);
    const cursor = first.value[1];
    assert.deepEqual(extentOf(enumeration, undefined, 0), { done: 0, total: size, unit: 'bytes' });
    assert.deepEqual(extentOf(enumeration, cursor, 1), { done: cursor.offset, total: size, unit: 'bytes' });
    await iterator.return!();

    const { ReadsCsv } = csvJob(path, { columns: true });
    const half = (await runInline(ReadsCsv, {}, { maxIterations: 100 })).state;
    const resumed = csvRecords(path, { columns: true, cursor: half.cursor });
    const resumedIterator = resumed[Symbol.asyncIterator]();
    const next = await resumedIterator.next();
    const extent = extentOf(resumed, next.value![1], 101)!;
    assert.ok(Math.abs(extent.done / extent.total! - 101 / 200) < 0.1, `${extent.done}/${extent.total}`);
    assert.equal(extent.done, next.value![1].offset);
    await resumedIterator.return!();
  });

  test('an early stop closes the file: return() resolves with its descriptor closed', async (t) => {
    const path = writeCsv(tempDir(t), 'early.csv', bigCsv(5000));
    for (const batchSize of [undefined, 7]) {
      const { ReadsCsv, seen } = csvJob(path, { columns: true, batchSize });
      const result = await runInline(ReadsCsv, {}, { maxIterations: 3 });
      assert.equal(result.status, 'interrupted');
      assert.equal(seen.length, 3);
      assert.deepEqual(openFds(path), [], `batchSize ${batchSize}: no descriptor left open after the run`);
      const resumed = await runInline(ReadsCsv, {}, { state: result.state, maxIterations: 2 });
      assert.equal(resumed.status, 'interrupted');
      assert.deepEqual(openFds(path), [], 'nor after a resumed run, which also reads the head');
    }
    const iterator = csvRecords(path)[Symbol.asyncIterator]();
    await iterator.next();
    assert.equal(openFds(path).length, 1, 'open while iterating');
    await iterator.return!();
    assert.deepEqual(openFds(path), []);
    for await (const _ of csvRecords(path)) break;
    assert.deepEqual(openFds(path), [], 'a for-await that breaks closes it too');
  });
});

describe('csvBatches', () => {
  test('batches of sizes that do and do not divide the record count, resumed at every batch: each record once, in order', async (t) => {
    const path = writeCsv(tempDir(t), 'batches.csv', bigCsv(30));
    const whole = parseWhole(path, { columns: true });
    for (const batchSize of [1, 5, 7, 29, 30, 31, 100]) {
      const batches = Math.ceil(30 / batchSize);
      for (let k = 0; k <= batches; k++) {
        const { ReadsCsv, seen, cursors } = csvJob(path, { columns: true, batchSize });
        const result = await runWithStops(ReadsCsv, [k]);
        assert.equal(result.state.iterations, batches);
        assert.deepEqual((seen as unknown[][]).flat(), whole, `batchSize ${batchSize}, stopped after ${k} batch(es)`);
        assert.deepEqual(
          (seen as unknown[][]).map((batch) => batch.length),
          Array.from({ length: batches }, (_, i) => Math.min(batchSize, 30 - i * batchSize)),
        );
        // Each batch's cursor is its last record's.
        assert.deepEqual(
          cursors.map((c) => c.record),
          Array.from({ length: batches }, (_, i) => Math.min((i + 1) * batchSize, 30)),
        );
      }
    }
  });

  test('a batch cursor resumes csvRecords after the batch, and the reverse: the cursor format is shared', async (t) => {
    const path = writeCsv(tempDir(t), 'shared.csv', bigCsv(20));
    const whole = parseWhole(path, { columns: true });
    const batches = csvJob(path, { columns: true, batchSize: 6 });
    const first = await runInline(batches.ReadsCsv, {}, { maxIterations: 2 });
    const records = csvJob(path, { columns: true });
    await runInline(records.ReadsCsv, {}, { state: first.state });
    assert.deepEqual([...(batches.seen as unknown[][]).flat(), ...records.seen], whole);
  });
});
