import { ControlRequests, asControl, type CheckpointResult, type CheckpointWrite, type ControlChange, type ControlRequest, type JobStore, type StoredFields } from './job-store.js';

/**
 * The table beside BullMQ's `job` table that holds each job's saved state and control request. A table of our own,
 * created on first use, rather than a column: BullMQ's migrations own the `job` table and stay untouched. Its rows
 * go with their job (ON DELETE CASCADE), so a job id used again after a removal starts from nothing, as a new Redis
 * job hash does.
 */
export const STATE_TABLE = 'job_iteration_state';

/**
 * What the store needs of BullMQ's PostgreSQL backend (`PostgresQueueBackend`), structurally so that the store
 * imports no bullmq: the queue's name (the `queue` column), the schema its tables live in, and its query method,
 * which waits for the connection (and BullMQ's migrations) before the first query.
 */
export interface PostgresQueueLike {
  readonly queueName: string;
  readonly schema: string;
  query(text: string, params?: unknown[]): Promise<{ rows: any[]; rowCount: number | null }>;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Creates the state table in `schema` if it is missing. One simple query is one transaction: the advisory lock keeps
 * two processes starting at once from racing on the catalog (CREATE TABLE IF NOT EXISTS alone can still fail on a
 * concurrent create). Needs BullMQ's `job` table, which its rows reference.
 */
export function stateTableDdl(schema: string): string {
  const q = quoteIdent(schema);
  return `
    SELECT pg_advisory_xact_lock(hashtext('job-iteration:setup'));
    CREATE TABLE IF NOT EXISTS ${q}.${quoteIdent(STATE_TABLE)} (
      queue   text NOT NULL,
      job_id  text NOT NULL,
      state   text,
      control text CHECK (control IN ('cancel', 'pause')),
      PRIMARY KEY (queue, job_id),
      FOREIGN KEY (queue, job_id) REFERENCES ${q}.job (queue, id) ON DELETE CASCADE
    )`;
}

/** A `JobStore` in BullMQ's PostgreSQL schema, on the pool the queue or worker already has. */
export class PostgresJobStore extends ControlRequests implements JobStore {
  readonly #backend: PostgresQueueLike;
  readonly #job: string;
  readonly #state: string;
  readonly #publish: string;
  #ready: Promise<void> | undefined;

  constructor(backend: PostgresQueueLike) {
    super();
    this.#backend = backend;
    const schema = quoteIdent(backend.schema);
    // Qualified names: a caller's own pg.Pool need not have BullMQ's schema on its search_path.
    this.#job = `${schema}.job`;
    this.#state = `${schema}.${quoteIdent(STATE_TABLE)}`;
    this.#publish = `${schema}.publish_event`;
  }

  /** Creates the state table once, if it is missing. */
  #setup(): Promise<void> {
    this.#ready ??= (async () => {
      const { rows } = await this.#backend.query('SELECT to_regclass($1) IS NOT NULL AS present', [this.#state]);
      if (rows[0]?.present) return;
      await this.#backend.query(stateTableDdl(this.#backend.schema));
    })().catch((error) => {
      // A failed setup (server down, not migrated yet) is tried again on the next call, not remembered.
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async #query(text: string, params: unknown[]): Promise<{ rows: any[]; rowCount: number | null }> {
    await this.#setup();
    return this.#backend.query(text, params);
  }

  async read(jobIds: readonly string[]): Promise<StoredFields[]> {
    if (jobIds.length === 0) return [];
    const { rows } = await this.#query(
      `SELECT s.control, s.state
         FROM unnest($2::text[]) WITH ORDINALITY AS ids(job_id, ord)
         LEFT JOIN ${this.#state} s ON s.queue = $1 AND s.job_id = ids.job_id
        ORDER BY ids.ord`,
      [this.#backend.queueName, jobIds],
    );
    return rows.map((row) => ({ control: asControl(row.control), state: row.state ?? undefined }));
  }

  async readControl(jobIds: readonly string[]): Promise<(ControlRequest | undefined)[]> {
    return (await this.read(jobIds)).map((fields) => fields.control);
  }

  /**
   * One statement, so one transaction. The UPDATE of the job row is the fence: it matches only while the job is
   * active under our token, and it locks the row, so a stalled-job sweep or a finish by another worker either waits
   * for this write or has already changed the token and this write matches nothing (READ COMMITTED re-checks the
   * row it waited for). Only then is the state saved, the progress published as BullMQ's `update_progress` does,
   * and the stall counter reset (stalls are counted in the state instead, across checkpoints).
   */
  async checkpoint(jobId: string, token: string, write: CheckpointWrite): Promise<CheckpointResult> {
    const { rows } = await this.#query(
      `WITH owned AS (
         UPDATE ${this.#job}
            SET stalled_count = 0,
                progress = CASE WHEN $4::text = '' THEN progress ELSE $4::text::jsonb END
          WHERE queue = $1 AND id = $2 AND state = 'active' AND lock_token = $3
         RETURNING id
       ), saved AS (
         INSERT INTO ${this.#state} AS s (queue, job_id, state)
         SELECT $1, id, $5::text FROM owned
         ON CONFLICT (queue, job_id) DO UPDATE
            SET state = EXCLUDED.state,
                control = CASE WHEN $6::boolean THEN NULL ELSE s.control END
         RETURNING s.control
       ), published AS (
         SELECT ${this.#publish}($1, 'progress', jsonb_build_object('jobId', $2::text, 'data', $4::text))
           FROM owned WHERE $4::text <> ''
       )
       SELECT (SELECT count(*) FROM owned)::int AS owned,
              (SELECT control FROM saved) AS control,
              (SELECT count(*) FROM published)::int AS published`,
      [this.#backend.queueName, jobId, token, write.progress, write.state, write.clearControl],
    );
    const row = rows[0] ?? {};
    return { owned: row.owned === 1, control: asControl(row.control) };
  }

  async holdsLock(jobId: string, token: string): Promise<boolean> {
    // The token alone decides: BullMQ's PostgreSQL backend clears it whenever the job leaves `active` or is taken
    // back as stalled, and renews a lock past its expiry as long as it was not taken back.
    const { rows } = await this.#query(
      `SELECT EXISTS (SELECT 1 FROM ${this.#job} WHERE queue = $1 AND id = $2 AND state = 'active' AND lock_token = $3) AS held`,
      [this.#backend.queueName, jobId, token],
    );
    return rows[0]?.held === true;
  }

  async unheld(jobIds: readonly string[]): Promise<Set<string>> {
    if (jobIds.length === 0) return new Set();
    // An active row's lock is its token and its expiry: past `locked_until_ms`, no worker renews it.
    const { rows } = await this.#query(
      `SELECT id FROM ${this.#job}
        WHERE queue = $1 AND id = ANY($2::text[]) AND state = 'active'
          AND (lock_token IS NULL OR locked_until_ms IS NULL OR locked_until_ms < (extract(epoch FROM clock_timestamp()) * 1000)::bigint)`,
      [this.#backend.queueName, [...jobIds]],
    );
    return new Set(rows.map((row: { id: string }) => row.id));
  }

  /**
   * Two statements, each atomic: the row is made for a job that exists (never for one that does not), then changed
   * under a row lock that returns the request it replaced. A job removed in between takes its row with it, and the
   * change then reports that the job does not exist.
   */
  protected async changeControl(jobId: string, request: string, keepCancel: boolean): Promise<ControlChange> {
    const queue = this.#backend.queueName;
    await this.#query(
      `INSERT INTO ${this.#state} (queue, job_id)
       SELECT queue, id FROM ${this.#job} WHERE queue = $1 AND id = $2
       ON CONFLICT (queue, job_id) DO NOTHING`,
      [queue, jobId],
    );
    const { rows } = await this.#query(
      `UPDATE ${this.#state} AS s
          SET control = CASE WHEN $4::boolean AND old.control = 'cancel' THEN old.control ELSE NULLIF($3::text, '') END
         FROM (SELECT queue, job_id, control FROM ${this.#state} WHERE queue = $1 AND job_id = $2 FOR UPDATE) AS old
        WHERE s.queue = old.queue AND s.job_id = old.job_id
       RETURNING old.control AS previous`,
      [queue, jobId, request, keepCancel],
    );
    if (rows.length === 0) return { exists: false, previous: undefined };
    return { exists: true, previous: asControl(rows[0].previous) };
  }

  /**
   * The job row as the Redis hash would show it. BullMQ stores `data` as jsonb, so it always parses and this is
   * only a fallback; it keeps the names `loadJob` reads.
   */
  async readRaw(jobId: string): Promise<Record<string, string>> {
    const { rows } = await this.#query(
      `SELECT j.name, j.data::text AS data, j.progress::text AS progress, j.attempts_made::text AS "attemptsMade",
              j.failed_reason AS "failedReason", j.added_at_ms::text AS timestamp,
              j.processed_at_ms::text AS "processedOn", j.finished_at_ms::text AS "finishedOn",
              s.state AS "ji:state", s.control AS "ji:control"
         FROM ${this.#job} j LEFT JOIN ${this.#state} s ON s.queue = j.queue AND s.job_id = j.id
        WHERE j.queue = $1 AND j.id = $2`,
      [this.#backend.queueName, jobId],
    );
    const row = rows[0];
    if (!row) return {};
    return Object.fromEntries(Object.entries(row).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
  }

  async replaceState(jobId: string, stateJson: string): Promise<boolean> {
    const { rowCount } = await this.#query(
      `INSERT INTO ${this.#state} (queue, job_id, state)
       SELECT queue, id, $3::text FROM ${this.#job} WHERE queue = $1 AND id = $2
       ON CONFLICT (queue, job_id) DO UPDATE SET state = EXCLUDED.state`,
      [this.#backend.queueName, jobId, stateJson],
    );
    return (rowCount ?? 0) > 0;
  }
}
