// Backfills a new column, email_domain, on every row of a users table: 500 rows per UPDATE, walked by primary key.
//
//   node examples/postgres-backfill/seed.mjs
//   node dist/src/cli/main.js run examples/postgres-backfill/job.mjs --job backfill-email-domains
//
// Press Ctrl-C half-way: the batch in flight finishes, the cursor (the last id done) is saved under .job-iteration/,
// and the process exits 75. Run the same command again and it resumes with the next batch. Params, all optional:
// --params '{"table": "example_users", "batchSize": 500, "pauseMs": 20}'.
//
// On a queue, split into 4 partitions that workers run side by side (docs/partitions.md):
//
//   node dist/src/cli/main.js enqueue examples/postgres-backfill/job.mjs --partitions 4
//   node dist/src/cli/main.js work examples/postgres-backfill/job.mjs --processes 2 --concurrency 2
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { IterableJob } from 'job-iteration';
import { keyRanges, postgresBatches } from 'job-iteration/postgres';
import { DATABASE_URL, tableName } from './settings.mjs';

export class BackfillEmailDomains extends IterableJob {
  static jobName = 'backfill-email-domains';

  #pool;

  // One pool per run, opened on first use and ended in onShutdown: the enumerator borrows it, never closes it.
  get pool() {
    this.#pool ??= new pg.Pool({ connectionString: DATABASE_URL, max: 2, connectionTimeoutMillis: 10_000 });
    return this.#pool;
  }

  // Where the job is enqueued in partitions: ranges of ids holding as many users each, one per partition.
  static async partition(params = {}, partitions) {
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1, connectionTimeoutMillis: 10_000 });
    try {
      const ranges = await keyRanges(pool, { table: tableName(params.table), key: 'id', partitions });
      return ranges.map((range) => ({ ...params, range }));
    } finally {
      await pool.end();
    }
  }

  // Once in the job's life (once per partition when split): the schema change the backfill is for.
  async onStart({ table } = {}) {
    await this.pool.query(`ALTER TABLE ${tableName(table)} ADD COLUMN IF NOT EXISTS email_domain text`);
  }

  // Batches of rows after the saved cursor, in id order, within the partition's range when there is one. A batch is
  // done as a whole or not at all.
  buildEnumerator({ table, batchSize = 500, range } = {}, { cursor }) {
    return postgresBatches(this.pool, { table: tableName(table), key: 'id', columns: ['id', 'email'], batchSize, range, cursor });
  }

  async eachIteration(users, { table, pauseMs = 20 } = {}) {
    // Idempotent: after a crash, the batch since the last checkpoint runs again and writes the same values.
    await this.pool.query(
      `UPDATE ${tableName(table)} SET email_domain = split_part(email, '@', 2) WHERE id = ANY($1::bigint[])`,
      [users.map((user) => user.id)],
    );
    // A backfill on a busy primary leaves room for the application's own queries between batches.
    if (pauseMs > 0) await sleep(pauseMs);
  }

  async onShutdown() {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.end();
  }
}
