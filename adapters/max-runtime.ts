import { getConfig } from '../src/config.js';
import { InterruptionAdapters, type InterruptionAdapterFn } from '../src/interruption.js';
import type { IterableJobClass } from '../src/iterable-job.js';

/**
 * Interrupts a run once it has used its time budget, so a long job yields its worker and is resumed later (from
 * the queue's back, behind shorter jobs). The budget is `static maxJobRuntimeMs` on the job class, else the process
 * default set with `configure({ maxJobRuntimeMs })`; no budget means never.
 */
export const MAX_RUNTIME_ADAPTER = 'max-runtime';

export const maxRuntimeAdapter: InterruptionAdapterFn = (ctx) => {
  const JobClass = ctx.job.constructor as IterableJobClass;
  const budget = JobClass.maxJobRuntimeMs ?? getConfig().maxJobRuntimeMs;
  if (budget === undefined) return false;
  const elapsed = Date.now() - ctx.runStartedAt;
  return elapsed >= budget ? `ran ${elapsed} ms, over its ${budget} ms budget` : false;
};

InterruptionAdapters.register(MAX_RUNTIME_ADAPTER, maxRuntimeAdapter);
