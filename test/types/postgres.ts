// Compile-only: checked by `npm run typecheck` (and so by `npm test`), never run.
import type pg from 'pg';
import { defineJob } from '../../src/index.js';
import { postgresBatches, postgresRecords, type PostgresCursor, type PostgresRow } from '../../src/postgres/index.js';
import { expectType, type Equal } from './expect-type.js';

export function connections(pool: pg.Pool, client: pg.Client, checkedOut: pg.PoolClient): void {
  // The structural connection type takes every pg connection the user may own.
  postgresRecords(pool, { table: 'orders', cursor: undefined });
  postgresRecords(client, { table: 'orders', cursor: undefined });
  postgresBatches(checkedOut, { table: 'orders', cursor: [1, '9007199254740993'] });
  // @ts-expect-error the cursor must be passed, even when it is undefined
  postgresRecords(pool, { table: 'orders' });
  // @ts-expect-error count is 'estimate', 'exact' or false
  postgresRecords(pool, { table: 'orders', cursor: undefined, count: true });
}

export function inferred(pool: pg.Pool): void {
  interface Order {
    id: number;
    total: string;
  }
  defineJob({
    name: 'orders',
    // The context is annotated: defineJob infers the cursor type from what the enumerator yields.
    buildEnumerator(params: { status: string }, { cursor }: { cursor: PostgresCursor | undefined }) {
      return postgresRecords<Order>(pool, { table: 'orders', where: 'status = $1', params: [params.status], cursor });
    },
    eachIteration(order, _params, { cursor }) {
      expectType<Equal<typeof order, Order>>();
      expectType<Equal<typeof cursor, PostgresCursor>>();
    },
  });
  defineJob({
    name: 'order-batches',
    buildEnumerator(_params: object, { cursor }: { cursor: PostgresCursor | undefined }) {
      return postgresBatches(pool, { table: 'orders', key: ['customer_id', 'id'], cursor });
    },
    eachIteration(rows) {
      expectType<Equal<typeof rows, PostgresRow[]>>();
    },
  });
}
