import type { Extent, MeasuredEnumeration } from '../extent.js';
import type { Pair } from '../iterable-job.js';
import type { CsvCursor } from './cursor.js';

/**
 * What `csvRecords` and `csvBatches` return: an async iterable of `[item, cursor]` pairs that reports progress in
 * bytes of the file. Each iteration opens the file afresh from the cursor the enumeration was built with; closing
 * the iterator early (`return()`, as the engine does on a stop) closes the file before it resolves.
 */
export class CsvEnumeration<Item> implements AsyncIterable<Pair<Item, CsvCursor>>, MeasuredEnumeration<CsvCursor> {
  #size: number | undefined;
  readonly #open: (onSize: (size: number) => void) => AsyncIterator<Pair<Item, CsvCursor>>;

  /** @internal */
  constructor(open: (onSize: (size: number) => void) => AsyncIterator<Pair<Item, CsvCursor>>) {
    this.#open = open;
  }

  /** The file's size in bytes when the last iteration started; `undefined` before one has. */
  get size(): number | undefined {
    return this.#size;
  }

  /** Bytes up to the cursor's offset, out of the file's size; `undefined` until an iteration has read the size. */
  extent(cursor: CsvCursor | undefined): Extent | undefined {
    if (this.#size === undefined) return undefined;
    const done = typeof cursor?.offset === 'number' ? cursor.offset : 0;
    return { done, total: this.#size, unit: 'bytes' };
  }

  [Symbol.asyncIterator](): AsyncIterator<Pair<Item, CsvCursor>> {
    return this.#open((size) => {
      this.#size = size;
    });
  }
}
