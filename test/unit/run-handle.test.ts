import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IterableJob, RunHandle, runInline, type RunPhase } from '../../src/index.js';

class Ten extends IterableJob<Record<string, never>, number, number> {
  static override jobName = 'ten';
  static onItem: (item: number) => void = () => undefined;
  static onCompleteHook: () => void = () => undefined;
  *buildEnumerator(_params: Record<string, never>, { cursor }: { cursor: number | undefined }) {
    for (let i = cursor === undefined ? 0 : cursor + 1; i < 10; i++) yield [i, i] as [number, number];
  }
  eachIteration(item: number) {
    Ten.onItem(item);
  }
  override onComplete() {
    Ten.onCompleteHook();
  }
}

describe('RunHandle', () => {
  test('a stop asked through the handle ends the run after the item in flight, named by the adapter and reason given', async () => {
    const handle = new RunHandle<number>();
    Ten.onItem = (item) => item === 3 && handle.stop('my-runtime', 'cancel requested');
    const result = await runInline(Ten, {}, { handle, adapters: [] });
    Ten.onItem = () => undefined;
    assert.equal(result.status, 'interrupted');
    assert.deepEqual(result.interruption, { adapter: 'my-runtime', reason: 'cancel requested' });
    assert.equal(result.state.cursor, 3);
    assert.equal(handle.phase, 'done');
  });

  test('a stop asked before the run starts stops it before its first item', async () => {
    const handle = new RunHandle<number>();
    handle.stop('my-runtime', 'paused');
    const result = await runInline(Ten, {}, { handle, adapters: [] });
    assert.equal(result.runIterations, 0);
    assert.equal(result.interruption?.reason, 'paused');
  });

  test('the phase follows the run, and there is no urgent snapshot while onComplete runs', async () => {
    const handle = new RunHandle<number>();
    const seen: RunPhase[] = [handle.phase];
    let duringComplete: ReturnType<RunHandle<number>['urgentSnapshot']> = undefined;
    Ten.onItem = () => {
      if (!seen.includes(handle.phase)) seen.push(handle.phase);
    };
    Ten.onCompleteHook = () => {
      seen.push(handle.phase);
      duringComplete = handle.urgentSnapshot('urgent', 'now');
    };
    const result = await runInline(Ten, {}, { handle, adapters: [] });
    Ten.onItem = () => undefined;
    Ten.onCompleteHook = () => undefined;
    seen.push(handle.phase);
    assert.deepEqual(seen, ['pending', 'iterating', 'completing', 'done']);
    assert.equal(result.status, 'completed');
    assert.equal(duringComplete, undefined, 'the outcome is being decided: an urgent stop must let it finish');
  });

  test('an urgent snapshot is a copy with the last finished cursor, and the run then ends as that interruption', async () => {
    const handle = new RunHandle<number>();
    let snapshot: ReturnType<RunHandle<number>['urgentSnapshot']>;
    Ten.onItem = (item) => {
      if (item === 5) snapshot = handle.urgentSnapshot('urgent', 'now');
    };
    const result = await runInline(Ten, {}, { handle, adapters: [] });
    Ten.onItem = () => undefined;
    assert.equal(snapshot?.status, 'interrupted');
    assert.equal(snapshot?.cursor, 4, 'the last finished item, not the one in flight');
    assert.equal(snapshot?.timesInterrupted, 1);
    assert.equal(snapshot?.lastInterruption?.adapter, 'urgent');
    assert.equal(result.status, 'interrupted');
    assert.deepEqual(result.interruption, { adapter: 'urgent', reason: 'now' });
    assert.equal(result.state.cursor, 5, 'the item in flight finished; the snapshot the runtime saved is one behind');
  });

  test('a cancel through the handle stops after the item in flight, runs onCancel, saves the job as cancelled, then onShutdown', async () => {
    const calls: string[] = [];
    class Hooked extends Ten {
      static override jobName = 'hooked';
      override onStart() {
        calls.push('onStart');
      }
      override onCancel() {
        calls.push('onCancel');
      }
      override onShutdown() {
        calls.push('onShutdown');
      }
    }
    const handle = new RunHandle<number>();
    const saved: string[] = [];
    Ten.onItem = (item) => item === 2 && handle.cancel('cancel requested');
    const result = await runInline(Hooked, {}, { handle, adapters: [], persist: (state) => void saved.push(state.status) });
    Ten.onItem = () => undefined;
    assert.equal(result.status, 'cancelled');
    assert.equal(result.state.cursor, 2);
    assert.equal(result.state.lastInterruption?.adapter, 'cancel');
    assert.deepEqual(calls, ['onStart', 'onCancel', 'onShutdown']);
    assert.equal(saved.at(-1), 'cancelled', 'saved before onShutdown');
    const again = await runInline(Hooked, {}, { state: result.state, adapters: [] });
    assert.equal(again.status, 'cancelled', 'a cancelled job never runs again');
    assert.deepEqual(calls, ['onStart', 'onCancel', 'onShutdown']);

    calls.length = 0;
    const early = new RunHandle<number>();
    early.cancel('cancelled while it waited');
    const before = await runInline(Hooked, {}, { handle: early, adapters: [] });
    assert.equal(before.status, 'cancelled');
    assert.equal(before.runIterations, 0);
    assert.deepEqual(calls, ['onCancel', 'onShutdown'], 'no onStart and no item for a job cancelled before it ran');
  });

  test('once an urgent snapshot is taken the run ends as that interruption, even when the enumerator then runs out', async () => {
    let completed = 0;
    const handle = new RunHandle<number>();
    class Paged extends IterableJob<Record<string, never>, number, number> {
      static override jobName = 'paged';
      async *buildEnumerator() {
        yield [0, 0] as [number, number];
        // Fetching the next page when the urgent stop comes; there is none.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      eachIteration() {
        setTimeout(() => handle.urgentSnapshot('urgent', 'now'), 10);
      }
      override onComplete() {
        completed++;
      }
    }
    const result = await runInline(Paged, {}, { handle, adapters: [] });
    assert.equal(result.status, 'interrupted');
    assert.deepEqual(result.interruption, { adapter: 'urgent', reason: 'now' });
    assert.equal(completed, 0, 'onComplete is left to the next owner, who resumes from the snapshot');
  });
});
