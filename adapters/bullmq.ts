import { InterruptionAdapters, type InterruptionAdapterFn } from '../src/interruption.js';
import { describeAbortReason } from '../src/abort-reason.js';

/**
 * Interrupts a run under `job-iteration/bullmq` once its BullMQ worker is closing (`worker.closing`, set by
 * `close()`), or when the job's own abort signal fires. Every job of that worker reads the same `closing`
 * promise, so one close reaches all of them (any concurrency) at their next checkpoint. Outside a BullMQ run it
 * never interrupts.
 */
export const BULLMQ_ADAPTER = 'bullmq';

interface ClosingAware {
  readonly closing?: unknown;
}

export const bullmqAdapter: InterruptionAdapterFn = (ctx) => {
  const runtime = ctx.runtime;
  if (runtime === undefined || runtime.kind !== 'bullmq') return false;
  if ((runtime.worker as ClosingAware | undefined)?.closing) return 'worker closing';
  if (ctx.signal?.aborted) return `job ${describeAbortReason(ctx.signal)}`;
  return false;
};

// Registered by importing `job-iteration/bullmq`, not by the core index, so the core never loads bullmq.
if (!InterruptionAdapters.has(BULLMQ_ADAPTER)) InterruptionAdapters.register(BULLMQ_ADAPTER, bullmqAdapter);
