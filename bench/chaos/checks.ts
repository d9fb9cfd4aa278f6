/** The contract for jobs whose data is corrupt and for a poison job, checked against their final Redis state. */
import { EXTRA_KEY, type Corruption } from './corrupt.js';
import type { ItemRow } from './records.js';

export interface FinalJob {
  state: string;
  failedReason: string;
  /** The job hash's `data` field, as stored. */
  data: string | null;
  /** The saved iteration state (the job hash's `ji:state` field), as stored. */
  savedState: string | null;
}

function parse(data: string | null): unknown {
  try {
    return JSON.parse(data ?? 'null');
  } catch {
    return undefined;
  }
}

/**
 * Invalid data fails the job with ERR_INVALID_JOB_DATA, leaves the data as written for inspection and runs no item;
 * an extra top-level key is harmless: the job resumes from its cursor, completes (checked with the healthy jobs)
 * and keeps the key.
 */
export function checkCorruption(c: Corruption, job: FinalJob, rows: ItemRow[], crashBound: number): string[] {
  const label = `corrupt ${c.variant} (job ${c.jobId})`;
  const applied = c.applied;
  if (!applied) return [`${label}: not exercised: ${c.missed}`];
  const breaches: string[] = [];
  const after = rows.filter((r) => r.atMs > applied.atMs);
  const lowest = after.reduce((min, r) => Math.min(min, r.item), Infinity);
  if (lowest < (applied.cursor ?? -1) + 1 - crashBound) {
    breaches.push(`${label}: went back to item ${lowest} after the corruption, from a saved cursor of ${applied.cursor ?? 'none'}`);
  }
  if (c.variant === 'extra-key') {
    const data = parse(job.data) as Record<string, unknown> | undefined;
    if (data?.[EXTRA_KEY] !== 'kept') breaches.push(`${label}: the extra key "${EXTRA_KEY}" is gone from its data`);
    return breaches;
  }
  if (job.state !== 'failed') {
    breaches.push(`${label}: is ${job.state}, expected failed with ERR_INVALID_JOB_DATA${job.failedReason ? ` (reason: ${job.failedReason})` : ''}`);
  } else if (!job.failedReason.startsWith('ERR_INVALID_JOB_DATA')) {
    breaches.push(`${label}: failed with "${job.failedReason.slice(0, 120)}", expected a reason starting with ERR_INVALID_JOB_DATA`);
  }
  if (job.data !== applied.after) {
    breaches.push(`${label}: its data was rewritten (now ${JSON.stringify((job.data ?? 'null').slice(0, 80))}), expected it left for inspection`);
  }
  if (after.length) breaches.push(`${label}: ${after.length} item(s) processed after its data was corrupted`);
  return breaches;
}

/**
 * A job that kills its worker at the same item every time fails as stalled, after a bounded number of tries: the
 * stalls in a row beyond `maxStalledCount`, plus one for a periodic checkpoint the first stalled run may have
 * written between its last saved point and the poison item. A clean stop of the job between two of its crashes
 * (a deploy reaching it before the poison item) shows progress and starts the count again: each such stop allows
 * that many tries again.
 */
export function checkPoison(jobId: string, job: FinalJob, attempts: number, maxStalledCount: number, poisonAt: number, cleanStops: number): string[] {
  const label = `poison (job ${jobId})`;
  const breaches: string[] = [];
  if (job.state !== 'failed') breaches.push(`${label} is ${job.state}, expected failed with ERR_JOB_STALLED`);
  else if (!job.failedReason.startsWith('ERR_JOB_STALLED')) {
    breaches.push(`${label} failed with "${job.failedReason.slice(0, 120)}", expected a reason starting with ERR_JOB_STALLED`);
  }
  const bound = (maxStalledCount + 2) * (1 + cleanStops);
  if (attempts > bound) breaches.push(`${label}: item ${poisonAt} attempted ${attempts} times, bound (maxStalledCount + 2) x (1 + ${cleanStops} clean stop(s)) = ${bound}`);
  const timesStalled = (parse(job.savedState) as { timesStalled?: unknown } | undefined)?.timesStalled;
  if (typeof timesStalled !== 'number') breaches.push(`${label}: its saved state has no numeric timesStalled (${JSON.stringify(timesStalled) ?? 'undefined'})`);
  return breaches;
}
