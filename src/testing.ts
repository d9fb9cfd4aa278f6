import { runInline, type RunOptions, type RunResult } from './runner.js';
import type { IterableJobClass } from './iterable-job.js';
import { jobNameOf } from './iterable-job.js';
import { newState, type JobState } from './state.js';

/**
 * Test helpers for your own jobs. Import from `job-iteration/testing`.
 */

/**
 * Runs `JobClass` for exactly `n` iterations (fewer if the enumerator ends first) and stops as a graceful
 * interruption would: the result's `state` resumes right after the n-th item. Registered adapters are not
 * consulted unless `options.adapters` names them, so a test is not stopped by the process around it.
 */
export function iterateExactTimes<Params, Item, Cursor>(
  JobClass: IterableJobClass<Params, Item, Cursor>,
  params: Params,
  n: number,
  options: RunOptions<Cursor> = {},
): Promise<RunResult<Cursor>> {
  return runInline(JobClass, params, { adapters: [], ...options, maxIterations: n });
}

/**
 * Builds the state of a job that was interrupted after the item with `cursor` (or before any item when `cursor` is
 * omitted), as if a worker had been stopped there. Pass it as `runInline(..., { state })` to test resuming.
 */
export function markInterrupted<Cursor>(
  JobClass: IterableJobClass<any, any, Cursor>,
  fields: { cursor?: Cursor; iterations?: number; timesInterrupted?: number } = {},
): JobState<Cursor> {
  const jobName = jobNameOf(JobClass);
  const state = newState<Cursor>(jobName);
  const now = new Date().toISOString();
  state.status = 'interrupted';
  state.startedAt = now;
  state.updatedAt = now;
  state.iterations = fields.iterations ?? 0;
  state.timesInterrupted = fields.timesInterrupted ?? 1;
  state.lastInterruption = { adapter: 'test', reason: 'marked interrupted by a test', at: now };
  if ('cursor' in fields) state.cursor = fields.cursor as Cursor;
  return state;
}
