import { InvalidEnumeratorError, InvalidOptionError } from '../errors.js';
import { extentOf, type Extent, type MeasuredEnumeration } from '../extent.js';
import type { Enumeration, Pair } from '../iterable-job.js';

/**
 * Groups any enumeration into batches of up to `size` items, yielded as `[items, cursor]` where the cursor is that
 * of the batch's last item. A batch is one iteration: it is finished or not, so an interrupted run never leaves
 * half a batch done, and the next run starts with the batch after the last finished one.
 *
 * The batch's enumeration is measured when the one it wraps is (the wrapped one is told `size` items per batch).
 */
export function inBatches<Item, Cursor>(
  enumeration: Enumeration<Item, Cursor>,
  size: number,
): AsyncIterable<Pair<Item[], Cursor>> & MeasuredEnumeration<Cursor> {
  if (!Number.isSafeInteger(size) || size < 1) throw new InvalidOptionError('inBatches(size)', size, 'an integer >= 1');
  if (enumeration === null || typeof enumeration !== 'object' || !(Symbol.asyncIterator in enumeration || Symbol.iterator in enumeration)) {
    throw new InvalidOptionError('inBatches(enumeration)', enumeration, 'an Iterable or AsyncIterable of [item, cursor] pairs');
  }
  async function* batches(): AsyncGenerator<Pair<Item[], Cursor>> {
    let items: Item[] = [];
    let last: Cursor | undefined;
    for await (const pair of enumeration as AsyncIterable<Pair<Item, Cursor>>) {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new InvalidEnumeratorError('inBatches', `the enumeration must yield [item, cursor] pairs; it yielded ${Array.isArray(pair) ? `an array of length ${pair.length}` : typeof pair}.`);
      }
      items.push(pair[0]);
      last = pair[1];
      if (items.length === size) {
        yield [items, last];
        items = [];
      }
    }
    if (items.length > 0) yield [items, last as Cursor];
  }
  return {
    [Symbol.asyncIterator]: batches,
    extent(cursor: Cursor | undefined, iterations: number): Extent | undefined {
      return extentOf(enumeration, cursor, iterations * size);
    },
  };
}
