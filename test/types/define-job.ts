// Compile-only: checked by `npm run typecheck` (and so by `npm test`), never run.
import { defineJob, runInline, stateOf, type IterableJobClass, type JobProgress } from '../../src/index.js';
import { expectType, type Equal } from './expect-type.js';

async function* numbers(from: number, to: number): AsyncGenerator<[number, number]> {
  for (let i = from; i < to; i++) yield [i, i];
}

export async function inferred(): Promise<void> {
  // Params from the annotation, Item from the yields, Cursor from the validateCursor guard: nothing declared twice.
  const Reindex = defineJob({
    name: 'reindex',
    validateCursor: (cursor): cursor is number => Number.isSafeInteger(cursor),
    *buildEnumerator(params: { ids: string[] }, { cursor }) {
      expectType<Equal<typeof cursor, number | undefined>>();
      for (let i = cursor === undefined ? 0 : cursor + 1; i < params.ids.length; i++) yield [params.ids[i]!, i] as const;
    },
    eachIteration(id, params, { cursor, signal }) {
      expectType<Equal<typeof id, string>>();
      expectType<Equal<typeof params, { ids: string[] }>>();
      expectType<Equal<typeof cursor, number>>();
      expectType<Equal<typeof signal, AbortSignal>>();
      expectType<Equal<typeof this.progress, JobProgress<number>>>();
    },
    onShutdown(params) {
      expectType<Equal<typeof params, { ids: string[] }>>();
    },
  });
  expectType<Equal<typeof Reindex, IterableJobClass<{ ids: string[] }, string, number>>>();

  const result = await runInline(Reindex, { ids: ['a'] });
  expectType<Equal<typeof result.state.cursor, number | undefined>>();
  // @ts-expect-error params must match the inferred type
  await runInline(Reindex, { ids: [1] });

  // An async generator from elsewhere: the cursor's type follows from the guard even before the enumerator is read.
  defineJob({
    name: 'count-up',
    validateCursor: (cursor): cursor is number => typeof cursor === 'number',
    buildEnumerator: (params: { n: number }, { cursor }) => numbers(cursor === undefined ? 0 : cursor + 1, params.n),
    eachIteration(item) {
      expectType<Equal<typeof item, number>>();
    },
  });

  defineJob({
    name: 'wrong-item',
    validateCursor: (cursor): cursor is number => typeof cursor === 'number',
    buildEnumerator: (params: { n: number }, { cursor }) => numbers(cursor ?? 0, params.n),
    // @ts-expect-error the enumerator yields numbers, not strings
    eachIteration(item: string) {
      return item;
    },
  });

  defineJob({
    name: 'wrong-cursor',
    // @ts-expect-error the guard says string, the enumerator yields number cursors
    validateCursor: (cursor): cursor is string => typeof cursor === 'string',
    buildEnumerator: (params: { n: number }) => numbers(0, params.n),
    eachIteration() {},
  });

  // @ts-expect-error a job needs eachIteration
  defineJob({ name: 'no-body', buildEnumerator: (_params: { n: number }) => numbers(0, 1) });

  const err: unknown = new Error('x');
  const failed = stateOf<number>(err);
  expectType<Equal<typeof failed, import('../../src/index.js').JobState<number> | undefined>>();
  expectType<Equal<NonNullable<typeof failed>['cursor'], number | undefined>>();
}
