// Compile-only: checked by `npm run typecheck` (and so by `npm test`), never run.
import { defineJob, fromArray, inBatches, nested, throttle, type Interruption, type RunResult } from '../../src/index.js';
import { expectType, type Equal } from './expect-type.js';

export function builders(): void {
  const users = fromArray([{ id: 1 }, { id: 2 }], { cursor: undefined });
  for (const pair of users) expectType<Equal<typeof pair, readonly [{ id: number }, number]>>();
  // @ts-expect-error a fromArray cursor is an index
  fromArray(['a'], { cursor: 'a' });

  const batches = inBatches(users, 100);
  expectType<Equal<typeof batches extends AsyncIterable<infer P> ? P : never, readonly [{ id: number }[], number]>>();
  // @ts-expect-error a batch size is a number
  inBatches(users, '100');

  const lines = nested<string>([(c: number | undefined) => fromArray([['a', 'b']], { cursor: c }), (words: string[], c: number | undefined) => fromArray(words, { cursor: c })]);
  expectType<Equal<typeof lines extends AsyncIterable<infer P> ? P : never, readonly [string, unknown[]]>>();
}

export function concurrencyAndThrottle(result: RunResult<number>): void {
  const Job = defineJob({
    name: 'typed',
    concurrency: 4,
    localAdapters: { lag: throttle(() => false, { backoffMs: 1000 }) },
    validateCursor: (cursor): cursor is number => Number.isSafeInteger(cursor),
    buildEnumerator: (_params: object, { cursor }) => fromArray([1, 2], { cursor }),
    eachIteration(item) {
      expectType<Equal<typeof item, number>>();
    },
  });
  void Job;
  expectType<Equal<typeof result.interruption, Interruption | undefined>>();
  expectType<Equal<NonNullable<typeof result.interruption>['retryAfterMs'], number | undefined>>();
  // @ts-expect-error the throttle predicate is a function
  throttle(true);
}
