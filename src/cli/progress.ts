import cliProgress from 'cli-progress';
import { measureKey, stepLabelOf, type Extent, type StepPosition } from '../extent.js';
import { shorten } from './text.js';

export interface ProgressSource {
  jobName: string;
  /** Items the whole job has, when the job can count them (`count()`); it wins over the enumeration's extent. */
  total: number | undefined;
  read(): { iterations: number; cursor: unknown; extent?: Extent | undefined };
}

export interface ProgressReporter {
  /** Prints a message on a line of its own; on a TTY the bar is cleared first and drawn again below it. */
  log(line: string): void;
  /** Prints the final line (items, rate, elapsed time) and ends the live output. Later calls do nothing. */
  stop(): void;
}

/** What a progress line says, each part formatted; a part left out is not shown. */
export interface LineParts {
  jobName: string;
  /** A step job's current step: `step 2/4 backfill`. */
  step?: string | undefined;
  /** From 0 to 1 when the total is known: how full the bar is. */
  progress?: number | undefined;
  amount?: string | undefined;
  percent?: string | undefined;
  eta?: string | undefined;
  rate?: string | undefined;
  elapsed?: string | undefined;
  /** The cursor as JSON. */
  cursor: string;
}

/** Where the job stands in one unit: items against `count()`, or the enumeration's own extent (bytes, rows). */
interface Sample {
  done: number;
  total: number | undefined;
  unit: string;
  cursor: unknown;
  step?: StepPosition | undefined;
}

const BAR_MIN = 10;
const BAR_MAX = 40;
const CURSOR_MIN = 12;
const JOB_NAME_MIN = 8;

function formatCursor(cursor: unknown): string {
  return shorten(cursor === undefined ? '-' : JSON.stringify(cursor), 40);
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  // Rounded once, before it is split: rounding only the remainder turns 239.6 s into 3m60s.
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
}

/** Tenths of a second while they tell something (a short run), minutes and hours after that. */
function formatElapsed(seconds: number): string {
  const tenths = Math.round(seconds * 10) / 10;
  return tenths < 60 ? `${tenths.toFixed(1)} s` : formatDuration(seconds);
}

const BYTE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

/** A quantity in its unit: bytes scaled (`12.4 MB`), anything else counted (`1200 rows`). */
function formatAmount(n: number, unit: string): string {
  if (unit !== 'bytes') return `${Math.round(n)} ${unit}`;
  let i = 0;
  while (n >= 1024 && i < BYTE_UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? Math.round(n) : n.toFixed(1)} ${BYTE_UNITS[i]}`;
}

function partsText(p: LineParts): string {
  return [p.step, p.amount, p.percent, p.eta, p.rate, p.elapsed, `cursor ${p.cursor}`].filter(Boolean).join(' | ');
}

/** The line without a bar, as logs get it: `backfill: 893/2000 items | 44.6% | ETA 2s | 446 items/s | cursor 893`. */
export function plainLine(parts: LineParts): string {
  return `${parts.jobName}: ${partsText(parts)}`;
}

/** The columns the bar gets on a line `width` wide: what the text leaves, at most `barMax`; 0 for no bar. */
export function barWidth(parts: LineParts, width: number, barMax = BAR_MAX): number {
  if (parts.progress === undefined) return 0;
  const size = Math.min(barMax, width - parts.jobName.length - partsText(parts).length - 4);
  return size >= BAR_MIN ? size : 0;
}

/**
 * The line for a terminal `width` columns wide, never longer, and the bar's width in it (0: none). The bar takes the
 * room the text leaves, up to `barMax` (40) columns. When that is under 10, the parts that tell least make room for
 * it, in turn: the percent (the amount and the bar say as much), then the rate (the ETA is made of it). Only then
 * does the bar go, and after it the tail of a long cursor, the amount and the tail of a long job name. The ETA and
 * the cursor stay to the last.
 */
export function layout(parts: LineParts, width: number, barMax = BAR_MAX): { line: string; bar: number } {
  const p = { ...parts };
  for (const drop of [() => {}, () => (p.percent = undefined), () => (p.rate = undefined)]) {
    drop();
    const size = barWidth(p, width, barMax);
    if (size > 0) {
      const full = Math.round(Math.min(1, Math.max(0, p.progress ?? 0)) * size);
      return { line: `${p.jobName} [${'\u2588'.repeat(full)}${'\u2591'.repeat(size - full)}] ${partsText(p)}`, bar: size };
    }
  }
  const over = () => plainLine(p).length - width;
  // From the whole cursor each time, so room a later step frees goes back to it.
  const fitCursor = () => {
    p.cursor = parts.cursor;
    p.cursor = shorten(parts.cursor, Math.max(CURSOR_MIN, parts.cursor.length - over()));
  };
  // The percent and rate come back when the bar's going leaves room for them.
  p.percent = parts.percent;
  p.rate = parts.rate;
  const shrinks = [
    () => (p.percent = undefined),
    () => (p.rate = undefined),
    fitCursor,
    () => {
      p.amount = undefined;
      fitCursor();
    },
    () => (p.jobName = shorten(p.jobName, Math.max(JOB_NAME_MIN, p.jobName.length - over()))),
  ];
  for (const shrink of shrinks) {
    if (over() <= 0) break;
    shrink();
  }
  return { line: plainLine(p).slice(0, Math.max(0, width)), bar: 0 };
}

/** The line of {@link layout} alone. */
export function layoutLine(parts: LineParts, width: number, barMax = BAR_MAX): string {
  return layout(parts, width, barMax).line;
}

/**
 * Live progress for `job-iteration run`: a progress bar on a TTY, one plain line every `lineEveryMs` otherwise
 * (logs and CI keep a readable history instead of carriage returns). The percent and ETA come from the job's
 * `count()` when it has one, else from a measured enumeration (`csvRecords` in bytes, `postgresRecords` in rows).
 * The final line trades the ETA for the time this run took.
 */
export function startProgress(source: ProgressSource, stream: NodeJS.WriteStream, lineEveryMs = 5000): ProgressReporter {
  const startedAt = performance.now();
  const sample = (): Sample => {
    const { iterations, cursor, extent } = source.read();
    if (source.total !== undefined) return { done: iterations, total: source.total, unit: 'items', cursor };
    if (extent) return { done: extent.done, total: extent.total, unit: extent.unit, cursor, step: extent.step };
    return { done: iterations, total: undefined, unit: 'items', cursor };
  };
  // The rate counts from the first sample in a unit: a resumed run's earlier work, or an extent that only becomes
  // known once the enumeration starts, must not count as this run's speed.
  // A step job's next step starts a new count, in its own unit.
  let base = { unit: '', done: 0, at: 0 };
  const describe = (final = false): LineParts => {
    const s = sample();
    const now = performance.now();
    const unit = measureKey(s);
    if (unit !== base.unit) base = { unit, done: s.done, at: now };
    const rate = (s.done - base.done) / Math.max((now - base.at) / 1000, 1e-3);
    const parts: LineParts = { jobName: source.jobName, amount: formatAmount(s.done, s.unit), rate: `${formatAmount(rate, s.unit)}/s`, cursor: formatCursor(s.cursor) };
    if (s.step) parts.step = stepLabelOf(s.step);
    if (s.unit === 'steps') {
      // Measured only in steps (a plain step, or the end): the label or the count says where the job is; a rate or
      // an ETA of steps that take any time at all would say nothing.
      parts.progress = s.total ? Math.min(1, s.done / s.total) : 0;
      parts.rate = undefined;
      parts.amount = s.step ? undefined : `${s.done}/${s.total ?? '?'} steps`;
    } else if (s.total !== undefined) {
      parts.progress = s.total > 0 ? Math.min(1, s.done / s.total) : 1;
      parts.amount = s.unit === 'bytes' ? `${formatAmount(s.done, s.unit)}/${formatAmount(s.total, s.unit)}` : `${Math.round(s.done)}/${Math.round(s.total)} ${s.unit}`;
      parts.percent = `${(100 * parts.progress).toFixed(1)}%`;
      if (!final) parts.eta = `ETA ${rate > 0 ? formatDuration((s.total - s.done) / rate) : s.done >= s.total ? '0s' : '?'}`;
    }
    if (final) parts.elapsed = `${formatElapsed((now - startedAt) / 1000)} elapsed`;
    return parts;
  };
  let stopped = false;

  if (stream.isTTY) {
    // One column short of the terminal: a line that fills the last column leaves the cursor waiting to wrap, where
    // the erase after it takes the last character, and some terminals wrap at once.
    const width = () => Math.max(1, (stream.columns || 80) - 1);
    // The bar only narrows as the text beside it grows (a longer ETA, a faster rate), so the line does not jump back
    // and forth with every redraw, nor the bar come and go; a resize starts over.
    let barMax = BAR_MAX;
    const lay = (parts: LineParts) => {
      const { line, bar } = layout(parts, width(), barMax);
      if (bar > 0) barMax = bar;
      return line;
    };
    // A multi-bar of one: its log() prints a message above the bar and draws the bar again below it, where a single
    // bar would leave the message to be overwritten by its next redraw.
    const bars = new cliProgress.MultiBar({
      stream,
      hideCursor: true,
      clearOnComplete: false,
      // The terminal wraps a long message as usual; the bar's own line is laid out to fit, never wrapped.
      linewrap: true,
      fps: 5,
      format: (_options, _params, payload: { parts: LineParts }) => lay(payload.parts),
    });
    const bar = bars.create(1, 0, { parts: describe() });
    // Its redraw timer must not keep the process alive: `run` tells an item that never settles by the event loop
    // running empty.
    const unref = () => (bars as unknown as { timer?: NodeJS.Timeout | null }).timer?.unref();
    unref();
    bars.on('update-post', unref);
    // An exit that skips stop() (a crash) would otherwise leave the shell without a cursor.
    const showCursor = () => stream.write('\x1b[?25h');
    process.once('exit', showCursor);
    const resized = () => {
      barMax = BAR_MAX;
      bar.update(0, { parts: describe() });
      bars.update();
    };
    stream.on('resize', resized);
    const timer = setInterval(() => bar.update(0, { parts: describe() }), 200);
    timer.unref();
    return {
      log(line) {
        if (stopped) {
          stream.write(`${line}\n`);
          return;
        }
        bar.update(0, { parts: describe() });
        bars.log(`${line}\n`);
        bars.update();
      },
      stop() {
        if (stopped) return;
        stopped = true;
        clearInterval(timer);
        stream.off('resize', resized);
        process.off('exit', showCursor);
        bar.update(0, { parts: describe(true) });
        bars.stop();
      },
    };
  }

  const line = (final = false) => stream.write(`${plainLine(describe(final))}\n`);
  // The first sample, now: the rate counts from it, so a run that ends before the next one still has a rate.
  describe();
  const timer = setInterval(() => line(), lineEveryMs);
  timer.unref();
  // Samples between lines only to notice early when an extent becomes known, so the first line in its unit has a
  // rate to show.
  const watch = setInterval(() => describe(), Math.min(250, lineEveryMs));
  watch.unref();
  return {
    log(message) {
      stream.write(`${message}\n`);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      clearInterval(watch);
      line(true);
    },
  };
}
