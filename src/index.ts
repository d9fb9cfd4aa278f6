export { IterableJob, isIterableJobClass, jobNameOf } from './iterable-job.js';
export type { EnumeratorContext, IterationContext, IterableJobClass, Enumeration, Pair, ClassAdapter, ClassJobOptions } from './iterable-job.js';
export { defineJob } from './define-job.js';
export type { JobDefinition } from './define-job.js';
export type { JobProgress } from './progress.js';
export type { Extent, MeasuredEnumeration, StepPosition } from './extent.js';
export { describeExtent, stepLabelOf } from './extent.js';
export { StepJob, defineSteps, checkStepCursor, stepLabel } from './steps.js';
export type { Step, RunStep, IterationStep, StepCursor, StepItem, StepEnumeration, StepRunContext, StepsDefinition } from './steps.js';
export { fromArray, nested, inBatches } from './enumerators/index.js';
export type { ArrayEnumeration, FromArrayOptions, NestedLevel, NestedOptions } from './enumerators/index.js';
export { resolveCheckpointInterval } from './checkpoint-interval.js';
export type { CheckpointIntervalSources } from './checkpoint-interval.js';
export { runInline } from './runner.js';
export type { RunOptions, RunResult } from './runner.js';
export { RunHandle } from './run-handle.js';
export type { RunPhase } from './run-handle.js';
export { InterruptionAdapters } from './interruption.js';
export type {
  InterruptionAdapter,
  InterruptionAdapterFn,
  InterruptionAdapterObject,
  InterruptionContext,
  InterruptionDecision,
  Interruption,
} from './interruption.js';
export { onStart, onStop, onWorkerStart, onWorkerStop, onWorkerExit, lifecycle } from './lifecycle.js';
export type { LifecycleEvent, LifecycleHook, LifecycleInfo } from './lifecycle.js';
export { events } from './events.js';
export type { JobIterationEvents, JobEventBase } from './events.js';
export { configure, getConfig } from './config.js';
export type { JobIterationConfig } from './config.js';
export { parseState, newState, stateOf } from './state.js';
export type { JobState, JobStatus, JsonValue } from './state.js';
// Named one by one: errors.ts also holds message helpers that are not part of the API.
export {
  JobIterationError,
  CursorNotSerializableError,
  InvalidEnumeratorError,
  InvalidStateError,
  StateNotWritableError,
  InvalidOptionError,
  InvalidJobError,
  InvalidAdapterError,
  AdapterExistsError,
  UnknownAdapterError,
  UnknownJobError,
  InvalidParamsError,
  IterationFailedError,
  SignalsOwnedError,
  InvalidCursorError,
  StepsChangedError,
  ResumptionLimitError,
} from './errors.js';
export type { ErrorCode } from './errors.js';

// The built-in adapters register themselves; importing them here makes them part of the default set.
export { workerStop, workerStopAdapter, WORKER_STOP_ADAPTER } from '../adapters/worker-stop.js';
export { maxRuntimeAdapter, maxRuntimeOf, MAX_RUNTIME_ADAPTER } from '../adapters/max-runtime.js';
export { abortSignalAdapter, runSignalAdapter, ABORT_SIGNAL_ADAPTER } from '../adapters/abort-signal.js';
export { throttle } from '../adapters/throttle.js';
export type { ThrottleOptions, ThrottlePredicate } from '../adapters/throttle.js';
export { FileStateStore } from './file-store.js';
export type { StateFile } from './file-store.js';
