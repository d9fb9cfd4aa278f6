import { InvalidOptionError } from './errors.js';

/** Process-wide defaults. Per-class statics and per-run options override them. */
export interface JobIterationConfig {
  /**
   * How often a run persists its state while it iterates, in milliseconds. 0 persists after every iteration.
   * After a crash, at most this much work is redone. Runs also persist on interrupt, completion and error.
   * @defaultValue 1000
   */
  checkpointIntervalMs: number;
  /**
   * Default budget for one run; a run that exceeds it is interrupted by the `max-runtime` adapter and resumed
   * later. `undefined` means no limit. A job class may lower it with `static maxJobRuntimeMs`, never raise it.
   * @defaultValue undefined
   */
  maxJobRuntimeMs: number | undefined;
}

const config: JobIterationConfig = { checkpointIntervalMs: 1000, maxJobRuntimeMs: undefined };

/** Throws `InvalidOptionError` naming `option` unless `value` is a finite number of milliseconds >= 0. */
export function assertDuration(option: string, value: unknown, { optional = false }: { optional?: boolean } = {}): void {
  if (value === undefined && optional) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionError(option, value, `a finite number of milliseconds >= 0${optional ? ' or undefined' : ''}`);
  }
}

/** Changes process-wide defaults; returns the full config now in force. */
export function configure(changes: Partial<JobIterationConfig>): Readonly<JobIterationConfig> {
  if ('checkpointIntervalMs' in changes) assertDuration('checkpointIntervalMs', changes.checkpointIntervalMs);
  if ('maxJobRuntimeMs' in changes) assertDuration('maxJobRuntimeMs', changes.maxJobRuntimeMs, { optional: true });
  Object.assign(config, changes);
  return { ...config };
}

/** The process-wide defaults now in force. Read-only: change them with `configure`. */
export function getConfig(): Readonly<JobIterationConfig> {
  return config;
}
