import { InvalidCursorError, InvalidEnumeratorError, InvalidOptionError } from '../errors.js';
import type { Enumeration, Pair } from '../iterable-job.js';

/**
 * One level of a {@link nested} enumeration. The outermost gets its cursor; every other level gets the item of the
 * level around it, its own cursor, and the items of all the levels around it, outermost first.
 */
export type NestedLevel =
  | ((cursor: any) => Enumeration<any, any>)
  | ((outerItem: any, cursor: any, outerItems: readonly any[]) => Enumeration<any, any>);

/** Options of {@link nested}. */
export interface NestedOptions {
  /** The cursor array of the last finished item (the job's `context.cursor`); `undefined` starts from the beginning. */
  cursor?: readonly unknown[] | undefined;
}

/**
 * Enumerates nested levels (shops, then each shop's orders, then each order's lines) as `[innermostItem,
 * cursorArray]`. `levels[0](cursor)` enumerates the outermost level; `levels[i](outerItem, cursor)` the level inside
 * an item of level `i - 1`.
 *
 * The cursor array has one entry per level. The innermost entry is the cursor of the last finished item; each outer
 * entry is the cursor its level resumes from: that of the outer item *before* the one in progress (`null` for "from
 * the start"), so a resume enters the same outer item again and goes on inside it. A resume therefore neither
 * repeats nor skips an item of any level, provided each level resumes after its cursor. `null` always means "from
 * the start" here: a level whose own cursor can be `null` does not fit.
 *
 * A cursor that is not an array of one entry per level throws `InvalidCursorError` (`ERR_INVALID_CURSOR`) when
 * called, before any level is built.
 */
export function nested<Item = unknown>(levels: readonly NestedLevel[], options: NestedOptions = {}): AsyncIterable<Pair<Item, unknown[]>> {
  if (!Array.isArray(levels) || levels.length === 0 || !levels.every((level) => typeof level === 'function')) {
    throw new InvalidOptionError('nested(levels)', levels, 'a non-empty array of functions, one per level');
  }
  const { cursor } = options;
  if (cursor !== undefined && !(Array.isArray(cursor) && cursor.length === levels.length)) {
    throw new InvalidCursorError(undefined, cursor, `expected an array of ${levels.length} cursors, one per level`, { source: 'nested' });
  }
  const depth = levels.length;
  // The cursor each level resumes from; `null` is "from the start" in the array the job saves.
  const cursors: unknown[] = cursor === undefined ? new Array<unknown>(depth).fill(null) : [...cursor];
  const open = (level: number, outer: readonly unknown[]): unknown => {
    const from = cursors[level] ?? undefined;
    const build = levels[level]!;
    return level === 0 ? (build as (c: unknown) => unknown)(from) : build(outer[outer.length - 1], from, outer);
  };

  async function* walk(level: number, outer: unknown[]): AsyncGenerator<Pair<Item, unknown[]>> {
    for await (const pair of asIterable(open(level, outer), level)) {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new InvalidEnumeratorError('nested', `level ${level} must yield [item, cursor] pairs; it yielded ${Array.isArray(pair) ? `an array of length ${pair.length}` : typeof pair}.`);
      }
      const [item, itemCursor] = pair as [unknown, unknown];
      if (level === depth - 1) {
        const snapshot = [...cursors];
        snapshot[level] = itemCursor;
        yield [item as Item, snapshot];
      } else {
        outer.push(item);
        yield* walk(level + 1, outer);
        outer.pop();
        // Inner levels start afresh inside the next outer item; only the first one resumed inside a saved position.
        for (let deeper = level + 1; deeper < depth; deeper++) cursors[deeper] = null;
      }
      // Set after the item's inner levels are done: until then a resume must enter this item again. A copy, as a
      // level may reuse and mutate one cursor object, which would move a saved outer entry onto the item after it.
      cursors[level] = itemCursor !== null && typeof itemCursor === 'object' ? structuredClone(itemCursor) : itemCursor;
    }
  }
  return { [Symbol.asyncIterator]: () => walk(0, []) };
}

function asIterable(enumeration: unknown, level: number): Iterable<unknown> | AsyncIterable<unknown> {
  if (enumeration !== null && typeof enumeration === 'object' && (Symbol.asyncIterator in enumeration || Symbol.iterator in enumeration)) {
    return enumeration as Iterable<unknown> | AsyncIterable<unknown>;
  }
  throw new InvalidEnumeratorError('nested', `level ${level} must return an Iterable or AsyncIterable of [item, cursor] pairs; it returned ${enumeration === null ? 'null' : typeof enumeration}.`);
}
