import { EventEmitter } from 'node:events';
import createDebug from 'debug';
import type { JobState } from './state.js';

/** Fields every job event carries. */
export interface JobEventBase {
  jobName: string;
  /** Runtime job id when there is one (BullMQ), else undefined. */
  jobId?: string;
  cursor: unknown;
  /** Items finished over all runs. */
  iterations: number;
  /** Items finished in this run. */
  runIterations: number;
  /** Milliseconds since this run started. */
  elapsedMs: number;
}

/** The one typed event map. Names are `scope:noun:verb`-like, stable, and documented in docs/writing-a-job.md. */
export interface JobIterationEvents {
  'job:start': [JobEventBase];
  'job:resume': [JobEventBase & { timesInterrupted: number }];
  'job:checkpoint': [JobEventBase & { state: JobState<unknown> }];
  'job:interrupt': [JobEventBase & { adapter: string; reason: string }];
  'job:complete': [JobEventBase & { totalTimeMs: number }];
  'job:error': [JobEventBase & { error: unknown }];
  'hook:error': [{ hook: string; error: unknown }];
  'listener:error': [{ event: string; error: unknown }];
}

type Listener<K extends keyof JobIterationEvents> = (...args: JobIterationEvents[K]) => void;

class TypedEmitter {
  readonly #ee = new EventEmitter();

  constructor() {
    this.#ee.setMaxListeners(0);
  }

  on<K extends keyof JobIterationEvents>(event: K, listener: Listener<K>): () => void {
    this.#ee.on(event, listener as (...a: unknown[]) => void);
    return () => this.off(event, listener);
  }

  once<K extends keyof JobIterationEvents>(event: K, listener: Listener<K>): () => void {
    this.#ee.once(event, listener as (...a: unknown[]) => void);
    return () => this.off(event, listener);
  }

  off<K extends keyof JobIterationEvents>(event: K, listener: Listener<K>): void {
    this.#ee.off(event, listener as (...a: unknown[]) => void);
  }

  /** Whether anything listens, so hot paths can skip building a payload nobody reads. */
  has(event: keyof JobIterationEvents): boolean {
    return this.#ee.listenerCount(event) > 0;
  }

  /**
   * Emits without ever throwing into the caller: a listener's bug must not fail a two-hour job. Listener errors
   * are reported as `listener:error` (and logged).
   */
  emit<K extends keyof JobIterationEvents>(event: K, ...args: JobIterationEvents[K]): void {
    const listeners = this.#ee.listeners(event);
    for (const listener of listeners) {
      try {
        (listener as (...a: unknown[]) => void)(...args);
      } catch (error) {
        logListenerError(`listener for ${event} threw: %O`, error);
        if (event !== 'listener:error') this.emit('listener:error', { event, error });
      }
    }
  }
}

/** Process-wide event bus. Subscribe to observe every job run in this process. */
export const events = new TypedEmitter();
export type { TypedEmitter };

const logListenerError = createDebug('job-iteration:events');

// debug namespaces subscribe to the bus instead of log calls spread through the engine. Job events fire per run and
// per checkpoint, never per iteration, so these listeners stay off the hot path.
const log = {
  run: createDebug('job-iteration:run'),
  checkpoint: createDebug('job-iteration:checkpoint'),
  interrupt: createDebug('job-iteration:interrupt'),
  hooks: createDebug('job-iteration:hooks'),
};
events.on('job:start', (e) => log.run('start %s', e.jobName));
events.on('job:resume', (e) => log.run('resume %s at cursor %j (interrupted %d times)', e.jobName, e.cursor, e.timesInterrupted));
events.on('job:complete', (e) => log.run('complete %s: %d iterations, %d ms total', e.jobName, e.iterations, e.totalTimeMs));
events.on('job:error', (e) => log.run('error in %s at cursor %j: %O', e.jobName, e.cursor, e.error));
// Checkpoints can come after every item (interval 0): the payload is built only when someone reads it, so this
// listener exists only while its namespace is enabled at start-up.
if (log.checkpoint.enabled) {
  events.on('job:checkpoint', (e) => log.checkpoint('%s cursor %j after %d iterations', e.jobName, e.cursor, e.iterations));
}
events.on('job:interrupt', (e) =>
  log.interrupt('%s interrupted by %s (%s) at cursor %j after %d iterations this run', e.jobName, e.adapter, e.reason, e.cursor, e.runIterations),
);
events.on('hook:error', (e) => log.hooks('hook %s threw: %O', e.hook, e.error));
