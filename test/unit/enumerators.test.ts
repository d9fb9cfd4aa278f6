import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IterableJob, InvalidCursorError, InvalidOptionError, fromArray, inBatches, nested, runInline, type Enumeration, type IterableJobClass, type JobState } from '../../src/index.js';

/** What the jobs of this file processed, in order. */
let processed: unknown[] = [];

/** Runs `JobClass` in runs of `k` items until it completes; returns every item processed, in order. */
async function resumeEvery<Item>(JobClass: IterableJobClass<unknown, Item, unknown>, k: number): Promise<{ items: Item[]; runs: number }> {
  processed = [];
  let state: JobState<unknown> | undefined;
  for (let runs = 1; ; runs++) {
    assert.ok(runs < 10_000, 'the job never completed');
    const result = await runInline(JobClass, {}, { state, maxIterations: k, adapters: [] });
    // Through JSON in between, as every store does.
    state = JSON.parse(JSON.stringify(result.state)) as JobState<unknown>;
    if (result.status === 'completed') return { items: processed as Item[], runs };
  }
}

function jobOver<Item>(build: (cursor: any) => Enumeration<Item, unknown>): IterableJobClass<unknown, Item, unknown> {
  return class Over extends IterableJob<unknown, Item, unknown> {
    buildEnumerator(_params: unknown, { cursor }: { cursor: unknown }) {
      return build(cursor);
    }
    eachIteration(item: Item) {
      processed.push(item);
    }
  };
}

const letters = [...'abcdefghij'];

describe('fromArray', () => {
  test('yields [item, index] and resumes after the cursor, for every stopping point', async () => {
    assert.deepEqual([...fromArray(['x', 'y'])], [['x', 0], ['y', 1]]);
    for (let k = 1; k <= letters.length + 1; k++) {
      const { items } = await resumeEvery(jobOver((cursor) => fromArray(letters, { cursor })), k);
      assert.deepEqual(items, letters, `stopping every ${k}`);
    }
  });

  test('refuses a cursor that is not an index of the array before yielding anything', () => {
    for (const cursor of [-1, 1.5, '3', 10, 99, null, [1]]) {
      assert.throws(() => fromArray(letters, { cursor: cursor as number }), (error: unknown) => {
        assert.ok(error instanceof InvalidCursorError);
        assert.equal(error.code, 'ERR_INVALID_CURSOR');
        assert.match(error.message, /^fromArray cannot resume from the saved cursor/);
        return true;
      }, `cursor ${JSON.stringify(cursor)}`);
    }
    assert.match(String(captured(() => fromArray(letters, { cursor: 10 }))), /past the end of an array of 10 items: the array changed/);
    assert.throws(() => fromArray('abc' as never), InvalidOptionError);
  });

  test('a run over a shrunken array fails with ERR_INVALID_CURSOR and runs nothing', async () => {
    let ran = 0;
    const Job = class extends IterableJob<{ n: number }, string, number> {
      buildEnumerator({ n }: { n: number }, { cursor }: { cursor: number | undefined }) {
        return fromArray(letters.slice(0, n), { cursor });
      }
      eachIteration() {
        ran++;
      }
    };
    const first = await runInline(Job, { n: 10 }, { maxIterations: 8, adapters: [] });
    ran = 0;
    await assert.rejects(runInline(Job, { n: 5 }, { state: first.state, adapters: [] }), { code: 'ERR_INVALID_CURSOR' });
    assert.equal(ran, 0);
  });

  test('is measured in items', () => {
    const e = fromArray(letters);
    assert.deepEqual(e.extent(undefined, 0), { done: 0, total: 10, unit: 'items' });
    assert.deepEqual(e.extent(4, 5), { done: 5, total: 10, unit: 'items' });
  });
});

// Three levels, with empty lists at every level and generators of both kinds, so a resume has to re-enter outer
// items whose inner levels are done, empty or half-done.
const tree = [
  { id: 'a', children: [{ id: 'a1', leaves: [1, 2] }, { id: 'a2', leaves: [] }, { id: 'a3', leaves: [3] }] },
  { id: 'b', children: [] },
  { id: 'c', children: [{ id: 'c1', leaves: [] }, { id: 'c2', leaves: [4, 5, 6] }] },
  { id: 'd', children: [{ id: 'd1', leaves: [7] }] },
];
const allLeaves = [1, 2, 3, 4, 5, 6, 7];

const Tree = jobOver<number>((cursor) =>
  nested<number>(
    [
      (c: number | undefined) => fromArray(tree, { cursor: c }),
      async function* (node: (typeof tree)[number], c: number | undefined) {
        for (let i = c === undefined ? 0 : c + 1; i < node.children.length; i++) yield [node.children[i]!, i] as const;
      },
      (child: { leaves: number[] }, c: number | undefined) => fromArray(child.leaves, { cursor: c }),
    ],
    { cursor: cursor as unknown[] | undefined },
  ),
);

describe('nested', () => {
  test('yields the innermost items with one cursor per level', async () => {
    const pairs: Array<[number, unknown[]]> = [];
    for await (const pair of nested<number>([(c: number | undefined) => fromArray(tree, { cursor: c }), (n: (typeof tree)[number], c: number | undefined) => fromArray(n.children, { cursor: c }), (ch: { leaves: number[] }, c: number | undefined) => fromArray(ch.leaves, { cursor: c })])) {
      pairs.push(pair as [number, unknown[]]);
    }
    assert.deepEqual(pairs.map(([item]) => item), allLeaves);
    // Each outer entry is the cursor its level resumes from: the item before the one in progress.
    assert.deepEqual(pairs[0]![1], [null, null, 0]);
    assert.deepEqual(pairs[2]![1], [null, 1, 0]);
    assert.deepEqual(pairs[3]![1], [1, 0, 0]);
  });

  test('resuming at every position neither repeats nor skips an item of any level', async () => {
    for (let k = 1; k <= allLeaves.length + 1; k++) {
      const { items } = await resumeEvery(Tree, k);
      assert.deepEqual(items, allLeaves, `stopping every ${k}`);
    }
  });

  test('the outer levels are entered again on resume, never past the item in progress', async () => {
    const opened: string[] = [];
    const Job = jobOver<number>((cursor) =>
      nested<number>(
        [
          (c: number | undefined) => fromArray(tree, { cursor: c }),
          (node: (typeof tree)[number], c: number | undefined) => {
            opened.push(node.id);
            return fromArray(node.children, { cursor: c });
          },
          (child: { leaves: number[] }, c: number | undefined, outer: readonly unknown[]) => {
            assert.equal(outer.length, 2, 'the innermost level sees every level around it');
            return fromArray(child.leaves, { cursor: c });
          },
        ],
        { cursor: cursor as unknown[] | undefined },
      ),
    );
    const first = await runInline(Job, {}, { maxIterations: 4, adapters: [] });
    assert.deepEqual(first.state.cursor, [1, 0, 0], 'in c (after b), in c2 (after c1), after leaf 4');
    opened.length = 0;
    await runInline(Job, {}, { state: first.state, adapters: [] });
    assert.deepEqual(opened, ['c', 'd'], 'the resume starts inside c, the outer item in progress');
  });

  test('an outer level that reuses and mutates one cursor object skips nothing on resume', async () => {
    const shops = [['s1-a', 's1-b'], ['s2-a', 's2-b', 's2-c'], ['s3-a']];
    const Mutating = jobOver<string>((cursor) =>
      nested<string>(
        [
          function* (c: { at: number } | undefined) {
            const shared = { at: -1 };
            for (let i = c === undefined ? 0 : c.at + 1; i < shops.length; i++) {
              shared.at = i;
              yield [shops[i]!, shared] as const;
            }
          },
          (lines: string[], c: number | undefined) => fromArray(lines, { cursor: c }),
        ],
        { cursor: cursor as unknown[] | undefined },
      ),
    );
    for (let k = 1; k <= 6; k++) assert.deepEqual((await resumeEvery(Mutating, k)).items, shops.flat(), `stopping every ${k}`);
  });

  test('refuses a cursor with the wrong number of levels before building any', () => {
    let built = 0;
    const level = () => (built++, []);
    for (const cursor of [[1], [1, 2, 3], 'x', { 0: 1, 1: 2 }]) {
      assert.throws(() => nested([level, level], { cursor: cursor as never }), (error: unknown) => {
        assert.ok(error instanceof InvalidCursorError);
        assert.match(error.message, /^nested cannot resume from the saved cursor .*: expected an array of 2 cursors, one per level/);
        return true;
      });
    }
    assert.equal(built, 0);
    assert.throws(() => nested([]), InvalidOptionError);
    assert.throws(() => nested(['x' as never]), InvalidOptionError);
  });
});

describe('inBatches', () => {
  const numbers = Array.from({ length: 23 }, (_, i) => i);
  test('groups any enumeration into whole batches whose cursor is the last item\'s, for sizes that do and do not divide it', async () => {
    for (const size of [1, 4, 5, 23, 30]) {
      for (const k of [1, 2, 3]) {
        const { items } = await resumeEvery(jobOver((cursor) => inBatches(fromArray(numbers, { cursor: cursor as number | undefined }), size)), k);
        assert.deepEqual(items.flat(), numbers, `size ${size}, stopping every ${k}`);
        assert.ok(items.every((batch, i) => batch.length === size || i === items.length - 1), 'only the last batch is short');
      }
    }
  });

  test('an interrupted batch is never half-done: the saved cursor is the last item of the last finished batch', async () => {
    const Job = jobOver((cursor) => inBatches(fromArray(numbers, { cursor: cursor as number | undefined }), 5));
    const first = await runInline(Job, {}, { maxIterations: 2, adapters: [] });
    assert.equal(first.state.cursor, 9);
    assert.equal(first.state.iterations, 2);
  });

  test('is measured by the enumeration it wraps, and refuses a bad size', () => {
    const batches = inBatches(fromArray(numbers), 5);
    assert.deepEqual(batches.extent(9, 2), { done: 10, total: 23, unit: 'items' });
    assert.equal(inBatches([[1, 1]], 2).extent(1, 1), undefined, 'an unmeasured enumeration stays unmeasured');
    for (const size of [0, -1, 1.5, NaN]) assert.throws(() => inBatches([], size), InvalidOptionError);
    assert.throws(() => inBatches(5 as never, 2), InvalidOptionError);
  });
});

function captured(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}
