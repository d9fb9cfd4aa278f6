import { InterruptionAdapters, type InterruptionAdapterFn } from '../src/interruption.js';
import { onWorkerStart, onWorkerStop } from '../src/lifecycle.js';

/**
 * The SolidQueue-style adapter: a process-wide flag that an `onWorkerStop` hook sets. Every job running in this
 * process (any concurrency) reads the same flag, so one stop reaches them all at their next checkpoint.
 */
export const WORKER_STOP_ADAPTER = 'worker-stop';

let stopping = false;
let reason = 'worker stopping';

/** The `worker-stop` adapter itself: the stop reason once `workerStop.request()` (or `onWorkerStop`) ran. */
export const workerStopAdapter: InterruptionAdapterFn = () => (stopping ? reason : false);

/** Read and drive the flag by hand, e.g. when embedding the engine in your own process model. */
export const workerStop = {
  get stopping(): boolean {
    return stopping;
  },
  request(why = 'worker stopping'): void {
    reason = why;
    stopping = true;
  },
  reset(): void {
    stopping = false;
    reason = 'worker stopping';
  },
};

onWorkerStop((info) => workerStop.request(info.reason ? `worker stopping (${info.reason})` : 'worker stopping'));
// A worker that is started again in the same process (tests, embedded use) must not inherit the old stop.
onWorkerStart(() => workerStop.reset());
InterruptionAdapters.register(WORKER_STOP_ADAPTER, workerStopAdapter);
