import type { IterableJobClass } from '../iterable-job.js';
import { UsageError } from './usage.js';

/** The job named by `--job`, or the only job when `--job` is omitted and there is exactly one. */
export function pickJob(jobs: Map<string, IterableJobClass>, name: string | undefined): IterableJobClass {
  if (name === undefined) {
    if (jobs.size === 1) return [...jobs.values()][0]!;
    throw new UsageError(`--job is required: the module exports ${jobs.size} jobs (${[...jobs.keys()].join(', ')})`);
  }
  const job = jobs.get(name);
  if (!job) throw new UsageError(`unknown job "${name}" (known: ${[...jobs.keys()].join(', ')})`);
  return job;
}
