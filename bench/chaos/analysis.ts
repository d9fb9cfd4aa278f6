/**
 * Duplicates and their causes, from the item records alone. A job's rows, in the order the items finished (their
 * stamps, see Records.itemsByJob), climb one by one; any step back is a resume that redoes items. Each redo is
 * charged to a fault that hit the job shortly before it; a redo that no fault explains is charged to nothing, whose
 * bound is zero.
 */
import type { ItemRow } from './records.js';

export type FaultKind =
  | 'deploy'
  | 'urgent'
  | 'kill-worker'
  | 'kill-group'
  | 'sigstop'
  | 'redis-restart'
  | 'redis-pause'
  | 'redis-sleep'
  | 'redis-kill'
  | 'outage-at-shutdown'
  | 'poison';

export interface Fault {
  n: number;
  kind: FaultKind;
  /** Epoch ms (the workers stamp their rows with the same clock). */
  atMs: number;
  /** When its direct effect on the processes it reached is over. */
  untilMs: number;
  target: string;
  /** The processes it reached, alive when it struck: a worker, a supervisor's group, or all of them (Redis). */
  pids: Set<number>;
  exposed: Set<string>;
  duplicates: number;
  redos: number;
}

export interface Bounds {
  itemsPerInterval: number;
  crash: number;
  urgent: number;
  sigstop: number;
}

/**
 * Items a fault may make one job do twice, from the runtime's contract:
 * - graceful stop: the item in flight finishes and its cursor is saved before the job is handed back: 0;
 * - urgent stop: the last finished cursor is saved at once; the item in flight may still finish (this job does not
 *   watch its signal) and is redone: 1;
 * - crash (kill -9 of a worker or a group, the poison item's own kill): whatever ran since the last checkpoint,
 *   at most one interval of items, plus the item in flight;
 * - Redis outage, during a run or a shutdown: the run awaits each checkpoint write, so it gets at most one
 *   interval of items (and the item in flight) past its last acknowledged checkpoint before it blocks on Redis.
 *   If its lock survives, the write lands and nothing is redone; if not, the write is refused by the lock check
 *   and the job's next owner redoes exactly those items; a worker that sits out the shutdown timeout is killed,
 *   which is a crash. Either way, the crash bound;
 * - SIGSTOP past the lock duration: the next owner redoes the items since the last checkpoint (the crash bound).
 *   After SIGCONT the stopped worker finishes the item it was in, and before its next item it sees that it was
 *   frozen longer than half its lock and asks Redis whether it still holds the lock; it does not, so it stops: one
 *   more item. A stop lasts seconds, long enough for the next fault to land on the same run before the stop's
 *   effect is over, and a redo goes to the fault with the largest bound: twice the crash bound.
 */
export function boundsFor(checkpointMs: number, itemMs: number): Bounds {
  const itemsPerInterval = Math.ceil(checkpointMs / itemMs);
  const crash = itemsPerInterval + 1;
  return { itemsPerInterval, crash, urgent: 1, sigstop: 2 * crash };
}

export function boundPerJob(kind: FaultKind, bounds: Bounds): number {
  switch (kind) {
    case 'deploy':
      return 0;
    case 'urgent':
      return bounds.urgent;
    case 'sigstop':
      return bounds.sigstop;
    default:
      return bounds.crash;
  }
}

/**
 * Runs a fault hit: the jobs that had an item done by a process it reached, alive when it struck, from `windowMs`
 * before it until its effect ends (`untilMs`: the item in flight at a stop, or everything a stopped worker does
 * once continued). The runs of a worker that an earlier fault killed stay charged to that fault. Jobs that had
 * completed are left out.
 */
export function expose(faults: Fault[], rowsByJob: Map<string, ItemRow[]>, itemsOf: (key: string) => number, windowMs: number): void {
  for (const [key, rows] of rowsByJob) {
    const lastItem = itemsOf(key) - 1;
    const sorted = inStampOrder(key, rows);
    for (const fault of faults) {
      const from = fault.atMs - windowMs;
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (sorted[mid]!.atMs < from) lo = mid + 1;
        else hi = mid;
      }
      let hit = false;
      let completedBefore = false;
      for (let i = lo; i < sorted.length && sorted[i]!.atMs <= fault.untilMs; i++) {
        const row = sorted[i]!;
        if (fault.pids.has(row.pid)) hit = true;
        // Its last item done well before the fault: the job had completed, there is nothing left to redo. (Just
        // before, its completion may still have been on its way to Redis.)
        if (row.item === lastItem && row.atMs < fault.atMs - windowMs / 2) completedBefore = true;
      }
      if (hit && !completedBefore) fault.exposed.add(key);
    }
  }
}

/**
 * The rows themselves, checked: the rules below compare stamps with fault times, which only holds if a redo's rows
 * come after the rows they redo in time, not in the order they reached the database.
 */
function inStampOrder(key: string, rows: ItemRow[]): ItemRow[] {
  for (let i = 1; i < rows.length; i++) {
    if (rows[i]!.atMs < rows[i - 1]!.atMs) throw new Error(`job ${key}: rows out of stamp order at row ${i} (item ${rows[i]!.item})`);
  }
  return rows;
}

export interface JobReport {
  key: string;
  rows: number;
  missing: number[];
  duplicates: number;
  /** `prevMs`: when the item before the redo was done, by the run that was lost. */
  redos: { startMs: number; prevMs: number; duplicates: number; cause: Fault | undefined }[];
}

/**
 * A redo is caused by a fault that hit the run it redoes: one that hit the job and whose effect lasted until
 * (`windowMs` before) the last item done before the redo, the lost run's last. It may surface much later: a lock
 * expires, the stalled checker runs, and a worker that keeps being killed is restarted after up to 30 s. When
 * several faults qualify, the redo goes to the one with the largest bound, the latest among equals: a crash's
 * expired lock can surface just after a harmless deploy that also touched the job, and the deploy must not take
 * the blame. The price: a deploy's own redo goes unnoticed when a crash hit the same run.
 */
export function analyseJob(key: string, items: number, rows: ItemRow[], faults: Fault[], bounds: Bounds, windowMs: number): JobReport {
  const seen = new Uint32Array(items);
  const redos: JobReport['redos'] = [];
  let highest = -1;
  let lastItem = -1;
  let current: JobReport['redos'][number] | undefined;
  let prevMs = 0;
  for (const row of inStampOrder(key, rows)) {
    if (row.item < 0 || row.item >= items) throw new Error(`job ${key}: item ${row.item} out of range 0..${items - 1}`);
    if (row.item > highest) {
      highest = row.item;
      current = undefined;
    } else if (current === undefined || row.item !== lastItem + 1) {
      // A resume redoes items in order from its cursor; any other step back is another resume.
      current = { startMs: row.atMs, prevMs, duplicates: 0, cause: undefined };
      redos.push(current);
    }
    if (seen[row.item]! > 0) current!.duplicates++;
    seen[row.item]!++;
    lastItem = row.item;
    prevMs = row.atMs;
  }
  const missing: number[] = [];
  for (let i = 0; i < items; i++) if (seen[i] === 0) missing.push(i);
  const withDuplicates = redos.filter((r) => r.duplicates > 0);
  for (const redo of withDuplicates) {
    let cause: Fault | undefined;
    for (const fault of faults) {
      if (fault.atMs > redo.startMs || fault.untilMs < redo.prevMs - windowMs || !fault.exposed.has(key)) continue;
      if (!cause || boundPerJob(fault.kind, bounds) >= boundPerJob(cause.kind, bounds)) cause = fault;
    }
    redo.cause = cause;
    if (cause) {
      cause.duplicates += redo.duplicates;
      cause.redos++;
    }
  }
  return { key, rows: rows.length, missing, duplicates: withDuplicates.reduce((s, r) => s + r.duplicates, 0), redos: withDuplicates };
}
