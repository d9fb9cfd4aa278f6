import assert from 'node:assert/strict';
import { afterEach, before, beforeEach, describe, test } from 'node:test';
import {
  AdapterExistsError,
  InterruptionAdapters,
  InvalidAdapterError,
  UnknownAdapterError,
  abortSignalAdapter,
  configure,
  lifecycle,
  maxRuntimeOf,
  runInline,
  workerStop,
  IterableJob,
} from '../../src/index.js';
import { Counter } from '../fixtures/jobs.js';

const registeredHere: string[] = [];
function register(name: string, adapter: Parameters<typeof InterruptionAdapters.register>[1]) {
  InterruptionAdapters.register(name, adapter);
  registeredHere.push(name);
}

beforeEach(() => Counter.reset());
afterEach(() => {
  for (const name of registeredHere.splice(0)) InterruptionAdapters.unregister(name);
  workerStop.reset();
  configure({ maxJobRuntimeMs: undefined });
});

describe('registry', () => {
  test('the built-in adapters are registered by default, in a stable order', () => {
    assert.deepEqual(InterruptionAdapters.list(), ['worker-stop', 'max-runtime', 'abort-signal']);
    assert.equal(typeof InterruptionAdapters.lookup('worker-stop'), 'function');
  });

  test('an unknown name is a hard error at lookup and at run start, never a silent pass', async () => {
    assert.throws(() => InterruptionAdapters.lookup('solid-queue'), (e: UnknownAdapterError) => {
      assert.equal(e.code, 'ERR_UNKNOWN_ADAPTER');
      assert.match(e.message, /"solid-queue" \(registered: worker-stop, max-runtime, abort-signal\)/);
      return true;
    });
    await assert.rejects(runInline(Counter, { upTo: 3 }, { adapters: ['worker-stop', 'typo'] }), UnknownAdapterError);
    assert.deepEqual(Counter.processed, [], 'nothing ran');
  });

  test('register validates the name, the shape and duplicates', () => {
    assert.throws(() => InterruptionAdapters.register('bad name!', () => false), InvalidAdapterError);
    assert.throws(() => InterruptionAdapters.register('no-shape', {} as never), (e: InvalidAdapterError) => e.code === 'ERR_INVALID_ADAPTER');
    assert.throws(() => InterruptionAdapters.register('worker-stop', () => false), AdapterExistsError);
    register('mine', () => false);
    assert.equal(InterruptionAdapters.has('mine'), true);
    assert.equal(InterruptionAdapters.unregister('mine'), true);
    assert.equal(InterruptionAdapters.has('mine'), false);
  });
});

describe('custom adapters', () => {
  test('a registered function adapter stops runs with no other change, and its reason is reported', async () => {
    let calls = 0;
    register('maintenance-window', () => (++calls >= 4 ? 'maintenance window opened' : false));
    const result = await runInline(Counter, { upTo: 100 });
    assert.equal(result.status, 'interrupted');
    assert.deepEqual(result.interruption, { adapter: 'maintenance-window', reason: 'maintenance window opened' });
    assert.equal(result.state.lastInterruption?.adapter, 'maintenance-window');
    assert.deepEqual(Counter.processed, [0, 1, 2, 3]);
  });

  test('object adapters, async answers and `true` work; `true` reports the adapter name', async () => {
    register('remote-flag', {
      checks: 0,
      async shouldInterrupt(ctx) {
        this.checks++;
        return ctx.runIterations >= 2;
      },
    } as { checks: number; shouldInterrupt(ctx: { runIterations: number }): Promise<boolean> });
    const result = await runInline(Counter, { upTo: 10 });
    assert.deepEqual(result.interruption, { adapter: 'remote-flag', reason: 'remote-flag' });
    assert.deepEqual(Counter.processed, [0, 1]);
  });

  test('adapters are consulted in registration order; the first that says yes wins', async () => {
    const asked: string[] = [];
    register('first', () => (asked.push('first'), false));
    register('second', () => (asked.push('second'), 'second says stop'));
    register('third', () => (asked.push('third'), 'third says stop'));
    const result = await runInline(Counter, { upTo: 10 });
    assert.equal(result.interruption?.adapter, 'second');
    assert.deepEqual(asked, ['first', 'second']);
  });

  test('options.adapters limits which adapters a run consults', async () => {
    register('always', () => true);
    const result = await runInline(Counter, { upTo: 5 }, { adapters: ['worker-stop'] });
    assert.equal(result.status, 'completed');
  });

  test('adapters see the job, its params, its state and the run', async () => {
    const seen: Array<{ jobName: string; params: unknown; cursor: unknown; runIterations: number }> = [];
    register('spy', (ctx) => {
      seen.push({ jobName: ctx.jobName, params: ctx.params, cursor: ctx.state.cursor, runIterations: ctx.runIterations });
      return ctx.runIterations === 2;
    });
    await runInline(Counter, { upTo: 5 });
    assert.deepEqual(seen, [
      { jobName: 'counter', params: { upTo: 5 }, cursor: 0, runIterations: 1 },
      { jobName: 'counter', params: { upTo: 5 }, cursor: 1, runIterations: 2 },
    ]);
  });
});

describe('worker-stop', () => {
  test('the onWorkerStop lifecycle flips the flag and the running job stops at its next checkpoint', async () => {
    const run = runInline(Counter, { upTo: 1000, delayMs: 2 });
    await new Promise((r) => setTimeout(r, 30));
    await lifecycle.fire('workerStop', { reason: 'SIGTERM' });
    const result = await run;
    assert.equal(result.status, 'interrupted');
    assert.deepEqual(result.interruption, { adapter: 'worker-stop', reason: 'worker stopping (SIGTERM)' });
    assert.ok(Counter.processed.length > 0 && Counter.processed.length < 1000);
    assert.equal(result.state.cursor, Counter.processed.at(-1));
  });

  test('one flag stops every concurrent run in the process', async () => {
    class Other extends Counter {
      static override jobName = 'other';
    }
    const runs = [runInline(Counter, { upTo: 1000, delayMs: 2 }), runInline(Other, { upTo: 1000, delayMs: 3 }), runInline(Counter, { upTo: 1000, delayMs: 1 })];
    await new Promise((r) => setTimeout(r, 20));
    workerStop.request();
    const results = await Promise.all(runs);
    assert.deepEqual(results.map((r) => r.interruption?.adapter), ['worker-stop', 'worker-stop', 'worker-stop']);
  });

  test('onWorkerStart clears a previous stop', async () => {
    workerStop.request();
    await lifecycle.fire('workerStart');
    assert.equal(workerStop.stopping, false);
    const result = await runInline(Counter, { upTo: 3 });
    assert.equal(result.status, 'completed');
  });
});

describe('max-runtime', () => {
  test('a per-class budget interrupts the run once exceeded', async () => {
    class Budgeted extends Counter {
      static override jobName = 'budgeted';
      static override maxJobRuntimeMs = 60;
    }
    const started = Date.now();
    const result = await runInline(Budgeted, { upTo: 1000, delayMs: 5 });
    const took = Date.now() - started;
    assert.equal(result.interruption?.adapter, 'max-runtime');
    assert.match(result.interruption!.reason, /over its 60 ms budget/);
    assert.ok(took >= 60 && took < 1000, `took ${took} ms`);
  });

  test('the process default applies to classes without their own budget', async () => {
    configure({ maxJobRuntimeMs: 40 });
    const result = await runInline(Counter, { upTo: 1000, delayMs: 5 });
    assert.equal(result.interruption?.adapter, 'max-runtime');
    configure({ maxJobRuntimeMs: undefined });
    Counter.reset();
    const unlimited = await runInline(Counter, { upTo: 20, delayMs: 5 });
    assert.equal(unlimited.status, 'completed');
  });

  test('a class budget above the process budget cannot raise it: the smaller one applies', async () => {
    configure({ maxJobRuntimeMs: 40 });
    class Greedy extends Counter {
      static override jobName = 'greedy';
      static override maxJobRuntimeMs = 60_000;
    }
    const started = Date.now();
    const result = await runInline(Greedy, { upTo: 400, delayMs: 5 }, { adapters: ['max-runtime'] });
    const took = Date.now() - started;
    assert.equal(result.interruption?.adapter, 'max-runtime');
    assert.match(result.interruption!.reason, /over its 40 ms budget/);
    assert.ok(took < 1000, `took ${took} ms`);

    class Modest extends Counter {
      static override jobName = 'modest';
      static override maxJobRuntimeMs = 20;
    }
    assert.equal(maxRuntimeOf(Modest), 20, 'a class may lower the budget');
    assert.equal(maxRuntimeOf(Greedy), 40);
    configure({ maxJobRuntimeMs: undefined });
    assert.equal(maxRuntimeOf(Greedy), 60_000, 'with no process budget the class sets it');
  });

  test('configure rejects a bad budget by name', () => {
    assert.throws(() => configure({ maxJobRuntimeMs: -5 }), /Option "maxJobRuntimeMs" must be a finite number of milliseconds >= 0 or undefined; got -5/);
  });
});

describe('abort-signal', () => {
  test("the run's own signal interrupts it, and user code receives the same signal", async () => {
    const ac = new AbortController();
    let signalSeen: AbortSignal | undefined;
    class Watching extends IterableJob<Record<string, never>, number, number> {
      *buildEnumerator() {
        for (let i = 0; i < 100; i++) yield [i, i] as [number, number];
      }
      eachIteration(item: number, _p: unknown, ctx: { signal: AbortSignal }) {
        signalSeen = ctx.signal;
        if (item === 4) ac.abort('deploy');
      }
    }
    const result = await runInline(Watching, {}, { signal: ac.signal });
    assert.deepEqual(result.interruption, { adapter: 'abort-signal', reason: 'aborted: deploy' });
    assert.equal(result.state.cursor, 4);
    assert.equal(signalSeen, ac.signal);
  });

  test('abortSignalAdapter binds one signal for every run', async () => {
    const ac = new AbortController();
    register('shutdown', abortSignalAdapter(ac.signal));
    setTimeout(() => ac.abort(new Error('shutting down')), 15);
    const result = await runInline(Counter, { upTo: 1000, delayMs: 2 });
    assert.deepEqual(result.interruption, { adapter: 'shutdown', reason: 'aborted: shutting down' });
    assert.throws(() => abortSignalAdapter({} as AbortSignal), TypeError);
  });
});

describe('the adapter contract, shared by every built-in adapter', () => {
  // Each entry: how to make the adapter say "stop" for a run, and what it must say then.
  interface Case {
    name: string;
    arm(): { options: Parameters<typeof runInline>[2]; disarm(): void };
    reason: RegExp;
    /** Items a run gets through when armed from the start. */
    items: number[];
  }
  const cases: Case[] = [
    {
      name: 'worker-stop',
      arm: () => {
        workerStop.request('deploy');
        return { options: {}, disarm: () => workerStop.reset() };
      },
      reason: /^deploy$/,
      items: [0],
    },
    {
      name: 'max-runtime',
      arm: () => {
        configure({ maxJobRuntimeMs: 0 });
        return { options: {}, disarm: () => configure({ maxJobRuntimeMs: undefined }) };
      },
      reason: /^ran \d+ ms, over its 0 ms budget$/,
      items: [0], // every run makes progress, however small its budget
    },
    {
      name: 'abort-signal',
      arm: () => ({ options: { signal: AbortSignal.abort('shutdown') }, disarm: () => undefined }),
      reason: /^aborted: shutdown$/,
      items: [], // an already aborted run signal means "stop now": nothing starts
    },
    {
      name: 'bullmq',
      arm: () => ({ options: { runtime: { kind: 'bullmq', worker: { closing: Promise.resolve() } } }, disarm: () => undefined }),
      reason: /^worker closing$/,
      items: [0],
    },
  ];

  before(async () => {
    await import('../../src/bullmq/index.js');
  });

  for (const c of cases) {
    test(`${c.name}: registered, silent when idle, stops at once with its name and a reason when armed`, async () => {
      assert.equal(typeof InterruptionAdapters.lookup(c.name), 'function');
      const idle = await runInline(Counter, { upTo: 3 }, { adapters: [c.name] });
      assert.equal(idle.status, 'completed', 'an idle adapter never interrupts');
      Counter.reset();
      const { options, disarm } = c.arm();
      try {
        const armed = await runInline(Counter, { upTo: 3 }, { ...options, adapters: [c.name] });
        assert.equal(armed.status, 'interrupted');
        assert.equal(armed.interruption?.adapter, c.name);
        assert.match(armed.interruption!.reason, c.reason);
        assert.deepEqual(Counter.processed, c.items);
        assert.equal(armed.state.cursor, c.items.at(-1));
      } finally {
        disarm();
      }
    });
  }
});
