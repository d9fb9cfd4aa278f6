import assert from 'node:assert/strict';
import { test } from 'node:test';
import { events, runInline, type JobIterationEvents } from '../../src/index.js';
import { Counter } from '../fixtures/jobs.js';

test('runs emit start, checkpoint, interrupt, resume, complete and error with job name, cursor, iterations and timings', async () => {
  const seen: Array<[string, Record<string, unknown>]> = [];
  const names = ['job:start', 'job:resume', 'job:checkpoint', 'job:interrupt', 'job:complete', 'job:error'] as const;
  const offs = names.map((name) => events.on(name, ((e: Record<string, unknown>) => void seen.push([name, e])) as never));

  const first = await runInline(Counter, { upTo: 4 }, { checkpointIntervalMs: 0, maxIterations: 2, jobId: 'j-1' });
  await runInline(Counter, { upTo: 4 }, { state: first.state, checkpointIntervalMs: 3_600_000 });
  offs.forEach((off) => off());

  assert.deepEqual(
    seen.map(([name, e]) => [name, e.cursor, e.iterations]),
    [
      ['job:start', undefined, 0],
      ['job:checkpoint', 0, 1],
      ['job:checkpoint', 1, 2],
      ['job:interrupt', 1, 2],
      ['job:resume', 1, 2],
      ['job:complete', 3, 4],
    ],
  );
  const interrupt = seen[3]![1] as unknown as JobIterationEvents['job:interrupt'][0];
  assert.equal(interrupt.jobName, 'counter');
  assert.equal(interrupt.jobId, 'j-1');
  assert.equal(interrupt.adapter, 'max-iterations');
  assert.equal(interrupt.runIterations, 2);
  assert.equal(typeof interrupt.elapsedMs, 'number');
  assert.equal((seen[4]![1] as { timesInterrupted: number }).timesInterrupted, 1);
  assert.equal(typeof (seen[5]![1] as { totalTimeMs: number }).totalTimeMs, 'number');
});

test('job:error carries the error, and a throwing listener never breaks the run', async () => {
  const errors: unknown[] = [];
  const listenerErrors: unknown[] = [];
  const offs = [
    events.on('job:start', () => {
      throw new Error('buggy listener');
    }),
    events.on('listener:error', (e) => void listenerErrors.push(e.error)),
    events.on('job:error', (e) => void errors.push(e.error)),
  ];
  class Boom extends Counter {
    static override jobName = 'boom';
    override eachIteration(): never {
      throw new Error('kaboom');
    }
  }
  await assert.rejects(runInline(Boom, { upTo: 3 }), /kaboom/);
  offs.forEach((off) => off());
  assert.equal((errors[0] as Error).message, 'kaboom');
  assert.equal((listenerErrors[0] as Error).message, 'buggy listener');
});
