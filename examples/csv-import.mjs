// An example import: streams a CSV file of users into a PostgreSQL table, 500 rows per batch, resumable by byte offset.
//
//   node dist/src/cli/main.js run examples/csv-import.mjs --job csv-import
//
// The first run writes the CSV (100,000 rows, some fields quoted with commas, quotes, newlines and accents) if the
// file is missing, and creates the table. Press Ctrl-C half-way: the batch in flight finishes, the cursor (the byte
// offset after its last row) is saved, and the process exits 75. Run the same command again: it seeks to that offset
// and goes on. PostgreSQL at 127.0.0.1:5432, database `test`, user `postgres` (set DATABASE_URL to use another).
// Params (`--params '{"rows":20000}'`): file, table, rows, batchSize, delayMs (a pause after each batch, to watch it).
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { IterableJob } from 'job-iteration';
import { csvBatches } from 'job-iteration/csv';

const DEFAULTS = { file: '.job-iteration/csv-import/users.csv', table: 'csv_import_users', rows: 100_000, batchSize: 500, delayMs: 0 };
const URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export class CsvImport extends IterableJob {
  static jobName = 'csv-import';

  async onStart(params) {
    const { file, rows } = { ...DEFAULTS, ...params };
    if (!existsSync(file)) writeUsersCsv(file, rows);
    await this.db().query(
      `CREATE TABLE IF NOT EXISTS ${table(params)} (id integer PRIMARY KEY, name text NOT NULL, email text NOT NULL, city text NOT NULL, note text NOT NULL)`,
    );
  }

  // Yields [rows, cursor] pairs; the cursor is that of a batch's last row, so a resumed run starts with the next batch.
  buildEnumerator(params, { cursor }) {
    const { file, batchSize } = { ...DEFAULTS, ...params };
    return csvBatches(file, { cursor, columns: true, batchSize });
  }

  // Idempotent: a batch that runs again after a crash inserts nothing twice.
  async eachIteration(rows, params) {
    const columns = ['id', 'name', 'email', 'city', 'note'];
    await this.db().query(
      `INSERT INTO ${table(params)} (${columns.join(', ')})
       SELECT * FROM unnest($1::integer[], $2::text[], $3::text[], $4::text[], $5::text[])
       ON CONFLICT (id) DO NOTHING`,
      columns.map((column) => rows.map((row) => row[column])),
    );
    const { delayMs } = { ...DEFAULTS, ...params };
    if (delayMs > 0) await sleep(delayMs);
  }

  async onShutdown() {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end();
  }

  db() {
    this.pool ??= new pg.Pool({ connectionString: URL, max: 1 });
    return this.pool;
  }
}

function table(params) {
  return pg.escapeIdentifier({ ...DEFAULTS, ...params }.table);
}

/** Writes `rows` users to `file`, through a temporary file so that an interrupted write never leaves half a file. */
function writeUsersCsv(file, rows) {
  const cities = ['Lisbon', 'São Paulo', 'Zürich', '"Washington, D.C."', 'Kraków', '東京'];
  const notes = ['', 'plain', '"says ""hello"""', '"first line\nsecond line"', '"a, b and c"'];
  const lines = ['id,name,email,city,note'];
  for (let id = 1; id <= rows; id++) {
    lines.push(`${id},User ${id},user${id}@example.com,${cities[id % cities.length]},${notes[id % notes.length]}`);
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.partial`, `${lines.join('\n')}\n`);
  renameSync(`${file}.partial`, file);
}
