import { InterruptionAdapters, type InterruptionAdapterFn } from '../src/interruption.js';

/**
 * Interrupts when the run's own `AbortSignal` (`runInline(..., { signal })`, BullMQ's per-job signal) aborts.
 * For a signal that should stop every run in the process, register `abortSignalAdapter(signal)` under a name.
 */
export const ABORT_SIGNAL_ADAPTER = 'abort-signal';

function reasonOf(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (r instanceof Error) return `aborted: ${r.message}`;
  return typeof r === 'string' ? `aborted: ${r}` : 'aborted';
}

export const runSignalAdapter: InterruptionAdapterFn = (ctx) => (ctx.signal?.aborted ? reasonOf(ctx.signal) : false);

/** An adapter bound to one signal, for `InterruptionAdapters.register('shutdown', abortSignalAdapter(ac.signal))`. */
export function abortSignalAdapter(signal: AbortSignal): InterruptionAdapterFn {
  if (!(signal instanceof AbortSignal)) throw new TypeError('abortSignalAdapter expects an AbortSignal.');
  return () => (signal.aborted ? reasonOf(signal) : false);
}

InterruptionAdapters.register(ABORT_SIGNAL_ADAPTER, runSignalAdapter);
