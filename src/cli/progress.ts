import cliProgress from 'cli-progress';
import type { Extent } from '../extent.js';

export interface ProgressSource {
  jobName: string;
  /** Items the whole job has, when the job can count them (`count()`); it wins over the enumeration's extent. */
  total: number | undefined;
  read(): { iterations: number; cursor: unknown; extent?: Extent | undefined };
}

export interface ProgressReporter {
  stop(): void;
}

/** Where the job stands in one unit: items against `count()`, or the enumeration's own extent (bytes, rows). */
interface Sample {
  done: number;
  total: number | undefined;
  unit: string;
  cursor: unknown;
}

function formatCursor(cursor: unknown): string {
  const text = cursor === undefined ? '-' : JSON.stringify(cursor);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  // Rounded once, before it is split: rounding only the remainder turns 239.6 s into 3m60s.
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
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

/**
 * Live progress for `job-iteration run`: a progress bar on a TTY, one plain line every `lineEveryMs` otherwise
 * (logs and CI keep a readable history instead of carriage returns). The percent and ETA come from the job's
 * `count()` when it has one, else from a measured enumeration (`csvRecords` in bytes, `postgresRecords` in rows).
 */
export function startProgress(source: ProgressSource, stream: NodeJS.WriteStream, lineEveryMs = 5000): ProgressReporter {
  const sample = (): Sample => {
    const { iterations, cursor, extent } = source.read();
    if (source.total !== undefined) return { done: iterations, total: source.total, unit: 'items', cursor };
    if (extent) return { done: extent.done, total: extent.total, unit: extent.unit, cursor };
    return { done: iterations, total: undefined, unit: 'items', cursor };
  };
  // The rate counts from the first sample in a unit: a resumed run's earlier work, or an extent that only becomes
  // known once the enumeration starts, must not count as this run's speed.
  let base = { unit: '', done: 0, at: 0 };
  const describe = (s: Sample): { text: string; progress: number | undefined } => {
    const now = performance.now();
    if (s.unit !== base.unit) base = { unit: s.unit, done: s.done, at: now };
    const rate = (s.done - base.done) / Math.max((now - base.at) / 1000, 1e-3);
    const parts: string[] = [];
    let progress: number | undefined;
    if (s.total !== undefined) {
      progress = s.total > 0 ? Math.min(1, s.done / s.total) : 1;
      const amount = s.unit === 'bytes' ? `${formatAmount(s.done, s.unit)}/${formatAmount(s.total, s.unit)}` : `${Math.round(s.done)}/${Math.round(s.total)} ${s.unit}`;
      parts.push(amount, `${(100 * progress).toFixed(1)}%`);
      parts.push(`ETA ${rate > 0 ? formatDuration((s.total - s.done) / rate) : s.done >= s.total ? '0s' : '?'}`);
    } else {
      parts.push(formatAmount(s.done, s.unit));
    }
    parts.push(`${formatAmount(rate, s.unit)}/s`, `cursor ${formatCursor(s.cursor)}`);
    return { text: parts.join(' | '), progress };
  };

  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        hideCursor: true,
        clearOnComplete: false,
        fps: 5,
        format: (options, _params, payload: { text: string; progress: number | undefined }) =>
          payload.progress === undefined
            ? `${source.jobName} ${payload.text}`
            : `${source.jobName} [${cliProgress.Format.BarFormat(payload.progress, options)}] ${payload.text}`,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(1, 0, describe(sample()));
    const timer = setInterval(() => bar.update(0, describe(sample())), 200);
    timer.unref();
    return {
      stop() {
        clearInterval(timer);
        bar.update(0, describe(sample()));
        bar.stop();
      },
    };
  }

  const line = () => stream.write(`${source.jobName}: ${describe(sample()).text}\n`);
  const timer = setInterval(line, lineEveryMs);
  timer.unref();
  // Samples between lines only to notice early when an extent becomes known, so the first line in its unit has a
  // rate to show.
  const watch = setInterval(() => describe(sample()), Math.min(250, lineEveryMs));
  watch.unref();
  return {
    stop() {
      clearInterval(timer);
      clearInterval(watch);
      line();
    },
  };
}
