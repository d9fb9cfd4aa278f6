import cliProgress from 'cli-progress';

export interface ProgressSource {
  jobName: string;
  /** Items the whole job has, when the job can count them. */
  total: number | undefined;
  /** Items done before this run started (resumed runs). */
  doneAtStart: number;
  read(): { iterations: number; cursor: unknown };
}

export interface ProgressReporter {
  stop(): void;
}

function formatCursor(cursor: unknown): string {
  const text = cursor === undefined ? '-' : JSON.stringify(cursor);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Live progress for `job-iteration run`: a progress bar on a TTY, one plain line every `lineEveryMs` otherwise
 * (logs and CI keep a readable history instead of carriage returns).
 */
export function startProgress(source: ProgressSource, stream: NodeJS.WriteStream, lineEveryMs = 5000): ProgressReporter {
  const started = performance.now();
  const rate = (iterations: number) => (iterations - source.doneAtStart) / Math.max((performance.now() - started) / 1000, 1e-3);
  const { total } = source;

  if (stream.isTTY) {
    const format =
      total !== undefined
        ? `${source.jobName} [{bar}] {percentage}% | {value}/{total} | {rate}/s | ETA {eta_formatted} | cursor {cursor}`
        : `${source.jobName} {value} items | {rate}/s | cursor {cursor}`;
    const bar = new cliProgress.SingleBar(
      { format, stream, hideCursor: true, clearOnComplete: false, etaBuffer: 50, fps: 5 },
      cliProgress.Presets.shades_classic,
    );
    const first = source.read();
    bar.start(total ?? 0, first.iterations, { rate: '0', cursor: formatCursor(first.cursor) });
    const timer = setInterval(() => {
      const now = source.read();
      bar.update(now.iterations, { rate: Math.round(rate(now.iterations)).toString(), cursor: formatCursor(now.cursor) });
    }, 200);
    timer.unref();
    return {
      stop() {
        clearInterval(timer);
        const now = source.read();
        bar.update(now.iterations, { rate: Math.round(rate(now.iterations)).toString(), cursor: formatCursor(now.cursor) });
        bar.stop();
      },
    };
  }

  const line = () => {
    const { iterations, cursor } = source.read();
    const r = rate(iterations);
    const parts = [`${source.jobName}: ${iterations}${total !== undefined ? `/${total}` : ''} items`];
    if (total !== undefined && total > 0) {
      parts.push(`${((100 * iterations) / total).toFixed(1)}%`);
      parts.push(`ETA ${formatDuration((total - iterations) / r)}`);
    }
    parts.push(`${Math.round(r)} items/s`, `cursor ${formatCursor(cursor)}`);
    stream.write(`${parts.join(' | ')}\n`);
  };
  const timer = setInterval(line, lineEveryMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      line();
    },
  };
}
