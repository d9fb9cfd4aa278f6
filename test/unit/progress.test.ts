import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { IterableJob, InvalidStateError, runInline, type JobProgress } from '../../src/index.js';
import { markInterrupted } from '../../src/testing.js';
import { formatDuration, layoutLine, plainLine, startProgress, type LineParts } from '../../src/cli/progress.js';
import type { Extent } from '../../src/extent.js';
import { renderScreen } from '../support/screen.js';

describe('job.progress', () => {
  test('hooks and eachIteration read the cursor, iterations, times interrupted and total time of the run', async () => {
    const seen: Record<string, JobProgress<number>> = {};
    class Watches extends IterableJob<{ upTo: number }, number, number> {
      static override jobName = 'watches';
      *buildEnumerator(params: { upTo: number }, { cursor }: { cursor: number | undefined }): Generator<[number, number]> {
        for (let i = cursor === undefined ? 0 : cursor + 1; i < params.upTo; i++) yield [i, i];
      }
      eachIteration(item: number) {
        if (item === 6) seen.item6 = this.progress;
      }
      override onResume() {
        seen.onResume = this.progress;
      }
      override onComplete() {
        seen.onComplete = this.progress;
      }
      override onShutdown() {
        seen.onShutdown = this.progress;
      }
    }
    const state = markInterrupted(Watches, { cursor: 4, iterations: 5, timesInterrupted: 2 });
    state.totalTimeMs = 1000;
    const job = new Watches();
    await runInline(Watches, { upTo: 8 }, { state, job });
    assert.deepEqual(seen.onResume, { cursor: 4, iterations: 5, runIterations: 0, timesInterrupted: 2, totalTimeMs: seen.onResume!.totalTimeMs });
    assert.ok(seen.onResume!.totalTimeMs >= 1000, 'total time includes earlier runs');
    assert.equal(seen.item6?.cursor, 5, 'the last finished item, not the one in flight');
    assert.equal(seen.item6?.runIterations, 1);
    assert.equal(seen.onComplete?.iterations, 8);
    assert.equal(seen.onShutdown?.cursor, 7);
    assert.ok(Object.isFrozen(seen.onShutdown));
    assert.throws(() => job.progress, InvalidStateError, 'outside a run there is no progress to read');
  });
});

describe('job.progress extent', () => {
  test('a measured enumeration gives progress an extent; a handle reads the same', async () => {
    const { fromArray, RunHandle } = await import('../../src/index.js');
    const seen: Array<JobProgress<number>['extent']> = [];
    const handle = new RunHandle<number>();
    const viaHandle: unknown[] = [];
    class Measured extends IterableJob<object, string, number> {
      static override jobName = 'measured';
      buildEnumerator(_params: object, { cursor }: { cursor: number | undefined }) {
        return fromArray(['a', 'b', 'c', 'd'], { cursor });
      }
      eachIteration() {
        seen.push(this.progress.extent);
        viaHandle.push(handle.extent);
      }
    }
    await runInline(Measured, {}, { handle, adapters: [] });
    assert.deepEqual(seen.map((e) => e?.done), [0, 1, 2, 3]);
    assert.deepEqual(seen[0], { done: 0, total: 4, unit: 'items' });
    assert.deepEqual(viaHandle, seen);
    assert.deepEqual(handle.extent, { done: 4, total: 4, unit: 'items' }, 'the final extent stays readable, as the state does');
  });
});

describe('run progress line', () => {
  const live: LineParts = {
    jobName: 'numbers',
    progress: 0.5,
    amount: '40/80 items',
    percent: '50.0%',
    eta: 'ETA 1s',
    rate: '412 items/s',
    cursor: '39',
  };

  test('formatDuration carries rounded seconds into the minute instead of printing 60s', () => {
    assert.equal(formatDuration(239.6), '4m00s');
    assert.equal(formatDuration(1859.5), '31m00s');
    assert.equal(formatDuration(59.7), '1m00s');
    assert.equal(formatDuration(3599.6), '1h00m');
    assert.equal(formatDuration(125.2), '2m05s');
    assert.equal(formatDuration(7325), '2h02m');
    assert.equal(formatDuration(4), '4s');
    assert.equal(formatDuration(Number.NaN), '?');
    assert.equal(formatDuration(-1), '?');
  });

  test('the bar takes the room the text leaves, at most 40 columns, and goes when it would be under 10', () => {
    const barOf = (line: string) => /\[([\u2588\u2591]*)\]/.exec(line)?.[1];
    assert.equal(layoutLine(live, 200), `numbers [${'\u2588'.repeat(20)}${'\u2591'.repeat(20)}] 40/80 items | 50.0% | ETA 1s | 412 items/s | cursor 39`);
    const at79 = layoutLine(live, 79);
    assert.equal(at79.length, 79, at79);
    assert.equal(barOf(at79)!.length, 79 - 'numbers [] 40/80 items | 50.0% | ETA 1s | 412 items/s | cursor 39'.length);
    assert.equal(barOf(layoutLine(live, 75))!.length, 10);
    // Narrower, the percent makes room for the bar, then the rate; only then does the bar go.
    assert.equal(layoutLine(live, 74), `numbers [${'\u2588'.repeat(9)}${'\u2591'.repeat(8)}] 40/80 items | ETA 1s | 412 items/s | cursor 39`);
    assert.equal(layoutLine(live, 66), `numbers [${'\u2588'.repeat(12)}${'\u2591'.repeat(11)}] 40/80 items | ETA 1s | cursor 39`);
    assert.equal(barOf(layoutLine(live, 56))!.length, 13);
    assert.equal(layoutLine(live, 52), 'numbers: 40/80 items | ETA 1s | cursor 39');
  });

  test('at 80 columns a four-digit count keeps its bar all the way, with the ETA and the cursor', () => {
    for (let done = 0; done <= 2000; done += 7) {
      const parts: LineParts = { jobName: 'backfill', progress: done / 2000, amount: `${done}/2000 items`, percent: `${((100 * done) / 2000).toFixed(1)}%`, eta: 'ETA 12m05s', rate: '446 items/s', cursor: String(done) };
      const line = layoutLine(parts, 79);
      assert.ok(line.length <= 79, line);
      assert.match(line, /^backfill \[[\u2588\u2591]{10,}\] .*ETA 12m05s .*cursor \d+$/, line);
    }
  });

  test('too narrow for every part, the percent goes first, then the rate, the tail of the cursor, the amount; the ETA and cursor stay', () => {
    // No bar (nothing to measure against), so the text alone gives way.
    const long = { ...live, progress: undefined, cursor: '{"id":123456,"createdAt":"2026-01-01T0...' };
    assert.equal(layoutLine(long, 105), 'numbers: 40/80 items | 50.0% | ETA 1s | 412 items/s | cursor {"id":123456,"createdAt":"2026-01-01T0...');
    assert.equal(layoutLine(long, 100), 'numbers: 40/80 items | ETA 1s | 412 items/s | cursor {"id":123456,"createdAt":"2026-01-01T0...');
    assert.equal(layoutLine(long, 83), 'numbers: 40/80 items | ETA 1s | cursor {"id":123456,"createdAt":"2026-01-01T0...');
    assert.equal(layoutLine(long, 60), 'numbers: 40/80 items | ETA 1s | cursor {"id":123456,"crea...');
    assert.equal(layoutLine(long, 50), 'numbers: ETA 1s | cursor {"id":123456,"createdA...', 'the room the amount leaves goes back to the cursor');
    const longName = { ...live, progress: undefined, jobName: 'backfill-email-domains-for-every-account' };
    assert.equal(layoutLine(longName, 30), 'backfil...: ETA 1s | cursor 39');
  });

  test('at any width the line fits, with or without a total, live or final', () => {
    const shapes: LineParts[] = [
      live,
      { ...live, eta: undefined, elapsed: '12.3 s elapsed' },
      { jobName: 'import', progress: 0.125, amount: '5.0 MB/40.0 MB', percent: '12.5%', eta: 'ETA 2m05s', rate: '1.2 MB/s', cursor: '{"offset":5242880,"line":40211}' },
      { jobName: 'walk', amount: '1200 rows', rate: '300 rows/s', cursor: '[1200]' },
      { ...live, jobName: 'x'.repeat(120) },
    ];
    for (const parts of shapes) {
      for (let width = 0; width <= 200; width++) {
        const line = layoutLine(parts, width);
        assert.ok(line.length <= width, `${line.length} > ${width}: ${line}`);
        if (width >= 50) assert.match(line, /cursor /, `width ${width}: ${line}`);
        if (width >= 50 && parts.eta) assert.match(line, /ETA /, `width ${width}: ${line}`);
      }
    }
  });

  test('off a terminal the line has no bar; the final one has the elapsed time instead of the ETA', () => {
    assert.equal(plainLine(live), 'numbers: 40/80 items | 50.0% | ETA 1s | 412 items/s | cursor 39');
    assert.equal(plainLine({ ...live, eta: undefined, elapsed: '0.2 s elapsed' }), 'numbers: 40/80 items | 50.0% | 412 items/s | 0.2 s elapsed | cursor 39');
  });
});

/** Just enough of a terminal's stream for startProgress: what it wrote, its width and its resize event. */
class FakeTty extends EventEmitter {
  readonly isTTY = true;
  out = '';
  constructor(public columns: number) {
    super();
  }
  write(chunk: string): boolean {
    this.out += chunk;
    return true;
  }
}

describe('run progress reporter', () => {
  test('on a terminal a message takes the bar line and the bar is drawn again below it; stop leaves the final line with items, rate and elapsed time', () => {
    const tty = new FakeTty(120);
    let done = 0;
    const progress = startProgress({ jobName: 'numbers', total: 80, read: () => ({ iterations: done, cursor: done - 1 }) }, tty as unknown as NodeJS.WriteStream);
    done = 40;
    progress.log('numbers: SIGINT received; stopping');
    const shown = renderScreen(tty.out, 120).lines;
    assert.equal(shown[0], 'numbers: SIGINT received; stopping');
    assert.match(shown[1]!, /^numbers \[[\u2588\u2591]+\] 40\/80 items \| 50\.0% \| ETA .* \| cursor 39$/, 'the bar again, below the message');
    done = 41;
    progress.stop();
    progress.stop();
    progress.log('numbers interrupted');
    const { lines, wrapped } = renderScreen(tty.out, 120);
    assert.equal(wrapped, false, 'no line reaches the last column');
    assert.equal(lines[0], 'numbers: SIGINT received; stopping');
    assert.match(lines[1]!, /^numbers \[[\u2588\u2591]+\] 41\/80 items \| 51\.\d% \| \d+ items\/s \| \d+\.\d s elapsed \| cursor 40$/);
    assert.deepEqual(lines.slice(2), ['numbers interrupted', '']);
    assert.match(tty.out, /^\x1b\[\?25l/, 'the cursor is hidden while the bar is drawn');
    assert.match(tty.out, /\x1b\[\?25h[^]*$/, 'and shown again');
  });

  test('on a terminal a resize redraws the line to the new width', () => {
    const tty = new FakeTty(100);
    const progress = startProgress({ jobName: 'numbers', total: 80, read: () => ({ iterations: 40, cursor: 39 }) }, tty as unknown as NodeJS.WriteStream);
    try {
      progress.log('numbers: drawn');
      // Replayed at the first width: a terminal keeps what it drew before a resize as it was.
      const drawn = () => renderScreen(tty.out, 100).lines.at(-1)!;
      assert.match(drawn(), /^numbers \[[\u2588\u2591]{20,}\]/);
      tty.columns = 40;
      tty.emit('resize');
      assert.ok(drawn().length <= 39, drawn());
      assert.match(drawn(), /^numbers: .*ETA .* \| cursor 39$/);
    } finally {
      progress.stop();
    }
  });

  test('on a terminal the bar narrows as the text beside it grows, and does not widen again until a resize', () => {
    const tty = new FakeTty(100);
    let cursor: unknown = 1;
    const progress = startProgress({ jobName: 'numbers', total: 80, read: () => ({ iterations: 40, cursor }) }, tty as unknown as NodeJS.WriteStream);
    try {
      const bar = () => /\[([\u2588\u2591]+)\]/.exec(renderScreen(tty.out, tty.columns).lines.at(-1)!)?.[1]?.length ?? 0;
      progress.log('numbers: drawn');
      const wide = bar();
      cursor = 'a longer cursor';
      progress.log('numbers: redraw');
      const narrow = bar();
      assert.ok(narrow > 0 && narrow < wide, `${narrow} < ${wide}`);
      cursor = 1;
      progress.log('numbers: redraw');
      assert.equal(bar(), narrow);
      tty.emit('resize');
      assert.equal(bar(), wide);
    } finally {
      progress.stop();
    }
  });

  test('off a terminal a message is a line of its own, and stop prints the final line once', () => {
    const out = new FakeTty(80) as FakeTty & { isTTY: boolean };
    Object.defineProperty(out, 'isTTY', { value: false });
    let done = 0;
    const progress = startProgress({ jobName: 'numbers', total: undefined, read: () => ({ iterations: done, cursor: done - 1 }) }, out as unknown as NodeJS.WriteStream, 60_000);
    done = 7;
    progress.log('numbers: throttled');
    progress.stop();
    progress.stop();
    // A run over before the first line still has its rate, counted from the start.
    assert.match(out.out, /^numbers: throttled\nnumbers: 7 items \| [1-9]\d* items\/s \| \d+\.\d s elapsed \| cursor 6\n$/);
  });
  test("a step job's line leads with its step and measures that step alone; a plain step or the end shows no rate", () => {
    const final = (extent: Extent) => {
      const out = new FakeTty(200) as FakeTty & { isTTY: boolean };
      Object.defineProperty(out, 'isTTY', { value: false });
      startProgress({ jobName: 'migrate', total: undefined, read: () => ({ iterations: 4, cursor: 'c', extent }) }, out as unknown as NodeJS.WriteStream, 60_000).stop();
      return out.out;
    };
    assert.match(final({ done: 3, total: 10, unit: 'rows', step: { name: 'backfill', position: 2, count: 4 } }), /^migrate: step 2\/4 backfill \| 3\/10 rows \| 30\.0% \| \d+ rows\/s \| \d+\.\d s elapsed \| cursor "c"\n$/);
    assert.match(final({ done: 2, total: 4, unit: 'steps', step: { name: 'swap', position: 3, count: 4 } }), /^migrate: step 3\/4 swap \| \d+\.\d s elapsed \| cursor "c"\n$/);
    assert.match(final({ done: 4, total: 4, unit: 'steps' }), /^migrate: 4\/4 steps \| \d+\.\d s elapsed \| cursor "c"\n$/);
  });
});
