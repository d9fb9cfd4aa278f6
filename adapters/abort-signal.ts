import { ABORT_SIGNAL_ADAPTER, describeAbortReason } from '../src/abort-reason.js';
import { InterruptionAdapters, type InterruptionAdapterFn } from '../src/interruption.js';

export { ABORT_SIGNAL_ADAPTER, describeAbortReason };

/**
 * Interrupts when the run's own `AbortSignal` (`runInline(..., { signal })`, BullMQ's per-job signal) aborts. The
 * engine checks that signal itself too, so a run stops on it even when `adapters` leaves this one out; registering
 * it keeps the order in which a runtime's own adapters are asked first. For a signal that should stop every run in
 * the process, register `abortSignalAdapter(signal)` under a name.
 */
export const runSignalAdapter: InterruptionAdapterFn = (ctx) => (ctx.signal?.aborted ? describeAbortReason(ctx.signal) : false);

/** An adapter bound to one signal, for `InterruptionAdapters.register('shutdown', abortSignalAdapter(ac.signal))`. */
export function abortSignalAdapter(signal: AbortSignal): InterruptionAdapterFn {
  if (!(signal instanceof AbortSignal)) throw new TypeError('abortSignalAdapter expects an AbortSignal.');
  return () => (signal.aborted ? describeAbortReason(signal) : false);
}

InterruptionAdapters.register(ABORT_SIGNAL_ADAPTER, runSignalAdapter);
