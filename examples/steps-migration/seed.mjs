// Creates the table the migration example works on, if it is missing, and fills it with users whose emails are
// written as people type them: mixed case, some with spaces around.
//
//   node examples/steps-migration/seed.mjs [--table example_members] [--rows 100000]
//
// Connects to DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test. Running it again adds no row twice.
import { parseArgs } from 'node:util';
import pg from 'pg';
import { DATABASE_URL, tableName } from './settings.mjs';

const { values } = parseArgs({ options: { table: { type: 'string' }, rows: { type: 'string', default: '100000' } } });
const table = tableName(values.table);
const rows = Number(values.rows);
if (!Number.isSafeInteger(rows) || rows < 0) throw new Error(`--rows must be a whole number; got ${values.rows}`);

const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 10_000 });
await client.connect();
try {
  await client.query(`CREATE TABLE IF NOT EXISTS ${table} (id bigint PRIMARY KEY, email text NOT NULL)`);
  const { rowCount } = await client.query(
    `INSERT INTO ${table} (id, email)
     SELECT i, CASE WHEN i % 5 = 0 THEN ' ' ELSE '' END
               || (ARRAY['User', 'user', 'USER'])[1 + i % 3] || i || '@'
               || (ARRAY['Example.com', 'example.ORG', 'mail.test'])[1 + i % 3]
               || CASE WHEN i % 7 = 0 THEN '  ' ELSE '' END
       FROM generate_series(1, $1::bigint) AS i
     ON CONFLICT (id) DO NOTHING`,
    [rows],
  );
  // Fresh statistics, as a table in service has: the backfill's progress reads its row count from them.
  await client.query(`ANALYZE ${table}`);
  console.log(`${table}: ${rowCount} row(s) added, ${rows} in all`);
} finally {
  await client.end();
}
