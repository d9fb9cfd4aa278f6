import { AdapterExistsError, InvalidAdapterError, UnknownAdapterError } from './errors.js';
import type { IterableJob } from './iterable-job.js';
import type { JobState } from './state.js';

/** What an adapter sees when it is asked whether the current run should stop. */
export interface InterruptionContext {
  /** The job name of the running job. */
  readonly jobName: string;
  /** The running job instance; its class carries per-class settings such as `maxJobRuntimeMs`. */
  readonly job: IterableJob<any, any, any>;
  readonly params: unknown;
  /** The state as of the last finished iteration. Do not mutate. */
  readonly state: Readonly<JobState<unknown>>;
  /** `Date.now()` when this run started. */
  readonly runStartedAt: number;
  /** Items finished in this run. */
  readonly runIterations: number;
  /** The run's external signal (`runInline`'s `signal` option, BullMQ's per-job signal), when one was given. */
  readonly signal?: AbortSignal;
  /** Runtime-specific handle, e.g. `{ kind: 'bullmq', worker, job }` when running under `job-iteration/bullmq`. */
  readonly runtime?: { readonly kind: string; readonly [key: string]: unknown };
}

/**
 * What an adapter answers: `false`/`undefined` to go on; `true` or a reason (string, or `{ reason }`) to stop.
 * A reason shows up in the run result, in events and in the saved state.
 *
 * `{ reason, retryAfterMs }` is a throttle: the job should not go on before that many milliseconds. The run result
 * carries it (`interruption.retryAfterMs`), the BullMQ runtime hands the job back delayed by it (not a failed
 * attempt), and `job-iteration run` waits that long and resumes in the same process. See `throttle()`.
 */
export type InterruptionDecision = boolean | string | { reason: string; retryAfterMs?: number } | undefined | null;

/** Why a run stopped early: the adapter that asked, its reason, and how long to wait before going on (a throttle). */
export interface Interruption {
  adapter: string;
  reason: string;
  /** Set when the adapter throttled the job: do not resume it before this many milliseconds have passed. */
  retryAfterMs?: number;
}

/**
 * An interruption adapter: one callable, asked after every iteration. It must be cheap: it runs on the hot path.
 * Return a promise only when the answer truly needs I/O.
 */
export type InterruptionAdapterFn = (ctx: InterruptionContext) => InterruptionDecision | Promise<InterruptionDecision>;

/** The object form, for adapters that keep state. */
export interface InterruptionAdapterObject {
  shouldInterrupt(ctx: InterruptionContext): InterruptionDecision | Promise<InterruptionDecision>;
}

/** Either form of adapter: a callable, or an object with `shouldInterrupt`. */
export type InterruptionAdapter = InterruptionAdapterFn | InterruptionAdapterObject;

/** An adapter resolved to a callable, with its registered name. */
export interface ResolvedAdapter {
  readonly name: string;
  readonly check: InterruptionAdapterFn;
}

const NAME = /^[a-z0-9][a-z0-9_.:-]*$/i;
const registry = new Map<string, ResolvedAdapter>();

/** Validates an adapter's shape and turns it into a callable. */
export function resolveAdapter(name: string, adapter: InterruptionAdapter): ResolvedAdapter {
  if (typeof adapter === 'function') return { name, check: adapter };
  if (adapter && typeof adapter === 'object' && typeof adapter.shouldInterrupt === 'function') {
    return { name, check: (ctx) => adapter.shouldInterrupt(ctx) };
  }
  throw new InvalidAdapterError(name, 'must be a function or an object with a shouldInterrupt(ctx) method.');
}

/**
 * The process-wide registry of interruption adapters. The engine consults every registered adapter after each
 * iteration, unless a run names the ones it wants.
 */
export const InterruptionAdapters = {
  /**
   * Registers `adapter` under `name`. Throws `ERR_ADAPTER_EXISTS` if the name is taken and `ERR_INVALID_ADAPTER`
   * if the adapter has the wrong shape, so a mistake shows at start-up rather than at the first deploy.
   */
  register(name: string, adapter: InterruptionAdapter): void {
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new InvalidAdapterError(String(name), 'the name must be letters, digits and - _ . : only.');
    }
    if (registry.has(name)) throw new AdapterExistsError(name);
    registry.set(name, resolveAdapter(name, adapter));
  },

  /** Removes an adapter; returns whether it was registered. */
  unregister(name: string): boolean {
    return registry.delete(name);
  },

  /** The adapter registered as `name`. Unknown names throw `ERR_UNKNOWN_ADAPTER`: they never silently pass. */
  lookup(name: string): InterruptionAdapterFn {
    return this.resolve(name).check;
  },

  /** Whether `name` is registered. */
  has(name: string): boolean {
    return registry.has(name);
  },

  /** Registered names, in registration order (which is also the order they are consulted in). */
  list(): string[] {
    return [...registry.keys()];
  },

  /** @internal The resolved adapters a run consults: `names` in the order given, or all registered. */
  select(names?: readonly string[]): ResolvedAdapter[] {
    if (names === undefined) return [...registry.values()];
    return names.map((name) => this.resolve(name));
  },

  /** @internal */
  resolve(name: string): ResolvedAdapter {
    const found = registry.get(name);
    if (!found) throw new UnknownAdapterError(name, [...registry.keys()]);
    return found;
  },
};

/** The longest wait a throttle may ask for: what a timer can wait in one go (2^31 - 1 ms, about 24.8 days). */
export const MAX_RETRY_AFTER_MS = 2 ** 31 - 1;

/**
 * Turns an adapter's answer into an interruption, or `undefined` to go on. A `retryAfterMs` that is not a duration
 * throws `InvalidAdapterError`: a throttle that asks for "NaN ms" must not become a job resumed at once forever.
 */
export function interruptionOf(decision: InterruptionDecision, adapterName: string): Interruption | undefined {
  const reason = decisionReason(decision, adapterName);
  if (reason === undefined) return undefined;
  if (typeof decision !== 'object' || decision === null || decision.retryAfterMs === undefined) return { adapter: adapterName, reason };
  const { retryAfterMs } = decision;
  if (typeof retryAfterMs !== 'number' || !Number.isFinite(retryAfterMs) || retryAfterMs < 0 || retryAfterMs > MAX_RETRY_AFTER_MS) {
    throw new InvalidAdapterError(adapterName, `answered retryAfterMs ${String(retryAfterMs)}; it must be a number of milliseconds from 0 to ${MAX_RETRY_AFTER_MS} (24.8 days).`);
  }
  return { adapter: adapterName, reason, retryAfterMs: Math.ceil(retryAfterMs) };
}

/** Turns an adapter's answer into a reason string, or `undefined` to go on. */
export function decisionReason(decision: InterruptionDecision, adapterName: string): string | undefined {
  if (!decision) return undefined;
  if (decision === true) return adapterName;
  if (typeof decision === 'string') return decision;
  return decision.reason || adapterName;
}
