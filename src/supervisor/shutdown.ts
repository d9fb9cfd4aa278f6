/** The most headroom the urgent step leaves before the shutdown deadline. */
export const URGENT_HEADROOM_MS = 5000;

/**
 * How long after TERM a stop still under way turns urgent (SIGQUIT: save the last finished cursor, hand the job
 * back now): 5 s before the deadline, or half-way through it when that is later. An urgent stop takes milliseconds
 * (one Redis write and one move per job), so 5 s is room for a slow Redis; a short timeout keeps half of itself for
 * the graceful stop, which loses nothing at all.
 */
export function urgentStepMs(shutdownTimeoutMs: number): number {
  return Math.max(shutdownTimeoutMs - URGENT_HEADROOM_MS, shutdownTimeoutMs / 2);
}
