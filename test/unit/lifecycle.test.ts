import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeEach, describe, test } from 'node:test';
import { SignalsOwnedError, events, lifecycle, onStart, onStop, onWorkerExit, onWorkerStart, onWorkerStop, runInline } from '../../src/index.js';
import { trapStopSignals } from '../../src/signals.js';
import { Counter } from '../fixtures/jobs.js';

const run = promisify(execFile);
beforeEach(() => Counter.reset());

describe('job hooks', () => {
  test('fresh run then resumed runs: onStart once ever, onResume on each resume, onComplete once, onShutdown every run', async () => {
    const first = await runInline(Counter, { upTo: 10 }, { maxIterations: 4 });
    assert.deepEqual(Counter.hooks, ['onStart', 'onShutdown']);
    const second = await runInline(Counter, { upTo: 10 }, { state: first.state, maxIterations: 4 });
    assert.deepEqual(Counter.hooks, ['onStart', 'onShutdown', 'onResume', 'onShutdown']);
    await runInline(Counter, { upTo: 10 }, { state: second.state });
    assert.deepEqual(Counter.hooks, ['onStart', 'onShutdown', 'onResume', 'onShutdown', 'onResume', 'onComplete', 'onShutdown']);
  });

  test('onStart is decided by the saved state: a run that failed before any item resumes with onResume', async () => {
    class FailsFirst extends Counter {
      static override jobName = 'fails-first';
      static fail = true;
      override eachIteration(item: number, params: { upTo: number }) {
        if (FailsFirst.fail) throw new Error('first attempt fails');
        return super.eachIteration(item, params);
      }
    }
    const err = await runInline(FailsFirst, { upTo: 2 }).catch((e) => e);
    FailsFirst.fail = false;
    await runInline(FailsFirst, { upTo: 2 }, { state: err.state });
    assert.deepEqual(Counter.hooks, ['onStart', 'onShutdown', 'onResume', 'onComplete', 'onShutdown']);
  });
});

describe('lifecycle hooks', () => {
  test('fire runs hooks of one event in registration order, awaiting async ones, with the info given', async () => {
    const order: string[] = [];
    const offs = [
      onWorkerStop(async (info) => {
        await new Promise((r) => setTimeout(r, 10));
        order.push(`a:${info.event}:${info.reason}`);
      }),
      onWorkerStop((info) => void order.push(`b:${info.urgent}`)),
      onWorkerExit(() => void order.push('exit')),
      onStart(() => void order.push('start')),
      onStop(() => void order.push('stop')),
      onWorkerStart(() => void order.push('worker-start')),
    ];
    await lifecycle.fire('start');
    await lifecycle.fire('workerStart');
    await lifecycle.fire('workerStop', { reason: 'SIGTERM', urgent: false });
    await lifecycle.fire('workerExit');
    await lifecycle.fire('stop');
    assert.deepEqual(order, ['start', 'worker-start', 'a:workerStop:SIGTERM', 'b:false', 'exit', 'stop']);
    offs.forEach((off) => off());
    assert.equal(lifecycle.count('workerExit'), 0);
  });

  test('a hook that throws is reported and does not block the others', async () => {
    const ran: string[] = [];
    const errors: unknown[] = [];
    const offEvent = events.on('hook:error', (e) => void errors.push(e));
    const offs = [
      onWorkerExit(() => {
        throw new Error('pool already closed');
      }),
      onWorkerExit(async () => {
        throw new Error('async failure');
      }),
      onWorkerExit(() => void ran.push('still runs')),
    ];
    await lifecycle.fire('workerExit');
    assert.deepEqual(ran, ['still runs']);
    assert.deepEqual(errors.map((e) => (e as { hook: string; error: Error }).error.message), ['pool already closed', 'async failure']);
    offs.forEach((off) => off());
    offEvent();
  });

  test('hooks must be functions', () => {
    assert.throws(() => onWorkerStop('nope' as never), /workerStop hook must be a function; got string/);
  });
});

describe('signals', () => {
  test('stop signals have one owner; a second is refused with a named error that says what to do', () => {
    const first = trapStopSignals({ graceful: () => undefined, urgent: () => undefined });
    try {
      assert.throws(
        () => trapStopSignals({ graceful: () => undefined, urgent: () => undefined }),
        (e: SignalsOwnedError) => e.code === 'ERR_SIGNALS_OWNED' && /handleSignals: false/.test(e.message),
      );
    } finally {
      first.release();
    }
    trapStopSignals({ graceful: () => undefined, urgent: () => undefined }).release();
    assert.equal(process.listenerCount('SIGTERM'), 0, 'released handlers are gone');
  });

  test('importing the library installs no signal handler', async () => {
    const script = `
      const before = ['SIGTERM','SIGINT','SIGQUIT'].map((s) => process.listenerCount(s));
      await import('job-iteration');
      await import('job-iteration/adapters/worker-stop');
      await import('job-iteration/testing');
      await import('job-iteration/bullmq');
      const after = ['SIGTERM','SIGINT','SIGQUIT'].map((s) => process.listenerCount(s));
      console.log(JSON.stringify({ before, after }));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), timeout: 30_000 });
    assert.deepEqual(JSON.parse(stdout), { before: [0, 0, 0], after: [0, 0, 0] });
  });
});
