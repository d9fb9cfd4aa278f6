import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { after, describe, test } from 'node:test';
import type pg from 'pg';
import { IterableJob, runInline, type JobState } from '../../src/index.js';
import { extentOf } from '../../src/extent.js';
import {
  NullableKeyError,
  UnknownColumnError,
  UnknownTableError,
  postgresBatches,
  postgresRecords,
  type PostgresCursor,
  type PostgresEnumeration,
  type PostgresEnumeratorOptions,
  type PgQueryableLike,
} from '../../src/postgres/index.js';
import { TEST_TIMEOUT_MS, waitFor } from '../support/process.js';
import { newClient, newPool, PG_URL, tableFor, uniqueName } from '../support/postgres.js';

const pool = newPool();
after(() => pool.end());

type Source = (cursor: PostgresCursor | undefined) => PostgresEnumeration<unknown>;

interface Chain {
  items: unknown[];
  cursors: PostgresCursor[];
  runs: number;
  state: JobState<PostgresCursor>;
}

/** A job over `source`, recording each item and its cursor, and running `each` on it. */
function jobOver(source: Source, chain: Pick<Chain, 'items' | 'cursors'>, each?: (item: any) => unknown) {
  return class PgTestJob extends IterableJob<Record<string, never>, unknown, PostgresCursor> {
    static override jobName = 'pg-test';
    buildEnumerator(_params: Record<string, never>, { cursor }: { cursor: PostgresCursor | undefined }) {
      return source(cursor);
    }
    async eachIteration(item: unknown, _params: Record<string, never>, { cursor }: { cursor: PostgresCursor }) {
      await each?.(item);
      chain.items.push(item);
      chain.cursors.push(cursor);
    }
  };
}

/**
 * Runs the job to completion, interrupted after every `k` items; each run resumes from the JSON of the state the one
 * before saved, as a store would hand it back. `source` may take the run's number to vary the connection.
 */
async function runInterrupted(source: (cursor: PostgresCursor | undefined, run: number) => PostgresEnumeration<unknown>, k: number, each?: (item: any) => unknown): Promise<Chain> {
  const chain = { items: [] as unknown[], cursors: [] as PostgresCursor[] };
  let runs = 0;
  let state: JobState<PostgresCursor> | undefined;
  const JobClass = jobOver((cursor) => source(cursor, runs), chain, each);
  for (;;) {
    const result = await runInline(JobClass, {}, { state, maxIterations: k });
    runs++;
    state = JSON.parse(JSON.stringify(result.state)) as JobState<PostgresCursor>;
    if (result.status === 'completed') return { ...chain, runs, state };
    assert.equal(result.runIterations, k, 'an interrupted run stops after exactly k items');
    assert.ok(runs < 10_000, 'the chain ends');
  }
}

async function rowsOf(db: pg.Pool, sql: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  return (await db.query(sql, values)).rows;
}

/** What a run that must not start gives: the error, after checking that no item was processed. */
async function refused(source: Source, code: string, message?: RegExp): Promise<Error & { code: string }> {
  const chain = { items: [] as unknown[], cursors: [] as PostgresCursor[] };
  const error = await runInline(jobOver(source, chain), {}).then(
    () => undefined,
    (thrown: unknown) => thrown as Error & { code: string },
  );
  assert.ok(error, `expected ${code}, but the run completed`);
  assert.equal(error.code, code, error.stack);
  if (message) assert.match(error.message, message);
  assert.deepEqual(chain.items, [], 'no row reached eachIteration');
  return error;
}

describe('postgresRecords and postgresBatches', { timeout: TEST_TIMEOUT_MS }, () => {
  test('composite key with duplicates in its first column: every row exactly once, in key order, interrupted after k items for many k and batch sizes', async (ctx) => {
    const table = await tableFor(ctx, pool, 'composite', (t) => `
      CREATE TABLE ${t} (a int NOT NULL, b int NOT NULL, note text NOT NULL, PRIMARY KEY (a, b));
      INSERT INTO ${t} SELECT i % 7, i, 'n' || i FROM generate_series(1, 60) AS i`);
    const expected = await rowsOf(pool, `SELECT a, b, note FROM ${table} ORDER BY a, b`);
    assert.equal(expected.filter((r) => r.a === 3).length, 9, 'the first key column repeats');
    // 5 and 60 divide the 60 rows, 7 and 64 do not; k below, at and above a batch, and past the end.
    for (const batchSize of [5, 7, 60, 64]) {
      for (const k of [1, 3, 5, 7, 12, 59, 60, 61]) {
        const chain = await runInterrupted((cursor) => postgresRecords(pool, { table, key: ['a', 'b'], batchSize, cursor }), k);
        assert.deepEqual(chain.items, expected, `batchSize ${batchSize}, k ${k}`);
        assert.deepEqual(chain.cursors, expected.map((r) => [r.a, r.b]));
        assert.deepEqual(chain.state.cursor, [6, 55], 'the saved cursor is the last row');
      }
      for (const k of [1, 2, 5]) {
        const chain = await runInterrupted((cursor) => postgresBatches(pool, { table, key: ['a', 'b'], columns: ['a', 'b', 'note'], batchSize, cursor }), k);
        assert.deepEqual((chain.items as unknown[][]).flat(), expected, `batches of ${batchSize}, k ${k}`);
        assert.deepEqual(
          chain.cursors,
          (chain.items as Array<Array<{ a: number; b: number }>>).map((rows) => [rows.at(-1)!.a, rows.at(-1)!.b]),
          "a batch's cursor is its last row's",
        );
        assert.ok((chain.items as unknown[][]).every((rows, i, all) => rows.length === batchSize || i === all.length - 1));
      }
    }
  });

  test('columns picks what the row holds; the key is read on its own and never shows in the row', async (ctx) => {
    const table = await tableFor(ctx, pool, 'columns', (t) => `
      CREATE TABLE ${t} (a int NOT NULL, b bigint NOT NULL, note text NOT NULL, "__proto__" text NOT NULL DEFAULT 'p', PRIMARY KEY (a, b));
      INSERT INTO ${t} (a, b, note) SELECT i % 2, i, 'n' || i FROM generate_series(1, 6) AS i`);
    const chain = await runInterrupted((cursor) => postgresRecords(pool, { table, key: ['a', 'b'], columns: ['note'], batchSize: 4, cursor }), 4);
    assert.deepEqual(chain.items, ['n2', 'n4', 'n6', 'n1', 'n3', 'n5'].map((note) => ({ note })));
    assert.deepEqual(chain.cursors.at(-1), [1, 5]);
    const all = await runInterrupted((cursor) => postgresRecords(pool, { table, key: ['a', 'b'], cursor }), 10);
    const first = all.items[0] as Record<string, unknown>;
    assert.deepEqual(Object.keys(first), ['a', 'b', 'note', '__proto__'], 'every column, in table order, and nothing else');
    assert.equal(first.b, '2', 'pg parses int8 as a string in the row, as usual');
    assert.equal(Object.getPrototypeOf(first), Object.prototype, 'a column named __proto__ is a property, not a prototype');
  });

  test('rows inserted during a run: behind the cursor never processed, ahead of what was read processed', async (ctx) => {
    for (const prefetch of [false, true]) {
      const table = await tableFor(ctx, pool, 'inserts', (t) => `
        CREATE TABLE ${t} (id int PRIMARY KEY);
        INSERT INTO ${t} SELECT i * 10 FROM generate_series(1, 100) AS i`);
      const insert = (id: number) => pool.query(`INSERT INTO ${table} VALUES ($1)`, [id]);
      // Row 500 ends the fifth batch of 10. Without prefetch nothing past it has been read; with prefetch the batch
      // after it has, so only rows beyond that one are sure to be seen.
      const chain = await runInterrupted(
        (cursor) => postgresRecords(pool, { table, batchSize: 10, prefetch, cursor }),
        1000,
        async (row: { id: number }) => {
          if (row.id !== 500) return;
          await insert(495);
          await insert(955);
          await insert(2000);
          if (!prefetch) await insert(505);
        },
      );
      const ids = chain.items.map((row) => (row as { id: number }).id);
      assert.ok(!ids.includes(495), 'a row inserted behind the cursor is never processed');
      assert.ok(ids.includes(955) && ids.includes(2000), `rows inserted ahead are processed (prefetch ${prefetch})`);
      if (!prefetch) assert.ok(ids.includes(505), 'without prefetch, a row right after the last batch read is processed');
      assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'in key order');
      assert.equal(new Set(ids).size, ids.length, 'none twice');
      assert.equal(ids.length, prefetch ? 102 : 103);
    }
  });

  test('an empty table completes with no item, records and batches alike', async (ctx) => {
    const table = await tableFor(ctx, pool, 'empty', (t) => `CREATE TABLE ${t} (id int PRIMARY KEY)`);
    for (const make of [postgresRecords, postgresBatches]) {
      let enumeration: PostgresEnumeration<unknown> | undefined;
      const chain = await runInterrupted((cursor) => (enumeration = make(pool, { table, count: 'exact', cursor })), 5);
      assert.deepEqual(chain.items, []);
      assert.equal(chain.runs, 1);
      assert.equal(chain.state.cursor, undefined);
      await waitFor('the count', () => enumeration!.extent(undefined, 0), 5000);
      assert.deepEqual(enumeration!.extent(undefined, 0), { done: 0, total: 0, unit: 'rows' });
    }
  });

  test('timestamp keys keep their microseconds and their instant: resumed under other time zones, no row repeats or goes missing', async (ctx) => {
    // Three rows per instant, one microsecond apart, across the night Europe moved its clocks (2024-03-31 01:00 UTC).
    const table = await tableFor(ctx, pool, 'times', (t) => `
      CREATE TABLE ${t} (id int PRIMARY KEY, ts timestamptz NOT NULL, wall timestamp NOT NULL);
      INSERT INTO ${t}
      SELECT i, x, x AT TIME ZONE 'Europe/Berlin'
        FROM generate_series(1, 45) AS i,
             LATERAL (SELECT timestamptz '2024-03-31 00:59:59.999993+00' + (i / 3) * interval '1 microsecond' AS x) AS s`);
    const zones = ['Asia/Kathmandu', 'America/St_Johns', 'Pacific/Chatham'];
    const pools = zones.map((zone) => newPool({ max: 2, options: `-c TimeZone=${zone}` }));
    const processTz = process.env.TZ;
    ctx.after(async () => {
      if (processTz === undefined) delete process.env.TZ;
      else process.env.TZ = processTz;
      await Promise.all(pools.map((p) => p.end()));
    });
    for (const key of ['ts', 'wall']) {
      const expected = (await rowsOf(pool, `SELECT id FROM ${table} ORDER BY ${key}, id`)).map((r) => r.id);
      for (const [k, batchSize] of [[1, 2], [4, 5], [7, 3]] as const) {
        const chain = await runInterrupted((cursor, run) => {
          // Each run on a connection in another time zone, and the process in yet another.
          process.env.TZ = zones[(run + 1) % zones.length];
          return postgresRecords(pools[run % pools.length]!, { table, key: [key, 'id'], columns: ['id'], batchSize, cursor });
        }, k);
        assert.deepEqual(chain.items.map((r) => (r as { id: number }).id), expected, `key (${key}, id), k ${k}, batches of ${batchSize}`);
        for (const [value] of chain.cursors) {
          assert.equal(typeof value, 'string');
          assert.match(value as string, key === 'ts' ? /^2024-03-3[01]T\d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d:\d\d$/ : /^2024-03-31T0[13]:\d\d:\d\d(\.\d{1,6})?$/);
        }
      }
    }
    // The last cursor names the last row's instant to the microsecond, whatever zone wrote it.
    const [lastTs] = (await runInterrupted((cursor) => postgresRecords(pools[0]!, { table, key: ['ts', 'id'], cursor }), 100)).state.cursor!;
    const { rows } = await pool.query(`SELECT $1::timestamptz = max(ts) AS same, to_char(max(ts) AT TIME ZONE 'UTC', 'HH24:MI:SS.US') AS utc FROM ${table}`, [lastTs]);
    assert.deepEqual(rows[0], { same: true, utc: '01:00:00.000008' });
    assert.match(lastTs as string, /^2024-03-31T06:45:00\.000008\+05:45$/, 'ISO 8601 with the offset of the connection that read it, microseconds kept');
  });

  test('bigint keys beyond 2^53 stay exact: numbers while safe, decimal strings beyond', async (ctx) => {
    const ids = [
      '-9223372036854775808', '-9007199254740993', '-9007199254740992', '-9007199254740991', '-1', '0', '1',
      '9007199254740990', '9007199254740991', '9007199254740992', '9007199254740993', '9007199254740994',
      '9223372036854775806', '9223372036854775807',
    ];
    const table = await tableFor(ctx, pool, 'bigint', (t) => `
      CREATE TABLE ${t} (id bigint PRIMARY KEY);
      INSERT INTO ${t} VALUES ${ids.map((id) => `(${id})`).join(', ')}`);
    for (const [k, batchSize] of [[1, 1], [2, 3], [3, 2], [5, 100]] as const) {
      const chain = await runInterrupted((cursor) => postgresRecords(pool, { table, batchSize, cursor }), k);
      assert.deepEqual(chain.items.map((r) => (r as { id: string }).id), ids, `k ${k}, batches of ${batchSize}`);
      assert.deepEqual(
        chain.cursors.map(([id]) => id),
        ids.map((id) => (Number.isSafeInteger(Number(id)) ? Number(id) : id)),
      );
    }
  });

  test('text keys, in the column collation, with quotes, blanks and non-ASCII', async (ctx) => {
    const keys = ['', ' ', 'A', 'B', 'a', 'b', 'ä', 'z', "it's", '"q"', 'emoji 😀', '10', '9', 'a\\b', 'NULL', 'tab\t', '$1', 'a,b', '["x", 1]'];
    const table = await tableFor(ctx, pool, 'text', (t) => `CREATE TABLE ${t} (name text PRIMARY KEY, n int NOT NULL)`);
    await pool.query(`INSERT INTO ${table} SELECT k, ordinality FROM unnest($1::text[]) WITH ORDINALITY AS k`, [keys]);
    const expected = (await rowsOf(pool, `SELECT name FROM ${table} ORDER BY name`)).map((r) => r.name);
    for (const [k, batchSize] of [[1, 2], [2, 3], [3, 17], [4, 5]] as const) {
      const chain = await runInterrupted((cursor) => postgresRecords(pool, { table, key: 'name', columns: ['name'], batchSize, cursor }), k);
      assert.deepEqual(chain.items.map((r) => (r as { name: string }).name), expected, `k ${k}, batches of ${batchSize}`);
      assert.deepEqual(chain.cursors, expected.map((name) => [name]));
      // With a second key column the key travels as a JSON array of texts: commas and quotes stay inside their value.
      const pairs = await runInterrupted((cursor) => postgresRecords(pool, { table, key: ['name', 'n'], columns: ['name'], batchSize, cursor }), k);
      assert.deepEqual(pairs.items.map((r) => (r as { name: string }).name), expected);
      assert.deepEqual(pairs.cursors.map(([name]) => name), expected);
    }
  });

  test('the keyset query is a row-value comparison the index starts at (Index Cond), not an OR filter', async (ctx) => {
    const table = await tableFor(ctx, pool, 'explain', (t) => `
      CREATE TABLE ${t} (a int NOT NULL, b int NOT NULL, payload text NOT NULL, PRIMARY KEY (a, b));
      INSERT INTO ${t} SELECT i / 50, i, md5(i::text) FROM generate_series(1, 20000) AS i;
      ANALYZE ${t}`);
    const sent: Array<{ text: string; values?: unknown[] }> = [];
    // The connection the enumerator gets passes every statement on to the real pool, keeping a copy.
    const recording: PgQueryableLike = {
      query(config) {
        sent.push(config);
        return pool.query(config);
      },
    };
    const iterator = postgresRecords(recording, { table, key: ['a', 'b'], batchSize: 100, cursor: [100, 5025], count: false })[Symbol.asyncIterator]();
    const first = await iterator.next();
    assert.deepEqual(first.value, [{ a: 100, b: 5026, payload: (await rowsOf(pool, `SELECT md5('5026') AS m`))[0]!.m }, [100, 5026]]);
    await iterator.return!();
    const keyset = sent.find((s) => s.text.includes(` > (`))!;
    assert.match(keyset.text, /\("a", "b"\) > \(\$1::integer, \$2::integer\)/);
    assert.doesNotMatch(keyset.text, /\bOR\b/);
    const plan = (await pool.query({ text: `EXPLAIN ${keyset.text}`, values: keyset.values })).rows.map((r) => r['QUERY PLAN']).join('\n');
    assert.match(plan, /Index Scan using \S+ on \S+/, plan);
    assert.match(plan, /Index Cond: \(ROW\(a, b\) > ROW\(100, 5025\)\)/, plan);
    assert.doesNotMatch(plan, /Filter:/, plan);
    assert.doesNotMatch(plan, /Sort/, plan);
  });

  test('where and params combine with the keyset; comments and literals in where are left alone', async (ctx) => {
    const table = await tableFor(ctx, pool, 'where', (t) => `
      CREATE TABLE ${t} (id int PRIMARY KEY, kind text NOT NULL, note text NOT NULL);
      INSERT INTO ${t} SELECT i, (ARRAY['a', 'b', 'c'])[i % 3 + 1], CASE WHEN i % 10 = 0 THEN 'costs $5' ELSE 'free' END
        FROM generate_series(1, 200) AS i`);
    const where = "kind = $1 AND id % $2 = 0 AND note <> 'costs $5' -- multiples of $2 only";
    const params = ['b', 4];
    const expected = await rowsOf(pool, `SELECT * FROM ${table} WHERE kind = $1 AND id % $2 = 0 AND note <> 'costs $5' ORDER BY id`, params);
    assert.ok(expected.length > 5);
    const records = await runInterrupted((cursor) => postgresRecords(pool, { table, where, params, batchSize: 3, cursor }), 4);
    assert.deepEqual(records.items, expected);
    const batches = await runInterrupted((cursor) => postgresBatches(pool, { table, where, params, batchSize: 3, cursor }), 2);
    assert.deepEqual((batches.items as unknown[][]).flat(), expected);
  });

  test('a schema-qualified table, and quoted mixed-case names', async (ctx) => {
    const schema = uniqueName('schema');
    const name = uniqueName('items');
    ctx.after(async () => {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.query(`DROP TABLE IF EXISTS public.${name}`);
    });
    await pool.query(`
      CREATE SCHEMA ${schema};
      CREATE TABLE ${schema}.${name} (id int PRIMARY KEY, label text NOT NULL);
      INSERT INTO ${schema}.${name} SELECT i, 'schema' FROM generate_series(1, 7) AS i;
      CREATE TABLE public.${name} (id int PRIMARY KEY, label text NOT NULL);
      INSERT INTO public.${name} SELECT i, 'public' FROM generate_series(1, 3) AS i;
      CREATE TABLE ${schema}."Mixed Case" ("Id" int PRIMARY KEY, "Label" text NOT NULL);
      INSERT INTO ${schema}."Mixed Case" SELECT i, 'mixed' FROM generate_series(1, 5) AS i`);
    const labels = async (table: string, key?: string) =>
      (await runInterrupted((cursor) => postgresRecords(pool, { table, ...(key ? { key } : {}), batchSize: 2, cursor }), 3)).items.map((r) => Object.values(r as object).join(':'));
    assert.deepEqual(await labels(`${schema}.${name}`), ['1:schema', '2:schema', '3:schema', '4:schema', '5:schema', '6:schema', '7:schema']);
    assert.deepEqual(await labels(name), ['1:public', '2:public', '3:public'], 'unqualified: found on the search_path');
    assert.deepEqual(await labels(`${schema}."Mixed Case"`, 'Id'), ['1:mixed', '2:mixed', '3:mixed', '4:mixed', '5:mixed']);
    const error = await refused((cursor) => postgresRecords(pool, { table: `${schema}."Mixed Case"`, key: 'id', cursor }), 'ERR_UNKNOWN_COLUMN');
    assert.match(error.message, new RegExp(`^postgresRecords\\(${schema}\\.Mixed Case\\): ${schema}\\.Mixed Case has no column "id" \\(named in option "key"\\); did you mean "Id"\\?`));
  });

  test('extent: rows done of the planner estimate or an exact count, from the first batch on', async (ctx) => {
    const table = await tableFor(ctx, pool, 'extent', (t) => `
      CREATE TABLE ${t} (id int PRIMARY KEY);
      INSERT INTO ${t} SELECT i FROM generate_series(1, 1000) AS i;
      ANALYZE ${t}`);
    const started = async <T>(enumeration: PostgresEnumeration<T>) => {
      assert.equal(enumeration.extent(undefined, 0), undefined, 'nothing known before the enumeration starts');
      const iterator = enumeration[Symbol.asyncIterator]();
      const first = await iterator.next();
      return { iterator, cursor: first.value![1] };
    };

    const estimated = postgresRecords(pool, { table, cursor: undefined });
    const e = await started(estimated);
    const extent = await waitFor('the estimate', () => estimated.extent(e.cursor, 250), 5000);
    assert.deepEqual(extent, { done: 250, total: 1000, unit: 'rows' });
    const shown = extentOf(estimated, e.cursor, 250)!;
    assert.equal((100 * shown.done) / shown.total!, 25, 'a percent');
    await e.iterator.return!();

    const filtered = postgresRecords(pool, { table, where: 'id <= $1', params: [100], count: 'exact', cursor: undefined });
    const f = await started(filtered);
    assert.deepEqual(await waitFor('the count', () => filtered.extent(f.cursor, 40), 5000), { done: 40, total: 100, unit: 'rows' });
    const roughly = postgresRecords(pool, { table, where: 'id <= $1', params: [100], cursor: undefined });
    const r = await started(roughly);
    const estimate = (await waitFor('the estimate', () => roughly.extent(r.cursor, 0), 5000)).total!;
    assert.ok(estimate >= 50 && estimate <= 200, `the estimate follows where: ${estimate}`);
    await Promise.all([f.iterator.return!(), r.iterator.return!()]);

    const batches = postgresBatches(pool, { table, batchSize: 300, count: 'exact', cursor: undefined });
    const b = await started(batches);
    await waitFor('the count', () => batches.extent(b.cursor, 1), 5000);
    assert.deepEqual(batches.extent(b.cursor, 2), { done: 600, total: 1000, unit: 'rows' });
    assert.deepEqual(batches.extent(b.cursor, 4), { done: 1200, unit: 'rows' }, 'past the total, no percent rather than a wrong one');
    for (let step = await b.iterator.next(); !step.done; step = await b.iterator.next());
    assert.deepEqual(batches.extent(b.cursor, 4), { done: 1000, total: 1000, unit: 'rows' }, 'once the rows run out, 100% of the rows there were');

    const uncounted = postgresRecords(pool, { table, count: false, cursor: undefined });
    const u = await started(uncounted);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(uncounted.extent(u.cursor, 1), undefined, 'count: false measures nothing');
    await u.iterator.return!();
  });

  test('prefetch on or off, a Pool, a Client or a checked-out PoolClient: the same rows, in the same order', async (ctx) => {
    const table = await tableFor(ctx, pool, 'prefetch', (t) => `
      CREATE TABLE ${t} (id int PRIMARY KEY, a int NOT NULL);
      INSERT INTO ${t} SELECT i, i % 13 FROM generate_series(1, 1000) AS i`);
    const expected = await rowsOf(pool, `SELECT * FROM ${table} ORDER BY id`);
    const client = await newClient();
    const checkedOut = await pool.connect();
    ctx.after(async () => {
      checkedOut.release();
      await client.end();
    });
    const connections: Array<[string, PgQueryableLike, boolean]> = [
      ['pool, prefetch', pool, true],
      ['pool', pool, false],
      ['client', client, false],
      ['pool client', checkedOut, false],
    ];
    for (const [label, db, prefetch] of connections) {
      const records = await runInterrupted((cursor) => postgresRecords(db, { table, batchSize: 64, prefetch, cursor }), 100);
      assert.deepEqual(records.items, expected, label);
      const batches = await runInterrupted((cursor) => postgresBatches(db, { table, batchSize: 64, prefetch, cursor }), 3);
      assert.deepEqual((batches.items as unknown[][]).flat(), expected, `${label}, batches`);
    }
  });

  test('stopping early with a read-ahead in flight: return() waits for it, and its failure is nobody\'s unhandled rejection', async (ctx) => {
    // Planner settings that force the index scan, so the first batch reads ids 1..10 and stops: only the read-ahead
    // (ids above 10) divides by zero. Without jit=off, the costs those settings inflate would JIT-compile every query.
    const forced = newPool({ max: 2, options: '-c enable_seqscan=off -c enable_sort=off -c enable_bitmapscan=off -c jit=off' });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    ctx.after(async () => {
      process.off('unhandledRejection', onUnhandled);
      await forced.end();
    });
    const table = await tableFor(ctx, pool, 'early', (t) => `
      CREATE TABLE ${t} (id int PRIMARY KEY);
      INSERT INTO ${t} SELECT i FROM generate_series(1, 100) AS i`);
    const options: PostgresEnumeratorOptions = { table, where: 'CASE WHEN id > 10 THEN 1 / (id - id) ELSE 1 END = 1', batchSize: 10, prefetch: true, count: false, cursor: undefined };

    const early = postgresRecords(forced, options)[Symbol.asyncIterator]();
    assert.deepEqual((await early.next()).value, [{ id: 1 }, [1]]);
    assert.deepEqual(await early.return!(), { done: true, value: undefined });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(unhandled, []);

    // Read to the end instead, the same failure reaches the caller, after the rows before it.
    const ids: unknown[] = [];
    const failure = await (async () => {
      for await (const [row] of postgresRecords(forced, options)) ids.push((row as { id: number }).id);
    })().then(
      () => undefined,
      (error: unknown) => error as { code?: string },
    );
    assert.deepEqual(ids, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(failure?.code, '22012', 'division by zero');
    assert.deepEqual(unhandled, []);
  });
});

describe('bad input is refused with a named error before any row is processed', { timeout: TEST_TIMEOUT_MS }, () => {
  // A password in the URL: no error message may show it.
  const secretPool = newPool({ connectionString: PG_URL.replace('postgres@', 'postgres:hunter2-secret@'), max: 2 });
  after(() => secretPool.end());
  const noSecret = (error: Error) => {
    assert.doesNotMatch(`${error.message}\n${error.stack}\n${inspect(error)}`, /hunter2/);
    return error;
  };

  test('tables and columns the catalog does not know, keys that can be NULL or are not unique', async (ctx) => {
    const table = await tableFor(ctx, secretPool, 'bad', (t) => `
      CREATE TABLE ${t} (a int NOT NULL, b int NOT NULL, maybe int, PRIMARY KEY (a, b));
      CREATE UNIQUE INDEX ON ${t} (maybe);
      INSERT INTO ${t} SELECT i, i, i FROM generate_series(1, 5) AS i`);
    const records = (options: Partial<PostgresEnumeratorOptions>): Source => (cursor) => postgresRecords(secretPool, { table, key: ['a', 'b'], cursor, ...options });

    const missing = uniqueName('missing');
    const unknown = noSecret(await refused(records({ table: missing }), 'ERR_UNKNOWN_TABLE'));
    assert.ok(unknown instanceof UnknownTableError);
    assert.equal(unknown.table, missing);
    assert.match(unknown.message, new RegExp(`^postgresRecords\\(${missing}\\): no table or view "${missing}" is visible to this connection \\(search_path: .*public`));
    await refused(records({ table: `no_such_schema.${table}` }), 'ERR_UNKNOWN_TABLE', /no_such_schema/);
    await refused(records({ table: 'a.b.c.d' }), 'ERR_UNKNOWN_TABLE', /too many dotted names/);
    await refused(records({ table: `${table}_pkey` }), 'ERR_UNKNOWN_TABLE', /is an index/);

    const column = noSecret(await refused(records({ key: ['a', 'B'] }), 'ERR_UNKNOWN_COLUMN', /has no column "B" \(named in option "key"\); did you mean "b"\?/));
    assert.ok(column instanceof UnknownColumnError);
    assert.deepEqual([column.table, column.column, column.option], [`public.${table}`, 'B', 'key']);
    await refused(records({ columns: ['a', 'nope'] }), 'ERR_UNKNOWN_COLUMN', /has no column "nope" \(named in option "columns"\); its columns: a, b, maybe/);

    const nullable = noSecret(await refused(records({ key: 'maybe' }), 'ERR_NULLABLE_KEY'));
    assert.ok(nullable instanceof NullableKeyError);
    assert.equal(nullable.column, 'maybe');
    assert.match(nullable.message, new RegExp(`key column "maybe" of public\\.${table} can be NULL\\. .*rows holding one would be skipped, never processed`));

    await refused(
      records({ key: 'a' }),
      'ERR_INVALID_OPTION',
      /^Option "key" must be columns of public\.\S+ that a primary key or unique index covers: rows sharing one key value would be split across two batches, and those after the first skipped \(append its unique columns: key: \["a","b"\]\); got "a"\.$/,
    );
  });

  test('a saved cursor of the wrong shape for the key', async (ctx) => {
    const table = await tableFor(ctx, secretPool, 'cursor', (t) => `
      CREATE TABLE ${t} (a int NOT NULL, ts timestamptz NOT NULL, name text NOT NULL, PRIMARY KEY (a, ts, name));
      INSERT INTO ${t} VALUES (1, now(), 'x')`);
    const source = `postgresRecords\\(public\\.${table}\\)`;
    const withCursor = (cursor: unknown): Source => () => postgresRecords(secretPool, { table, key: ['a', 'ts', 'name'], cursor: cursor as PostgresCursor });
    const cases: Array<[unknown, RegExp]> = [
      [[1, '2024-01-01T00:00:00Z'], /holds 2 value\(s\), the key \(a, ts, name\) has 3/],
      [{ a: 1 }, /expected a JSON array of 3 key value\(s\) \(a, ts, name\)/],
      ['[1, 2, 3]', /expected a JSON array/],
      [['x', '2024-01-01T00:00:00Z', 'x'], /value 1 \(a, integer\) must be an integer or a decimal string; got the string "x"/],
      [[1.5, '2024-01-01T00:00:00Z', 'x'], /value 1 \(a, integer\) must be an integer/],
      [[1, 1704067200000, 'x'], /value 2 \(ts, timestamp with time zone\) must be a string, the column's text form; got the number 1704067200000/],
      [[1, '2024-01-01T00:00:00Z', null], /value 3 \(name, text\) must be a string.*got null/],
      [[1, '2024-13-45T00:00:00Z', 'x'], /PostgreSQL refuses it for the key \(a, ts, name\): date\/time field value out of range/],
      [[2 ** 40, '2024-01-01T00:00:00Z', 'x'], /PostgreSQL refuses it .*out of range for type integer/],
    ];
    for (const [cursor, problem] of cases) {
      const error = noSecret(await refused(withCursor(cursor), 'ERR_INVALID_CURSOR', problem));
      assert.match(error.message, new RegExp(`^${source} cannot resume from the saved cursor `));
      assert.deepEqual((error as unknown as { cursor: unknown }).cursor, cursor);
    }
    // The right shape resumes.
    const fine = await runInterrupted(() => postgresRecords(secretPool, { table, key: ['a', 'ts', 'name'], cursor: [0, '2000-01-01T00:00:00+00:00', ''] }), 5);
    assert.equal(fine.items.length, 1);
  });

  test('options out of their domain', async (ctx) => {
    const table = await tableFor(ctx, secretPool, 'options', (t) => `CREATE TABLE ${t} (id int PRIMARY KEY)`);
    const client = await newClient();
    ctx.after(() => client.end());
    const base = { table, cursor: undefined };
    const cases: Array<[() => unknown, string, RegExp]> = [
      [() => postgresRecords(secretPool, { ...base, batchSize: 0 }), 'batchSize', /must be an integer from 1 to 1000000; got 0/],
      [() => postgresRecords(secretPool, { ...base, batchSize: 1.5 }), 'batchSize', /got 1\.5/],
      [() => postgresBatches(secretPool, { ...base, batchSize: '10' as never }), 'batchSize', /got "10"/],
      [() => postgresRecords(secretPool, { ...base, key: [] }), 'key', /a column name or a non-empty array of distinct column names/],
      [() => postgresRecords(secretPool, { ...base, key: ['id', 'id'] }), 'key', /distinct/],
      [() => postgresRecords(secretPool, { ...base, columns: [] }), 'columns', /non-empty array/],
      [() => postgresRecords(secretPool, { ...base, table: ' ' }), 'table', /a table name/],
      [() => postgresRecords(secretPool, { ...base, where: 'id > $1 AND id < $2', params: [1] }), 'where', /it uses \$2; params has 1/],
      [() => postgresRecords(secretPool, { ...base, where: 'id > $1', params: [1, 2] }), 'params', /\$2 does not appear in where/],
      [() => postgresRecords(secretPool, { ...base, params: [1] }), 'params', /empty when there is no where/],
      [() => postgresRecords(secretPool, { ...base, count: 'maybe' as never }), 'count', /'estimate', 'exact' or false/],
      [() => postgresRecords(client, { ...base, prefetch: true }), 'prefetch', /false with a single client/],
      [() => postgresRecords(secretPool, { table } as PostgresEnumeratorOptions), 'cursor', /pass the cursor buildEnumerator receives/],
      [() => postgresRecords(null as never, base), 'db', /a pg\.Pool, pg\.Client or pg\.PoolClient/],
    ];
    for (const [make, option, message] of cases) {
      const error = noSecret(await refused(make as Source, 'ERR_INVALID_OPTION', message));
      assert.equal((error as unknown as { option: string }).option, option);
    }
  });
});
