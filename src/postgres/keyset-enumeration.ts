import type { Extent, MeasuredEnumeration } from '../extent.js';
import type { Pair } from '../iterable-job.js';
import { checkCursor, cursorOf } from './key-cursor.js';
import { keysetSql, type KeysetSql } from './keyset-sql.js';
import { resolveOptions, type PostgresCursor, type PostgresEnumeratorOptions, type PostgresKeyValue, type ResolvedOptions } from './options.js';
import { hasSpareConnection, queryArrays, type PgQueryableLike } from './queryable.js';
import { rowTotal } from './row-total.js';
import { readTableShape, type TableShape } from './table-shape.js';

/** What `postgresRecords` and `postgresBatches` return: `[item, cursor]` pairs that can tell how far along they are. */
export interface PostgresEnumeration<Item> extends AsyncIterable<Pair<Item, PostgresCursor>>, MeasuredEnumeration<PostgresCursor> {
  /**
   * Rows done of the total (`unit: 'rows'`), once the total is known (shortly after the first batch is asked for),
   * `undefined` before that or with `count: false`. Records count one row per iteration; batches `batchSize` rows
   * per iteration, the last batch being possibly short.
   */
  extent(cursor: PostgresCursor | undefined, iterations: number): Extent | undefined;
}

export type Grouping = 'records' | 'batches';

const ignore = () => {};

/**
 * Walks a table by its key, a batch per query, each batch starting after the last row of the one before: the
 * position lives in the cursor alone, so an enumeration resumes exactly where the last finished row left it, on
 * another process, connection or day.
 */
export class KeysetEnumeration<Item> implements PostgresEnumeration<Item> {
  readonly #db: PgQueryableLike;
  readonly #options: ResolvedOptions;
  readonly #grouping: Grouping;
  readonly #enumerator: string;
  /** Planner estimate or count, once it arrives; a failed read leaves it unknown (no percent, the job goes on). */
  #total: number | undefined;
  #measuring = false;
  #exhausted = false;

  constructor(enumerator: string, grouping: Grouping, db: PgQueryableLike, options: PostgresEnumeratorOptions) {
    this.#options = resolveOptions(db, options, hasSpareConnection(db));
    this.#db = db;
    this.#grouping = grouping;
    this.#enumerator = enumerator;
  }

  [Symbol.asyncIterator](): AsyncIterator<Pair<Item, PostgresCursor>> {
    return this.#read();
  }

  extent(_cursor: PostgresCursor | undefined, iterations: number): Extent | undefined {
    const total = this.#total;
    if (total === undefined) return undefined;
    // A batch counts as full: only the last one can be short, and how short is not known from the iteration count.
    const done = this.#grouping === 'records' ? iterations : iterations * this.#options.batchSize;
    // Progress lands on 100% when the rows run out, whatever the estimate said.
    if (this.#exhausted) {
      // Batches: the last one may be short, so a total that falls within it is the true count; else the batches tell.
      const withinLastBatch = total > done - this.#options.batchSize && total <= done;
      const all = this.#grouping === 'records' ? iterations : withinLastBatch ? total : done;
      return { done: all, total: all, unit: 'rows' };
    }
    // Past an estimate that was too low (statistics not yet analyzed, rows added since), the total is not known:
    // progress shows rows done and the rate, not a percent stuck at 100 with an ETA of 0.
    return done < total ? { done, total, unit: 'rows' } : { done, unit: 'rows' };
  }

  async *#read(): AsyncGenerator<Pair<Item, PostgresCursor>, void, undefined> {
    const options = this.#options;
    const db = this.#db;
    const table = await readTableShape(db, options, this.#enumerator);
    const source = `${this.#enumerator}(${table.name})`;
    const { from, to } = options.range;
    const rangeFrom = from === undefined ? undefined : await checkCursor(db, from, table.key, `${source} range.from`);
    this.#rangeTo = to === undefined ? [] : await checkCursor(db, to, table.key, `${source} range.to`);
    this.#rangeFrom = rangeFrom ?? [];
    const start = options.cursor === undefined ? rangeFrom : await checkCursor(db, options.cursor, table.key, source);
    const sql = keysetSql(table, options);
    // Asked before the first batch: on a single client the two queue in this order, on a pool they run side by side.
    this.#measure(sql);
    const toRow = rowBuilder(table);
    const keyAt = table.columns.length;
    const { batchSize, prefetch } = options;
    let pending: Promise<unknown[][]> | undefined = this.#fetch(sql, start);
    try {
      for (;;) {
        const rows: unknown[][] = await pending;
        pending = undefined;
        const last = rows.at(-1);
        if (last === undefined) break;
        const full = rows.length === batchSize;
        const lastCursor = cursorOf(table.key, last[keyAt] as string);
        if (full && prefetch) {
          pending = this.#fetch(sql, lastCursor);
          // Handled now, awaited later: a read-ahead that fails while the job is stopping must not surface as an
          // unhandled rejection. The loop still awaits `pending` itself, so the error reaches the run otherwise.
          pending.catch(ignore);
        }
        if (this.#grouping === 'batches') {
          yield [rows.map(toRow) as Item, lastCursor];
        } else {
          const end = rows.length - 1;
          for (let i = 0; i < end; i++) yield [toRow(rows[i]!) as Item, cursorOf(table.key, rows[i]![keyAt] as string)];
          yield [toRow(last) as Item, lastCursor];
        }
        // A short batch is the last: the next query could only find rows inserted since, which a run that had
        // started a moment later would have missed as well.
        if (!full) break;
        pending ??= this.#fetch(sql, lastCursor);
      }
      this.#exhausted = true;
    } finally {
      // Stopped early with a read-ahead in flight: it settles before the enumeration reports itself closed, so no
      // query of ours still runs on the caller's pool once the run has shut down.
      if (pending) await pending.then(ignore, ignore);
    }
  }

  #fetch(sql: KeysetSql, after: readonly PostgresKeyValue[] | undefined): Promise<unknown[][]> {
    const { params } = this.#options;
    const to = this.#rangeTo;
    return after === undefined ? queryArrays(this.#db, sql.first, [...params, ...to]) : queryArrays(this.#db, sql.after, [...params, ...after, ...to]);
  }

  /** The range's bounds as bound values, checked; empty for an open side. */
  #rangeFrom: readonly PostgresKeyValue[] = [];
  #rangeTo: readonly PostgresKeyValue[] = [];

  #measure(sql: KeysetSql): void {
    const how = this.#options.count;
    if (how === false || this.#measuring) return;
    this.#measuring = true;
    rowTotal(this.#db, sql.filtered, [...this.#options.params, ...this.#rangeFrom, ...this.#rangeTo], how).then(
      (total) => {
        this.#total = total;
      },
      // Progress is a display: a total that cannot be read leaves it without a percent, never stops the job.
      () => {
        this.#measuring = false;
      },
    );
  }
}

/** Row objects carry the requested columns only, not the key text read for the cursor. */
function rowBuilder(table: TableShape): (values: unknown[]) => Record<string, unknown> {
  const names = table.columns;
  // A column may be named __proto__: assigning it would set the row's prototype instead of a property.
  if (names.includes('__proto__')) {
    return (values) => {
      const row: Record<string, unknown> = {};
      names.forEach((name, i) => Object.defineProperty(row, name, { value: values[i], enumerable: true, writable: true, configurable: true }));
      return row;
    };
  }
  return (values) => {
    const row: Record<string, unknown> = {};
    for (let i = 0; i < names.length; i++) row[names[i]!] = values[i];
    return row;
  };
}
