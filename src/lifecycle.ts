import { events } from './events.js';

/**
 * Lifecycle points, after SolidQueue's process model. The supervisor owns `start`/`stop`; each worker process owns
 * `workerStart`/`workerStop`/`workerExit`. Registering a hook never fires anything: the process that owns the
 * lifecycle (this project's worker, supervisor or CLI, or your own code through `lifecycle.fire`) does.
 */
export type LifecycleEvent = 'start' | 'stop' | 'workerStart' | 'workerStop' | 'workerExit';

/** What a hook receives: which point fired and why (e.g. the signal that caused a stop). */
export interface LifecycleInfo {
  event: LifecycleEvent;
  /** `SIGTERM`, `SIGINT`, `close()`, ... */
  reason?: string;
  /** True on the urgent path: a second signal or SIGQUIT. Hooks should be quick then. */
  urgent?: boolean;
}

/** A process lifecycle hook; awaited, and its errors reported on `hook:error`. */
export type LifecycleHook = (info: LifecycleInfo) => void | Promise<void>;

const hooks: Record<LifecycleEvent, LifecycleHook[]> = {
  start: [],
  stop: [],
  workerStart: [],
  workerStop: [],
  workerExit: [],
};

function register(event: LifecycleEvent, hook: LifecycleHook): () => void {
  if (typeof hook !== 'function') throw new TypeError(`${event} hook must be a function; got ${typeof hook}.`);
  hooks[event].push(hook);
  return () => {
    const i = hooks[event].indexOf(hook);
    if (i >= 0) hooks[event].splice(i, 1);
  };
}

/** Supervisor process started. Returns a function that removes the hook. */
export const onStart = (hook: LifecycleHook) => register('start', hook);
/** Supervisor process received its stop signal, before it forwards TERM to the workers. */
export const onStop = (hook: LifecycleHook) => register('stop', hook);
/** A worker process is up and about to take jobs. */
export const onWorkerStart = (hook: LifecycleHook) => register('workerStart', hook);
/**
 * A worker process is about to stop. This is where interruption flags flip (the `worker-stop` adapter registers
 * here), so running jobs checkpoint at their next iteration.
 */
export const onWorkerStop = (hook: LifecycleHook) => register('workerStop', hook);
/** A worker process has drained its jobs and is about to exit: close pools and connections here. */
export const onWorkerExit = (hook: LifecycleHook) => register('workerExit', hook);

/** Fires lifecycle events (the worker, supervisor and CLI do) and counts their hooks. */
export const lifecycle = {
  /**
   * Runs every hook of `event` in registration order, awaiting each. A hook that throws is reported on the
   * `hook:error` event and the rest still run: one bad hook must not keep a worker from stopping.
   */
  async fire(event: LifecycleEvent, info: Omit<LifecycleInfo, 'event'> = {}): Promise<void> {
    for (const hook of [...hooks[event]]) {
      try {
        await hook({ ...info, event });
      } catch (error) {
        events.emit('hook:error', { hook: event, error });
      }
    }
  },

  /** How many hooks are registered for `event`. */
  count(event: LifecycleEvent): number {
    return hooks[event].length;
  },
};
