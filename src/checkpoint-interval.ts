import { assertDuration, getConfig } from './config.js';

/** The levels that may set a run's checkpoint interval, most specific first. */
export interface CheckpointIntervalSources {
  /** The run's own option (`runInline(..., { checkpointIntervalMs })`, a CLI flag). */
  run?: number | undefined;
  /** The job class; its `static checkpointIntervalMs` is read. */
  JobClass: { readonly checkpointIntervalMs?: number | undefined };
  /** The worker's setting (e.g. the BullMQ worker's `checkpointIntervalMs` option). */
  worker?: number | undefined;
}

/**
 * The checkpoint interval a run uses, in milliseconds: the run's option, else the class's, else the worker's, else
 * the process default (`configure({ checkpointIntervalMs })`). Every runtime asks this one function, so the order
 * cannot drift between them. Throws `InvalidOptionError` (`ERR_INVALID_OPTION`) when the winning value is not a
 * duration.
 */
export function resolveCheckpointInterval({ run, JobClass, worker }: CheckpointIntervalSources): number {
  const ms = run ?? JobClass.checkpointIntervalMs ?? worker ?? getConfig().checkpointIntervalMs;
  assertDuration('checkpointIntervalMs', ms);
  return ms;
}
