import { assertDuration } from '../src/config.js';
import { InvalidOptionError } from '../src/errors.js';
import type { InterruptionAdapterObject, InterruptionContext } from '../src/interruption.js';

/**
 * What a throttle asks: `true` or a reason (`"replica lag 12 s"`) to hold the job back, `false` or nothing to let
 * it go on.
 */
export type ThrottlePredicate = (ctx: InterruptionContext) => boolean | string | undefined | null | Promise<boolean | string | undefined | null>;

/** Options of {@link throttle}. */
export interface ThrottleOptions {
  /**
   * Ask the predicate at most this often (ms); between asks its last answer stands, so a predicate that queries a
   * database costs one query per interval, not one per item. Runs of one process share the answer.
   * @defaultValue 1000
   */
  checkEveryMs?: number;
  /**
   * How long a throttled job waits before it goes on, the first time (ms).
   * @defaultValue 5000
   */
  backoffMs?: number;
  /**
   * Each throttle in a row (no "go on" answer between them) multiplies the wait by this, up to `maxBackoffMs`.
   * @defaultValue 2
   */
  backoffFactor?: number;
  /** @defaultValue 60000 */
  maxBackoffMs?: number;
  /** The reason recorded when the predicate answers `true`. @defaultValue 'throttled' */
  reason?: string;
}

/**
 * An interruption adapter that holds a job back while `predicate` says the system is under strain (a replica
 * lagging, a load figure too high): the run stops after the item in flight with `retryAfterMs`, the BullMQ runtime
 * hands the job back delayed by it (not a failed attempt), and `job-iteration run` waits and goes on. The wait
 * starts at `backoffMs` and grows by `backoffFactor` with each throttle in a row, up to `maxBackoffMs`.
 *
 * A predicate that throws throttles too, with its error in the reason: when the health of what the job writes to
 * cannot be told, backing off is the safe answer, and the reason shows why in the state and the logs.
 *
 * ```ts
 * class Backfill extends IterableJob {
 *   static localAdapters = { 'replica-lag': throttle(async () => (await replicaLagSeconds()) > 5 && 'replica lag over 5 s') };
 * }
 * ```
 */
export function throttle(predicate: ThrottlePredicate, options: ThrottleOptions = {}): InterruptionAdapterObject {
  if (typeof predicate !== 'function') throw new InvalidOptionError('throttle(predicate)', predicate, 'a function');
  const checkEveryMs = options.checkEveryMs ?? 1000;
  const backoffMs = options.backoffMs ?? 5000;
  const maxBackoffMs = options.maxBackoffMs ?? 60_000;
  const factor = options.backoffFactor ?? 2;
  const reason = options.reason ?? 'throttled';
  assertDuration('throttle checkEveryMs', checkEveryMs);
  assertDuration('throttle backoffMs', backoffMs);
  assertDuration('throttle maxBackoffMs', maxBackoffMs);
  if (!(Number.isFinite(factor) && factor >= 1)) throw new InvalidOptionError('throttle backoffFactor', factor, 'a number >= 1');
  if (typeof reason !== 'string' || reason === '') throw new InvalidOptionError('throttle reason', reason, 'a non-empty string');

  let checkedAt = -Infinity;
  let answer: { reason: string; retryAfterMs: number } | undefined;
  let pending: Promise<{ reason: string; retryAfterMs: number } | undefined> | undefined;
  let streak = 0;

  const decide = (raw: unknown): { reason: string; retryAfterMs: number } | undefined => {
    checkedAt = performance.now();
    if (!raw) {
      streak = 0;
      return (answer = undefined);
    }
    const retryAfterMs = Math.min(maxBackoffMs, Math.round(backoffMs * factor ** streak));
    streak++;
    return (answer = { reason: typeof raw === 'string' ? raw : reason, retryAfterMs });
  };
  const failed = (error: unknown) => decide(`${reason}: the throttle check failed (${error instanceof Error ? error.message : String(error)})`);

  return {
    shouldInterrupt(ctx) {
      if (performance.now() - checkedAt < checkEveryMs) return answer;
      if (pending) return pending;
      let raw: ReturnType<ThrottlePredicate>;
      try {
        raw = predicate(ctx);
      } catch (error) {
        return failed(error);
      }
      if (raw === null || typeof raw !== 'object' || typeof (raw as Promise<unknown>).then !== 'function') return decide(raw);
      pending = Promise.resolve(raw).then(decide, failed).finally(() => (pending = undefined));
      return pending;
    },
  };
}
