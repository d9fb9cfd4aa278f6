/** The registered name of the adapter that reads a run's own `AbortSignal`. */
export const ABORT_SIGNAL_ADAPTER = 'abort-signal';

/** A signal's abort reason as a one-line interruption reason. */
export function describeAbortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (r instanceof Error) return `aborted: ${r.message}`;
  return typeof r === 'string' ? `aborted: ${r}` : 'aborted';
}
