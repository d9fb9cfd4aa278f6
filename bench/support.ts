/** What the benchmarks share: their summary statistic, and the loop that runs two sides in turn. */

/** The middle value (the upper one of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/**
 * Runs `a` and `b` once each per round, `rounds` times, alternating which goes first so that neither always runs
 * right after a garbage collection of the other, and calls `report` after each round. Returns every figure of each
 * side, in order.
 */
export async function inTurn(
  rounds: number,
  a: () => Promise<number>,
  b: () => Promise<number>,
  report: (round: number, a: number, b: number) => void,
): Promise<{ a: number[]; b: number[] }> {
  const all = { a: [] as number[], b: [] as number[] };
  for (let round = 1; round <= rounds; round++) {
    let x: number;
    let y: number;
    if (round % 2) {
      x = await a();
      y = await b();
    } else {
      y = await b();
      x = await a();
    }
    all.a.push(x);
    all.b.push(y);
    report(round, x, y);
  }
  return all;
}

/** A client that can run a query: `pg.Client` or `pg.Pool`, without importing pg here. */
interface Sql {
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, number>> }>;
}

/**
 * The table the keyset benchmarks update: `rows` rows keyed by `(a, b)`, 100 rows sharing each value of `a` so that
 * the keyset has to use both columns, and `v` that each run sets to 1 exactly once.
 */
export function keysetTable(admin: Sql, table: string, rows: number) {
  return {
    async fresh(): Promise<void> {
      await admin.query(`DROP TABLE IF EXISTS ${table}`);
      await admin.query(`CREATE UNLOGGED TABLE ${table} (a int NOT NULL, b int NOT NULL, v int NOT NULL DEFAULT 0, note text NOT NULL)`);
      await admin.query(`INSERT INTO ${table} (a, b, note) SELECT i / 100, i, md5(i::text) FROM generate_series(1, $1) AS i`, [rows]);
      await admin.query(`ALTER TABLE ${table} ADD PRIMARY KEY (a, b)`);
      await admin.query(`VACUUM ANALYZE ${table}`);
      // Writes the refill's dirty pages now, not in the middle of the run that follows.
      await admin.query('CHECKPOINT');
    },
    async checkEveryRowOnce(): Promise<void> {
      const { rows: [counts] } = await admin.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE v <> 1)::int AS wrong FROM ${table}`);
      if (counts!.n !== rows || counts!.wrong !== 0) throw new Error(`expected ${rows} rows updated once each; ${counts!.wrong} of ${counts!.n} were not`);
    },
  };
}

/**
 * The baseline of the queue benchmarks, one BullMQ job per item: adds `items` jobs in bulks of `bulk` to `queue`,
 * waits until `worker` completed them all, and returns the milliseconds from the first add; then closes the worker,
 * empties the queue and closes it.
 */
export async function timeOneJobPerItem(
  queue: { addBulk(jobs: Array<{ name: string; data: { i: number }; opts: { removeOnComplete: boolean } }>): Promise<unknown>; obliterate(opts: { force: boolean }): Promise<void>; close(): Promise<void> },
  worker: { on(event: 'completed', listener: () => void): unknown; waitUntilReady(): Promise<unknown>; close(): Promise<void> },
  items: number,
  bulk: number,
): Promise<number> {
  let completed = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((resolve) => (resolveAll = resolve));
  worker.on('completed', () => {
    if (++completed === items) resolveAll();
  });
  await worker.waitUntilReady();
  const started = performance.now();
  for (let from = 0; from < items; from += bulk) {
    const batch = [];
    for (let i = from; i < Math.min(from + bulk, items); i++) batch.push({ name: 'item', data: { i }, opts: { removeOnComplete: true } });
    await queue.addBulk(batch);
  }
  await all;
  const ms = performance.now() - started;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return ms;
}
