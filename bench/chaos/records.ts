/**
 * The item records in PostgreSQL: one schema per run, created at the start and dropped at the end. The fixture
 * job (test/fixtures/chaos-jobs.mjs) inserts a row per finished item and one per attempt at a poison item.
 */
import pg from 'pg';

export interface ItemRow {
  item: number;
  pid: number;
  atMs: number;
}

export class Records {
  readonly pool: pg.Pool;
  constructor(
    readonly url: string,
    readonly schema: string,
  ) {
    this.pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 10_000, statement_timeout: 60_000 });
    this.pool.on('error', () => undefined);
  }

  async create(): Promise<void> {
    await this.pool.query(`CREATE SCHEMA ${this.schema}`);
    // No index but the primary key while the run writes: an insert per item must stay cheap next to a 2 ms item.
    await this.pool.query(`CREATE TABLE ${this.schema}.items (id bigserial PRIMARY KEY, job_key text NOT NULL, item int NOT NULL, pid int NOT NULL, at_ms bigint NOT NULL)`);
    await this.pool.query(`CREATE TABLE ${this.schema}.attempts (id bigserial PRIMARY KEY, job_key text NOT NULL, item int NOT NULL, pid int NOT NULL, at_ms bigint NOT NULL)`);
  }

  async drop(): Promise<void> {
    await this.pool.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`);
  }

  async count(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${this.schema}.items`);
    return Number(rows[0]!.n);
  }

  /**
   * Every job's rows in the order the items finished: by the time each worker stamped, not by insertion. A worker
   * stamps an item, then inserts it; one stopped or starved between the two (a SIGSTOP a few ms after an item)
   * lands its row seconds late, behind the rows of the worker that took its job meanwhile.
   */
  async itemsByJob(): Promise<Map<string, ItemRow[]>> {
    const { rows } = await this.pool.query<[string, number, number, string]>({
      text: `SELECT job_key, item, pid, at_ms FROM ${this.schema}.items ORDER BY at_ms, id`,
      rowMode: 'array',
    });
    const byJob = new Map<string, ItemRow[]>();
    for (const [key, item, pid, at] of rows) {
      let list = byJob.get(key);
      if (!list) byJob.set(key, (list = []));
      list.push({ item, pid, atMs: Number(at) });
    }
    return byJob;
  }

  async attempts(): Promise<{ key: string; item: number; pid: number; atMs: number }[]> {
    const { rows } = await this.pool.query<{ job_key: string; item: number; pid: number; at_ms: string }>(
      `SELECT job_key, item, pid, at_ms FROM ${this.schema}.attempts ORDER BY id`,
    );
    return rows.map((r) => ({ key: r.job_key, item: r.item, pid: r.pid, atMs: Number(r.at_ms) }));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
