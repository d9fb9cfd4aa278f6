import { InvalidCursorError, InvalidOptionError } from '../errors.js';
import type { Extent, MeasuredEnumeration } from '../extent.js';
import type { Pair } from '../iterable-job.js';

/** Options of {@link fromArray}. */
export interface FromArrayOptions {
  /** The index of the last finished item (the job's `context.cursor`); `undefined` starts at the first. */
  cursor?: number | undefined;
}

/** What {@link fromArray} returns: the items with their indexes, measured in items. */
export type ArrayEnumeration<Item> = Iterable<Pair<Item, number>> & MeasuredEnumeration<number>;

/**
 * Enumerates `items` as `[item, index]`, starting after the index `cursor`. The cursor is the index of the last
 * finished item, so the array must be the same (same order, same length) on every run of the job: build it from
 * the params, not from data that moves.
 *
 * A cursor that is not an index of this array (not an integer, negative, or past its end: the array got shorter)
 * throws `InvalidCursorError` (`ERR_INVALID_CURSOR`) when called, before any item is yielded.
 */
export function fromArray<Item>(items: readonly Item[], options: FromArrayOptions = {}): ArrayEnumeration<Item> {
  if (!Array.isArray(items)) throw new InvalidOptionError('fromArray(items)', items, 'an array');
  const { cursor } = options;
  if (cursor !== undefined && !(Number.isSafeInteger(cursor) && cursor >= 0 && cursor < items.length)) {
    const problem = Number.isSafeInteger(cursor) && (cursor as number) >= items.length
      ? `it is past the end of an array of ${items.length} items: the array changed since the cursor was saved`
      : 'expected the index of an item (an integer >= 0)';
    throw new InvalidCursorError(undefined, cursor, problem, { source: 'fromArray' });
  }
  const start = cursor === undefined ? 0 : cursor + 1;
  return {
    *[Symbol.iterator]() {
      for (let i = start; i < items.length; i++) yield [items[i] as Item, i] as const;
    },
    extent(at: number | undefined): Extent {
      return { done: at === undefined ? 0 : at + 1, total: items.length, unit: 'items' };
    },
  };
}
