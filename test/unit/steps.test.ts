import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StepJob, defineSteps, fromArray, runInline, stepLabel, type Step, type StepCursor } from '../../src/index.js';
import { InvalidCursorError, InvalidEnumeratorError, StepsChangedError } from '../../src/errors.js';
import { describeExtent, describeProgressStep } from '../../src/extent.js';
import { iterateExactTimes, markInterrupted } from '../../src/testing.js';
import type { JobState } from '../../src/state.js';

type Log = string[];

function stepsFor(log: Log, options: { abortAt?: { item: number; controller: AbortController } } = {}): Step<{ n: number }>[] {
  return [
    { name: 'prepare', run: () => void log.push('run:prepare') },
    {
      name: 'backfill',
      buildEnumerator: (params, { cursor }) => fromArray(Array.from({ length: params.n }, (_, i) => i + 1), { cursor }),
      eachIteration: (item: number) => {
        log.push(`item:${item}`);
        if (options.abortAt?.item === item) options.abortAt.controller.abort(new Error('stop'));
      },
      validateCursor: (cursor) => Number.isSafeInteger(cursor) || 'expected an index',
    },
    { name: 'swap', run: () => void log.push('run:swap') },
    { name: 'empty', buildEnumerator: () => [], eachIteration: () => void log.push('item:empty') },
  ];
}

function jobWith(log: Log, steps: Step<{ n: number }>[] = stepsFor(log)) {
  return class Migrate extends StepJob<{ n: number }> {
    static override jobName = 'migrate';
    static override steps = steps;
    override onStepStart(name: string) {
      log.push(`start:${name}`);
    }
    override onStepComplete(name: string) {
      log.push(`complete:${name}`);
    }
  };
}

const FULL = [
  'start:prepare', 'run:prepare', 'complete:prepare',
  'start:backfill', 'item:1', 'item:2', 'item:3', 'complete:backfill',
  'start:swap', 'run:swap', 'complete:swap',
  'start:empty', 'complete:empty',
];
// prepare (1) + backfill (3 items + its end) + swap (1) + empty (its end)
const ITERATIONS = 7;

const roundTrip = <T>(state: JobState<T>): JobState<T> => JSON.parse(JSON.stringify(state)) as JobState<T>;

describe('step jobs', () => {
  test('run the steps in order, with hooks around each, and complete with every step done', async () => {
    const log: Log = [];
    const result = await runInline(jobWith(log), { n: 3 }, { adapters: [] });
    assert.equal(result.status, 'completed');
    assert.deepEqual(log, FULL);
    assert.equal(result.state.iterations, ITERATIONS);
    assert.deepEqual(result.state.cursor, { step: 'empty', done: ['prepare', 'backfill', 'swap', 'empty'] });
  });

  test('interrupted after any number of items, a resume runs each plain step once, each item once, each hook once', async () => {
    for (let n = 0; n <= ITERATIONS; n++) {
      const log: Log = [];
      const Job = jobWith(log);
      const first = await iterateExactTimes(Job, { n: 3 }, n);
      const resumed = await runInline(Job, { n: 3 }, { adapters: [], state: roundTrip(first.state) });
      assert.equal(resumed.status, 'completed', `after ${n}`);
      assert.deepEqual(log, FULL, `interrupted after ${n} items`);
      assert.equal(resumed.state.iterations, ITERATIONS);
    }
  });

  test('interrupted twice inside the iteration step by the run signal, items still run exactly once', async () => {
    const log: Log = [];
    const controller = new AbortController();
    const Job = jobWith(log, stepsFor(log, { abortAt: { item: 1, controller } }));
    const first = await runInline(Job, { n: 3 }, { adapters: [], signal: controller.signal });
    assert.equal(first.status, 'interrupted');
    assert.deepEqual(first.state.cursor, { step: 'backfill', done: ['prepare'], cursor: 0, items: 1 });
    const second = await iterateExactTimes(Job, { n: 3 }, 1, { state: roundTrip(first.state) });
    assert.deepEqual(second.state.cursor, { step: 'backfill', done: ['prepare'], cursor: 1, items: 2 });
    const last = await runInline(Job, { n: 3 }, { adapters: [], state: roundTrip(second.state) });
    assert.equal(last.status, 'completed');
    assert.deepEqual(log, FULL);
  });

  describe('a saved cursor from another step list is refused with ERR_STEPS_CHANGED before anything runs', () => {
    const saved: StepCursor = { step: 'backfill', done: ['prepare'], cursor: 1 };
    const cases: Array<[string, (steps: Step[]) => Step[], RegExp]> = [
      ['a completed step renamed', (s) => [{ ...s[0]!, name: 'setup' }, ...s.slice(1)], /completed step "prepare" at position 1 is now "setup"/],
      ['steps reordered', (s) => [s[1]!, s[0]!, ...s.slice(2)], /completed step "prepare" moved from position 1 to 2/],
      ['a completed step removed', (s) => s.slice(1), /completed step "prepare" at position 1 is now "backfill"/],
      ['the step in progress renamed', (s) => [s[0]!, { ...s[1]!, name: 'copy' }, ...s.slice(2)], /step in progress "backfill" at position 2 is now "copy"/],
      ['a step inserted before the step in progress', (s) => [s[0]!, { name: 'new', run: () => {} }, ...s.slice(1)], /step in progress "backfill" moved from position 2 to 3/],
    ];
    for (const [what, change, message] of cases) {
      test(what, async () => {
        const log: Log = [];
        const Job = jobWith(log, change(stepsFor(log)) as Step<{ n: number }>[]);
        const error = await runInline(Job, { n: 3 }, { adapters: [], state: markInterrupted(Job, { cursor: saved, iterations: 3 }) }).then(
          () => assert.fail('resumed'),
          (e: unknown) => e as StepsChangedError,
        );
        // Its own error, at the top: still an InvalidCursorError, so whatever refuses a bad cursor for good refuses it.
        assert.ok(error instanceof StepsChangedError);
        assert.ok(error instanceof InvalidCursorError);
        assert.equal(error.code, 'ERR_STEPS_CHANGED');
        assert.equal(error.name, 'StepsChangedError');
        assert.match(error.change, message);
        assert.match(error.message, message);
        assert.deepEqual(error.savedSteps, ['prepare', 'backfill']);
        assert.ok(error.state, 'the state the run was refused with rides on the error');
        assert.deepEqual(log, []);
      });
    }

    test('a step in progress that became a plain step under the same name is refused: its cursor would be lost on the next iteration step', async () => {
      const log: Log = [];
      const steps = stepsFor(log);
      const Job = jobWith(log, [steps[0]!, { name: 'backfill', run: () => void log.push('run:backfill') }, ...steps.slice(2)]);
      const error = await runInline(Job, { n: 3 }, { adapters: [], state: markInterrupted(Job, { cursor: saved, iterations: 3 }) }).then(
        () => assert.fail('resumed'),
        (e: unknown) => e as StepsChangedError,
      );
      assert.equal(error.code, 'ERR_STEPS_CHANGED');
      assert.match(error.change, /step in progress "backfill" is now a plain step/);
      assert.deepEqual(log, []);
      // A cursor inside a step without that step's own cursor has no place to resume from.
      await assert.rejects(runInline(jobWith([]), { n: 3 }, { adapters: [], state: markInterrupted(jobWith([]), { cursor: { step: 'backfill', done: ['prepare'] } }) }), {
        code: 'ERR_INVALID_CURSOR',
        message: /inside step "backfill" to have that step's own "cursor"/,
      });
    });

    test('a step added after the saved position is accepted', async () => {
      const log: Log = [];
      const Job = jobWith(log, [...stepsFor(log), { name: 'later', run: () => void log.push('run:later') }]);
      const result = await runInline(Job, { n: 3 }, { adapters: [], state: markInterrupted(Job, { cursor: saved, iterations: 3 }) });
      assert.equal(result.status, 'completed');
      assert.deepEqual(log, ['item:3', 'complete:backfill', ...FULL.slice(8), 'start:later', 'run:later', 'complete:later']);
    });

    test("a cursor the step's own validateCursor refuses, or of the wrong shape, is ERR_INVALID_CURSOR", async () => {
      const Job = jobWith([]);
      for (const cursor of [{ step: 'backfill', done: ['prepare'], cursor: 'x' }, { step: 1, done: [] }, 5]) {
        await assert.rejects(runInline(Job, { n: 3 }, { adapters: [], state: markInterrupted(Job, { cursor: cursor as StepCursor }) }), { code: 'ERR_INVALID_CURSOR' });
      }
    });
  });

  test('a resume after a completed step starts the next one with its onStepStart; the completed step does not run again', async () => {
    const log: Log = [];
    const Job = jobWith(log);
    await runInline(Job, { n: 3 }, { adapters: [], state: markInterrupted(Job, { cursor: { step: 'prepare', done: ['prepare'] }, iterations: 1 }) });
    assert.deepEqual(log, FULL.slice(3));
  });

  test('defineSteps builds a step job; the enumeration is measured in steps', async () => {
    const log: Log = [];
    const extents: unknown[] = [];
    const Job = defineSteps<{ n: number }>({
      name: 'defined',
      steps: stepsFor(log),
      onStepStart(name) {
        log.push(`start:${name}`);
        extents.push(this.progress.cursor === undefined ? undefined : stepLabel(this.steps.map((s) => s.name), this.progress.cursor));
      },
      onStepComplete: (name) => void log.push(`complete:${name}`),
    });
    const result = await runInline(Job, { n: 3 }, { adapters: [] });
    assert.equal(result.status, 'completed');
    assert.deepEqual(log, FULL);
    assert.deepEqual(extents, [undefined, 'step 2/4 backfill', 'step 3/4 swap', 'step 4/4 empty']);
    assert.equal(stepLabel(['a', 'b'], { step: 'b', done: ['a', 'b'] }), 'done (2 steps)');
  });

  test("the extent is the current step's own measure once its enumerator is open, with the step's position", async () => {
    const job = new (jobWith([]))() as StepJob<{ n: number }>;
    const enumeration = job.buildEnumerator({ n: 3 }, { cursor: undefined });
    const backfill = { name: 'backfill', position: 2, count: 4 };
    // Not open yet: the job's steps, and where it is.
    assert.deepEqual(enumeration.extent(undefined, 0), { done: 0, total: 4, unit: 'steps', step: { name: 'prepare', position: 1, count: 4 } });
    assert.deepEqual(enumeration.extent({ step: 'prepare', done: ['prepare'] }, 1), { done: 1, total: 4, unit: 'steps', step: backfill });
    const chain = enumeration[Symbol.asyncIterator]();
    // Driven by hand, without the job: a plain step or a step's end is over once it is handed out, as the job tells
    // the chain when it runs them.
    const iterator = {
      async next() {
        const result = await chain.next();
        result.value?.[0].boundary?.settle();
        return result;
      },
      return: () => chain.return?.(),
    };
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { value } = await iterator.next();
      const [, cursor] = value!;
      seen.push(describeExtent(enumeration.extent(cursor, i + 1)!));
    }
    // After prepare, then after backfill's first and second item (fromArray measures its items).
    assert.deepEqual(seen, ['step 2/4 backfill', 'step 2/4 backfill: 33%', 'step 2/4 backfill: 66%']);
    assert.deepEqual(enumeration.extent({ step: 'backfill', done: ['prepare'], cursor: 1, items: 2 }, 3), { done: 2, total: 3, unit: 'items', step: backfill });
    await iterator.next();
    const { value } = await iterator.next();
    assert.deepEqual(value![1], { step: 'backfill', done: ['prepare', 'backfill'] });
    assert.deepEqual(enumeration.extent(value![1], 5), { done: 2, total: 4, unit: 'steps', step: { name: 'swap', position: 3, count: 4 } });
    assert.deepEqual(enumeration.extent({ step: 'empty', done: ['prepare', 'backfill', 'swap', 'empty'] }, 7), { done: 4, total: 4, unit: 'steps' });
    await iterator.return?.();
  });

  test('a step resumed inside reports its measure from the items it had done', async () => {
    const job = new (jobWith([]))() as StepJob<{ n: number }>;
    const enumeration = job.buildEnumerator({ n: 4 }, { cursor: { step: 'backfill', done: ['prepare'], cursor: 1, items: 2 } });
    const iterator = enumeration[Symbol.asyncIterator]();
    const { value } = await iterator.next();
    assert.deepEqual(value![1], { step: 'backfill', done: ['prepare'], cursor: 2, items: 3 });
    assert.equal(describeExtent(enumeration.extent(value![1], 4)!), 'step 2/4 backfill: 75%');
    await iterator.return?.();
  });

  test('every finished step is saved at once, whatever the checkpoint interval: a crash after it never runs it again', async () => {
    const saved: unknown[] = [];
    await runInline(jobWith([]), { n: 3 }, { adapters: [], checkpointIntervalMs: 3_600_000, persist: (s) => void saved.push(structuredClone(s.cursor)) });
    assert.deepEqual(saved, [
      { step: 'prepare', done: ['prepare'] },
      { step: 'backfill', done: ['prepare', 'backfill'] },
      { step: 'swap', done: ['prepare', 'backfill', 'swap'] },
      { step: 'empty', done: ['prepare', 'backfill', 'swap', 'empty'] },
      // The run's own end.
      { step: 'empty', done: ['prepare', 'backfill', 'swap', 'empty'] },
    ]);
  });

  test('every member of a step is called with the job instance as this, so steps share what the job opened', async () => {
    const seen: unknown[] = [];
    class Shares extends StepJob<{ n: number }> {
      readonly opened = { client: 'db' };
      // Typed with the class, a step reaches the job's own members.
      static override steps: Step<{ n: number }, Shares>[] = [
        { name: 'one', run() { seen.push(this.opened.client === 'db' && this); } },
        {
          name: 'two',
          buildEnumerator(_params, { cursor }) { seen.push(this); return fromArray([1, 2], { cursor }); },
          eachIteration() { seen.push(this.opened && this); },
          validateCursor() { seen.push(this); return true; },
        },
      ];
    }
    const job = new Shares();
    const first = await runInline(Shares, { n: 1 }, { job, adapters: [], maxIterations: 2 });
    const again = new Shares();
    await runInline(Shares, { n: 1 }, { job: again, adapters: [], state: roundTrip(first.state) });
    assert.deepEqual(seen.map((s) => (s === job ? 'first' : s === again ? 'again' : 'other')), ['first', 'first', 'first', 'again', 'again', 'again']);
  });

  test('a step whose buildEnumerator is async, or yields something else than pairs, fails the run naming the job and the step', async () => {
    const async = defineSteps({ name: 'async-step', steps: [{ name: 'load', buildEnumerator: (async () => [[1, 1]]) as never, eachIteration() {} }] });
    await assert.rejects(runInline(async, {}, { adapters: [] }), (error: InvalidEnumeratorError) => {
      assert.equal(error.code, 'ERR_INVALID_ENUMERATOR');
      assert.match(error.message, /^Job "async-step": step "load": buildEnumerator must return an Iterable or AsyncIterable .* a Promise \(do not make buildEnumerator async/);
      return true;
    });
    const odd = defineSteps({ name: 'odd-step', steps: [{ name: 'load', buildEnumerator: () => [5] as never, eachIteration() {} }] });
    await assert.rejects(runInline(odd, {}, { adapters: [] }), { code: 'ERR_INVALID_ENUMERATOR', message: /^Job "odd-step": step "load" must yield \[item, cursor\] pairs; it yielded number/ });
  });

  test('with concurrency, items of a step run side by side, but steps keep their order: hooks around them, nothing of the next step before the last item of this one', async () => {
    for (const [stopAfter, label] of [[Infinity, 'one run'], [5, 'stopped after 5 items, then resumed']] as const) {
      const log: string[] = [];
      let running = 0;
      let most = 0;
      const slow = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
      class Wide extends StepJob<{ n: number }> {
        static override concurrency = 4;
        static override steps: Step<{ n: number }>[] = [
          { name: 'prepare', run: async () => { await slow(5); log.push('run:prepare'); } },
          {
            name: 'fetch',
            buildEnumerator: (params, { cursor }) => {
              // Opened once the step before is done: an enumerator may read what that step wrote.
              log.push('build:fetch');
              return fromArray(Array.from({ length: params.n }, (_, i) => i), { cursor });
            },
            async eachIteration(item: number) {
              most = Math.max(most, ++running);
              // Later items finish first: the end of the step must still wait for the slow early ones.
              await slow(item % 4 === 0 ? 15 : 2);
              running--;
              log.push(`item:${item}`);
            },
          },
          {
            name: 'count',
            buildEnumerator: (_params, { cursor }) => {
              log.push('build:count');
              return fromArray([0, 1, 2, 3, 4, 5], { cursor });
            },
            eachIteration: async (item: number) => {
              await slow(1);
              log.push(`count:${item}`);
            },
          },
          { name: 'swap', run: () => void log.push('run:swap') },
        ];
        override async onStepStart(name: string) {
          await slow(5);
          log.push(`start:${name}`);
        }
        override onStepComplete(name: string) {
          log.push(`complete:${name}`);
        }
      }
      let result = await runInline(Wide, { n: 12 }, { adapters: [], maxIterations: stopAfter === Infinity ? undefined : stopAfter });
      if (result.status === 'interrupted') result = await runInline(Wide, { n: 12 }, { adapters: [], state: roundTrip(result.state) });
      assert.equal(result.status, 'completed', label);
      assert.ok(most > 1, `${label}: items ran side by side (${most} at most)`);
      const at = (entry: string) => log.indexOf(entry);
      const items = Array.from({ length: 12 }, (_, i) => `item:${i}`);
      assert.deepEqual(log.filter((e) => e.startsWith('item:')).sort(), [...items].sort(), `${label}: every item once`);
      assert.ok(at('complete:prepare') < at('start:fetch'), label);
      if (stopAfter === Infinity) assert.ok(at('complete:prepare') < at('build:fetch'), `${label}: ${log.join(' ')}`);
      for (const item of items) assert.ok(at('start:fetch') < at(item) && at(item) < at('complete:fetch'), `${label}: ${item} inside its step`);
      assert.ok(at('complete:fetch') < at('build:count') && at('build:count') < at('start:count'), `${label}: ${log.join(' ')}`);
      assert.ok(log.lastIndexOf('count:5') < at('complete:count') && at('complete:count') < at('start:swap') && at('start:swap') < at('run:swap'), label);
      assert.equal(log.filter((e) => e.startsWith('start:') || e.startsWith('complete:')).length, 8, `${label}: each hook once`);
    }
  });

  test('with concurrency, a failed item ends its step there: no onStepComplete, no later step, whether it throws at once or later', async () => {
    for (const how of ['at once', 'later'] as const) {
      const log: string[] = [];
      class Failing extends StepJob<{ n: number }> {
        static override concurrency = 4;
        static override steps: Step<{ n: number }>[] = [
          {
            name: 'fetch',
            buildEnumerator: (params, { cursor }) => fromArray(Array.from({ length: params.n }, (_, i) => i), { cursor }),
            eachIteration(item: number) {
              if (item === 2) {
                if (how === 'at once') throw new Error('item 2 failed');
                return new Promise((_, reject) => setTimeout(() => reject(new Error('item 2 failed')), 10));
              }
              log.push(`item:${item}`);
              return undefined;
            },
          },
          { name: 'swap', run: () => void log.push('run:swap') },
        ];
        override onStepComplete(name: string) {
          log.push(`complete:${name}`);
        }
      }
      // Three items and the step's end fit in the window of 4: the end is started before the failure is known.
      await assert.rejects(runInline(Failing, { n: 3 }, { adapters: [] }), { message: 'item 2 failed' }, how);
      assert.ok(!log.includes('complete:fetch') && !log.includes('run:swap'), `${how}: ${log.join(' ')}`);
    }
  });

  test('with concurrency, a step end that waited does not begin once the run signal aborted (an urgent stop)', async () => {
    const log: string[] = [];
    const controller = new AbortController();
    class Urgent extends StepJob<{ n: number }> {
      static override concurrency = 4;
      static override steps: Step<{ n: number }>[] = [
        {
          name: 'fetch',
          buildEnumerator: (params, { cursor }) => fromArray(Array.from({ length: params.n }, (_, i) => i), { cursor }),
          async eachIteration(item: number) {
            // The last item is slow: the step's end is started and waits for it when the stop comes.
            if (item === 2) {
              controller.abort(new Error('urgent stop'));
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
            log.push(`item:${item}`);
          },
        },
        { name: 'swap', run: () => void log.push('run:swap') },
      ];
      override onStepComplete(name: string) {
        log.push(`complete:${name}`);
      }
    }
    await runInline(Urgent, { n: 3 }, { adapters: [], signal: controller.signal }).catch(() => undefined);
    assert.ok(log.includes('item:2'), log.join(' '));
    assert.ok(!log.includes('complete:fetch') && !log.includes('run:swap'), log.join(' '));
  });

  test("stepAt answers for a cursor of any shape: a malformed one, read before the engine checks it, is nowhere", () => {
    const job = new (jobWith([]))();
    assert.deepEqual(job.stepAt(undefined), { name: 'prepare', position: 1, count: 4 });
    assert.deepEqual(job.stepAt({ step: 'prepare', done: ['prepare'] }), { name: 'backfill', position: 2, count: 4 });
    for (const bad of [5, {}, null, { done: 'x' }]) assert.equal(job.stepAt(bad as never), undefined);
  });

  test('a step list that cannot run is refused with ERR_INVALID_JOB, a class too, before anything runs', async () => {
    class Empty extends StepJob<{ n: number }> {}
    await assert.rejects(runInline(Empty, { n: 1 }, { adapters: [] }), { code: 'ERR_INVALID_JOB', message: /steps must be a non-empty array/ });
    class Twice extends StepJob<{ n: number }> {
      static override steps = [{ name: 'a', run() {} }, { name: 'a', run() {} }];
    }
    await assert.rejects(runInline(Twice, { n: 1 }, { adapters: [], state: markInterrupted(Twice, { cursor: { step: 'a', done: ['a'] } }) }), { code: 'ERR_INVALID_JOB', message: /two steps are named "a"/ });
    assert.throws(() => defineSteps({ name: 'x', steps: [] }), { code: 'ERR_INVALID_JOB' });
    assert.throws(() => defineSteps({ name: 'x', steps: [{ name: 'a', run() {} }, { name: 'a', run() {} }] }), { code: 'ERR_INVALID_JOB' });
    assert.throws(() => defineSteps({ name: 'x', steps: [{ name: 'a' } as Step] }), { code: 'ERR_INVALID_JOB' });
  });
});

test('a step read from a queue is shown safely: control characters replaced, long names cut, the percent capped', () => {
  assert.equal(
    describeProgressStep({ step: { name: 'back\u001b[2Jfill\nx', position: 2, count: 4 }, done: 5, total: 10, unit: 'rows', percentage: 250 }),
    'step 2/4 back?[2Jfill?x: 100%',
  );
  assert.equal(describeProgressStep({ step: { name: 'n'.repeat(100), position: 1, count: 1 } }), `step 1/1 ${'n'.repeat(57)}...`);
  for (const bad of [null, 5, { step: { name: 'x', position: 3, count: 2 } }, { step: { name: 1, position: 1, count: 1 } }, {}]) assert.equal(describeProgressStep(bad), undefined);
});
