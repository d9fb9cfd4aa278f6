// Normalises the emails of a users table in four steps: add a column, backfill it in batches of 500 rows, check
// every row, then swap the new column in for the old one.
//
//   node examples/steps-migration/seed.mjs
//   node dist/src/cli/main.js run examples/steps-migration/job.mjs --job migrate-emails
//
// Press Ctrl-C during the backfill: the batch in flight finishes, the cursor (the step, the steps done and the last
// id done) is saved under .job-iteration/, and the process exits 75. Run the same command again and it goes on with
// the next batch: the column is not added again. Once the swap is done, the same command does nothing. Params, all
// optional: --params '{"table": "example_members", "batchSize": 500, "pauseMs": 20}'.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { StepJob } from 'job-iteration';
import { postgresBatches } from 'job-iteration/postgres';
import { DATABASE_URL, tableName } from './settings.mjs';

// One definition for the backfill that writes it and the check that compares against it.
const NORMALIZED = 'lower(btrim(email))';

async function columnsOf(client, table) {
  const { rows } = await client.query(
    'SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1',
    [table],
  );
  return new Set(rows.map((row) => row.column_name));
}

export class MigrateEmails extends StepJob {
  static jobName = 'migrate-emails';

  #pool;

  // Every step is called with the job as `this`: one pool per run, opened on first use and ended in onShutdown.
  get pool() {
    this.#pool ??= new pg.Pool({ connectionString: DATABASE_URL, max: 2, connectionTimeoutMillis: 10_000 });
    return this.#pool;
  }

  static steps = [
    {
      name: 'add-column',
      async run({ table } = {}) {
        const name = tableName(table);
        // A table migrated before (state file lost, or --restart) would be backfilled from emails already swapped.
        if ((await columnsOf(this.pool, name)).has('email_old')) throw new Error(`${name} has an email_old column: its emails were migrated already`);
        await this.pool.query(`ALTER TABLE ${name} ADD COLUMN IF NOT EXISTS email_normalized text`);
      },
    },
    {
      name: 'backfill',
      // Batches of rows after the saved cursor, in id order; measured in rows, so progress reads
      // "step 2/4 backfill: 41%".
      buildEnumerator({ table, batchSize = 500 } = {}, { cursor }) {
        return postgresBatches(this.pool, { table: tableName(table), key: 'id', columns: ['id'], batchSize, cursor });
      },
      async eachIteration(users, { table, pauseMs = 20 } = {}) {
        // Idempotent: after a crash, the batch since the last checkpoint runs again and writes the same values.
        await this.pool.query(`UPDATE ${tableName(table)} SET email_normalized = ${NORMALIZED} WHERE id = ANY($1::bigint[])`, [
          users.map((user) => user.id),
        ]);
        // A backfill on a busy primary leaves room for the application's own queries between batches.
        if (pauseMs > 0) await sleep(pauseMs);
      },
    },
    {
      name: 'verify',
      // The application keeps writing while the backfill runs: an email changed behind the cursor, or a row written
      // without the new column, would be lost by the swap.
      async run({ table } = {}) {
        const name = tableName(table);
        const { rows } = await this.pool.query(`SELECT count(*)::int AS wrong FROM ${name} WHERE email_normalized IS DISTINCT FROM ${NORMALIZED}`);
        const { wrong } = rows[0];
        if (wrong > 0) {
          throw new Error(
            `${name}: ${wrong} row(s) have an email_normalized that is missing or does not match their email; ` +
              'make every writer set it, then run again with --restart',
          );
        }
      },
    },
    {
      name: 'swap',
      async run({ table } = {}) {
        const name = tableName(table);
        const client = await this.pool.connect();
        try {
          await client.query('BEGIN');
          // Taken before reading the catalog, so that what it says holds until COMMIT, even with a second run.
          await client.query(`LOCK TABLE ${name} IN ACCESS EXCLUSIVE MODE`);
          const columns = await columnsOf(client, name);
          // A run that committed the swap and stopped before its checkpoint: the next run finds it done.
          const swapped = columns.has('email_old') && !columns.has('email_normalized');
          if (!swapped) {
            if (!columns.has('email_normalized') || columns.has('email_old')) {
              throw new Error(`${name}: the swap needs email and email_normalized, and no email_old; found ${[...columns].join(', ')}`);
            }
            await client.query(`ALTER TABLE ${name} RENAME COLUMN email TO email_old`);
            await client.query(`ALTER TABLE ${name} RENAME COLUMN email_normalized TO email`);
            // SET NOT NULL fails on a row inserted without the new column since verify, and rolls the swap back.
            // The old column is left nullable so that writers that stopped setting it are not refused.
            await client.query(`ALTER TABLE ${name} ALTER COLUMN email SET NOT NULL, ALTER COLUMN email_old DROP NOT NULL`);
          }
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw error;
        } finally {
          client.release();
        }
      },
    },
  ];

  onStepStart(name) {
    console.log(`${label(name)} started`);
  }

  onStepComplete(name) {
    console.log(`${label(name)} done`);
  }

  async onShutdown() {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.end();
  }
}

function label(name) {
  const names = MigrateEmails.steps.map((step) => step.name);
  return `step ${names.indexOf(name) + 1}/${names.length} ${name}`;
}
