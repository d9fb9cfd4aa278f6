import { getConfig } from '../src/config.js';
import { InterruptionAdapters, type InterruptionAdapterFn } from '../src/interruption.js';
import type { IterableJobClass } from '../src/iterable-job.js';

/**
 * Interrupts a run once it has used its time budget, so a long job yields its worker and is resumed later (from
 * the queue's back, behind shorter jobs). The budget is the process setting (`configure({ maxJobRuntimeMs })`); a
 * class's `static maxJobRuntimeMs` may lower it but never raise it, so an operator's limit holds for every job. No
 * budget at either level means never.
 */
export const MAX_RUNTIME_ADAPTER = 'max-runtime';

/**
 * The time budget of one run of `JobClass`: the smaller of its `static maxJobRuntimeMs` and the process setting,
 * `undefined` when neither is set.
 */
export function maxRuntimeOf(JobClass: Pick<IterableJobClass, 'maxJobRuntimeMs'>): number | undefined {
  const own = JobClass.maxJobRuntimeMs;
  const processBudget = getConfig().maxJobRuntimeMs;
  if (own === undefined) return processBudget;
  return processBudget === undefined ? own : Math.min(own, processBudget);
}

/** The `max-runtime` adapter itself (registered under {@link MAX_RUNTIME_ADAPTER}). */
export const maxRuntimeAdapter: InterruptionAdapterFn = (ctx) => {
  const budget = maxRuntimeOf(ctx.job.constructor as IterableJobClass);
  if (budget === undefined) return false;
  const elapsed = Date.now() - ctx.runStartedAt;
  return elapsed >= budget ? `ran ${elapsed} ms, over its ${budget} ms budget` : false;
};

InterruptionAdapters.register(MAX_RUNTIME_ADAPTER, maxRuntimeAdapter);
