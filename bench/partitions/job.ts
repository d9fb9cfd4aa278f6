/**
 * The job bench/partitions.ts measures, shared with its worker processes: the UPDATE of bench/postgres-keyset.ts
 * (every row of a table keyed (a, b), 1000 rows per statement), split by `keyRanges` when enqueued in partitions.
 */
import pg from 'pg';
import { IterableJob } from '../../src/index.js';
import { keyRanges, postgresBatches, type PostgresCursor, type PostgresKeyRange } from '../../src/postgres/index.js';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TABLE = 'ji_bench_partitions';
export const BATCH = 1000;
/** `synchronous_commit = off` on every connection, as in bench/postgres-keyset.ts: WAL flushes would swamp the rest. */
export const CONNECTION = { connectionString: DATABASE_URL, options: '-c synchronous_commit=off', connectionTimeoutMillis: 10_000 };
export const UPDATE = `UPDATE ${TABLE} AS t SET v = t.v + 1 FROM unnest($1::int[], $2::int[]) AS k(a, b) WHERE t.a = k.a AND t.b = k.b`;

interface Key {
  a: number;
  b: number;
}

export interface Params {
  range?: PostgresKeyRange;
}

let shared: pg.Pool | undefined;
/** One pool per process, one connection per job running in it. */
export function pool(): pg.Pool {
  shared ??= new pg.Pool({ ...CONNECTION, max: 4 });
  return shared;
}

export class PartitionedBackfill extends IterableJob<Params, Key[], PostgresCursor> {
  static override jobName = 'bench-partitioned-backfill';

  static override async partition(params: Params, partitions: number): Promise<Params[]> {
    const ranges = await keyRanges(pool(), { table: TABLE, key: ['a', 'b'], partitions });
    return ranges.map((range) => ({ ...params, range }));
  }

  buildEnumerator(params: Params, { cursor }: { cursor: PostgresCursor | undefined }) {
    return postgresBatches<Key>(pool(), { table: TABLE, key: ['a', 'b'], columns: ['a', 'b'], batchSize: BATCH, range: params.range, cursor });
  }

  async eachIteration(rows: Key[]) {
    await pool().query(UPDATE, [rows.map((r) => r.a), rows.map((r) => r.b)]);
  }
}
