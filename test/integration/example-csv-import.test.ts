import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'csv-parse/sync';
import pg from 'pg';
import { killAll, runCli, startCli, TEST_TIMEOUT_MS, waitFor } from '../support/process.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

test('examples/csv-import.mjs under `job-iteration run`: SIGTERM half-way, the same command again, every CSV row in the table exactly once', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ji-csv-import-'));
  const table = `csv_import_test_${process.pid}_${Date.now()}`;
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
  t.after(async () => {
    killAll();
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
    await pool.end();
    rmSync(dir, { recursive: true, force: true });
  });
  const rows = 10_000;
  const batchSize = 100;
  const file = join(dir, 'users.csv');
  const stateFile = join(dir, 'state.json');
  const params = { file, table, rows, batchSize, delayMs: 10 };
  const args = ['run', 'examples/csv-import.mjs', '--job', 'csv-import', '--params', JSON.stringify(params), '--state', stateFile];
  const env = { DATABASE_URL };
  const imported = async () => {
    try {
      return Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
    } catch (error) {
      // The job creates its table in onStart: until then, nothing is imported.
      if ((error as { code?: string }).code === '42P01') return 0;
      throw error;
    }
  };

  const first = startCli(args, env);
  await waitFor('a quarter of the rows imported', async () => (await imported()) >= rows / 4, 30_000, 50);
  first.child.kill('SIGTERM');
  const exit = await first.exited;
  assert.equal(exit.code, 75, first.stderr());
  const interrupted = JSON.parse(readFileSync(stateFile, 'utf8')).state;
  assert.equal(interrupted.status, 'interrupted');
  const before = await imported();
  assert.ok(before > 0 && before < rows, `${before} rows imported before the stop`);
  assert.equal(interrupted.cursor.record, before, 'the saved cursor is the last row imported');
  assert.equal(before, interrupted.iterations * batchSize);
  const csv = readFileSync(file);
  assert.equal(interrupted.cursor.offset, csv.indexOf(`\n${before + 1},User `) + 1, 'the offset is where the next row starts');

  const second = await runCli(args, env);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /resuming after cursor \{"offset":\d+,"record":\d+/);
  const completed = JSON.parse(readFileSync(stateFile, 'utf8')).state;
  assert.equal(completed.status, 'completed');
  assert.equal(completed.timesInterrupted, 1);
  assert.equal(completed.iterations, rows / batchSize, 'each batch ran once over the two runs');

  const expected = parse(csv, { columns: true }) as Record<string, string>[];
  assert.equal(expected.length, rows);
  const { rows: stored } = await pool.query(`SELECT id::text AS id, name, email, city, note FROM ${table} ORDER BY ${table}.id`);
  assert.deepEqual(stored, expected, 'every row of the file, once, as written');
});
