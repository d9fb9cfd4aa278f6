import { SpanKind, type Attributes, type Counter, type Gauge, type Histogram, type Job, type Span, type Telemetry } from 'bullmq';
import createDebug from 'debug';
import type { JobState } from '../state.js';
import type { StepPosition } from '../extent.js';

const log = createDebug('job-iteration:bullmq:telemetry');

/** Runs a telemetry call; a tracer or meter that throws is logged, never allowed to fail the job it watches. */
function quietly(what: string, call: () => void): void {
  try {
    call();
  } catch (error) {
    log('%s failed: %O', what, error);
  }
}

/**
 * Spans and metrics of the runs, through the `telemetry` object the user gives BullMQ (`BullMQOtel` or any other
 * implementation of BullMQ's `Telemetry`). Nothing here imports an OpenTelemetry package: without that option the
 * worker gets `NO_TELEMETRY`, whose calls do nothing. The names below are documented in docs/telemetry.md and are
 * part of the public surface: dashboards and alerts are built on them.
 */

export const ATTR = {
  jobName: 'job_iteration.job.name',
  jobId: 'job_iteration.job.id',
  cursorStart: 'job_iteration.cursor.start',
  cursorEnd: 'job_iteration.cursor.end',
  items: 'job_iteration.items',
  outcome: 'job_iteration.outcome',
  adapter: 'job_iteration.interruption.adapter',
  reason: 'job_iteration.interruption.reason',
  queue: 'job_iteration.queue.name',
  cursor: 'job_iteration.cursor',
  status: 'job_iteration.status',
  durationMs: 'job_iteration.checkpoint.duration_ms',
  stepName: 'job_iteration.step.name',
  stepPosition: 'job_iteration.step.position',
  stepCount: 'job_iteration.step.count',
  handBackTo: 'job_iteration.hand_back.to',
  delayMs: 'job_iteration.hand_back.delay_ms',
} as const;

export const METRIC = {
  items: 'job_iteration.items',
  checkpointDuration: 'job_iteration.checkpoint.duration',
  interruptions: 'job_iteration.interruptions',
  runs: 'job_iteration.runs',
  checkpointLag: 'job_iteration.checkpoint.lag',
} as const;

/** How a run ended; the value of `job_iteration.outcome`. */
export type RunOutcome =
  | 'completed'
  | 'interrupted'
  | 'cancelled'
  | 'paused'
  | 'failed'
  | 'lost'
  | 'abandoned'
  | 'deferred'
  | 'requeued';

/** Span attributes are stored by every backend; a cursor can be any JSON, so it is cut. */
const MAX_CURSOR_CHARS = 256;

export function cursorAttribute(cursor: unknown): string {
  let json: string;
  try {
    json = JSON.stringify(cursor ?? null) ?? 'null';
  } catch {
    json = '"<unserializable>"';
  }
  return json.length > MAX_CURSOR_CHARS ? `${json.slice(0, MAX_CURSOR_CHARS - 1)}…` : json;
}

/** What one execution reports. */
export interface RunTelemetry {
  /** A checkpoint write succeeded; `ms` is its round trip. */
  checkpoint(state: JobState<unknown>, ms: number): void;
  /** A step job's saved progress reached another step: the previous one is done. */
  step(step: StepPosition): void;
  /** The job is being moved back to the queue. */
  handBack(where: { to: string; delayMs?: number }): void;
  /** How the run ends; the last call wins (an interruption whose hand-back finds the lock lost ends as `lost`). */
  outcome(outcome: RunOutcome, interruption?: { adapter: string; reason: string }): void;
}

/** What the worker reports. */
export interface WorkerTelemetry {
  /** Runs `fn` as one run's span, active for everything the run does; ends it once `fn` settles. */
  run<T>(job: Job, jobName: string, initialState: JobState<unknown>, fn: (run: RunTelemetry) => Promise<T>): Promise<T>;
  /** Records the checkpoint lag where the meter has no observable gauge (BullMQ's `Meter` interface has none). */
  sample(): void;
}

/** A run's telemetry without a `telemetry` option. */
export const NO_RUN: RunTelemetry = {
  checkpoint: () => undefined,
  step: () => undefined,
  handBack: () => undefined,
  outcome: () => undefined,
};

/** The worker's telemetry without a `telemetry` option: every call returns at once. */
export const NO_TELEMETRY: WorkerTelemetry = {
  run: (_job, _jobName, _state, fn) => fn(NO_RUN),
  sample: () => undefined,
};

/** A raw OpenTelemetry meter has observable gauges; BullMQ's interface does not, so it is looked for, not assumed. */
interface ObservableMeter {
  createObservableGauge(name: string, options?: { description?: string; unit?: string }): {
    addCallback(callback: (result: { observe(value: number, attributes?: Attributes): void }) => void): void;
  };
}

interface Instruments {
  items: Counter;
  checkpointDuration: Histogram;
  interruptions: Counter;
  runs: Counter;
  /** Undefined when the lag is observed by the meter's own callback. */
  lag: Gauge | undefined;
}

export function telemetryFor(queueName: string, telemetry: Telemetry | undefined): WorkerTelemetry {
  if (!telemetry) return NO_TELEMETRY;
  return new OtelWorkerTelemetry(queueName, telemetry);
}

class OtelWorkerTelemetry implements WorkerTelemetry {
  readonly #live = new Set<OtelRun>();
  readonly #instruments: Instruments | undefined;

  constructor(
    readonly queueName: string,
    readonly telemetry: Telemetry,
  ) {
    const meter = telemetry.meter;
    if (!meter) return;
    const observable = typeof (meter as Partial<ObservableMeter>).createObservableGauge === 'function' ? (meter as unknown as ObservableMeter) : undefined;
    const lagOptions = { description: 'Time since the last checkpoint of the running job that saved least recently', unit: 'ms' };
    if (observable) {
      observable.createObservableGauge(METRIC.checkpointLag, lagOptions).addCallback((result) => result.observe(this.#lag(), { [ATTR.queue]: queueName }));
    }
    this.#instruments = {
      items: meter.createCounter(METRIC.items, { description: 'Items processed and saved by a checkpoint', unit: '{item}' }),
      checkpointDuration: meter.createHistogram(METRIC.checkpointDuration, { description: 'Round trip of one checkpoint write', unit: 'ms' }),
      interruptions: meter.createCounter(METRIC.interruptions, { description: 'Runs stopped early and handed back with their cursor', unit: '{interruption}' }),
      runs: meter.createCounter(METRIC.runs, { description: 'Runs of iterable jobs, by outcome', unit: '{run}' }),
      lag: observable ? undefined : meter.createGauge(METRIC.checkpointLag, lagOptions),
    };
  }

  async run<T>(job: Job, jobName: string, initialState: JobState<unknown>, fn: (run: RunTelemetry) => Promise<T>): Promise<T> {
    const { tracer, contextManager } = this.telemetry;
    let run: OtelRun | undefined;
    let context: unknown;
    quietly('starting the run span', () => {
      const active = contextManager.active();
      // Started in the active context: inside the processor that is BullMQ's `process <queue>` span.
      const span = tracer.startSpan(`iterate ${this.queueName}`, { kind: SpanKind.INTERNAL }, active);
      run = new OtelRun(span, { [ATTR.queue]: this.queueName, [ATTR.jobName]: jobName }, initialState, this.#instruments);
      span.setAttributes({
        [ATTR.jobName]: jobName,
        [ATTR.jobId]: job.id,
        [ATTR.cursorStart]: cursorAttribute(initialState.cursor),
      });
      context = span.setSpanOnContext(active);
    });
    // A tracer that could not start the span leaves the run without one, not the job without its run.
    if (!run) return fn(NO_RUN);
    const started = run;
    this.#live.add(started);
    try {
      return await contextManager.with(context, () => fn(guarded(started)));
    } catch (error) {
      quietly('recording the failure', () => started.failedWith(error));
      throw error;
    } finally {
      this.#live.delete(started);
      quietly('ending the run span', () => started.end());
      if (this.#live.size === 0) this.sample();
    }
  }

  sample(): void {
    quietly('recording the checkpoint lag', () => this.#instruments?.lag?.record(this.#lag(), { [ATTR.queue]: this.queueName }));
  }

  #lag(): number {
    const now = Date.now();
    let oldest = now;
    for (const run of this.#live) oldest = Math.min(oldest, run.lastCheckpointAt);
    return now - oldest;
  }
}

class OtelRun implements RunTelemetry {
  lastCheckpointAt = Date.now();
  #outcome: RunOutcome | undefined;
  #interruption: { adapter: string; reason: string } | undefined;
  #cursor: unknown;
  #counted: number;
  readonly #startIterations: number;
  readonly #byJob: Attributes;

  constructor(
    readonly span: Span,
    byJob: Attributes,
    initialState: JobState<unknown>,
    readonly instruments: Instruments | undefined,
  ) {
    this.#cursor = initialState.cursor;
    this.#counted = this.#startIterations = initialState.iterations;
    this.#byJob = byJob;
  }

  checkpoint(state: JobState<unknown>, ms: number): void {
    this.lastCheckpointAt = Date.now();
    this.#cursor = state.cursor;
    this.span.addEvent('checkpoint', {
      [ATTR.cursor]: cursorAttribute(state.cursor),
      [ATTR.items]: state.iterations - this.#startIterations,
      [ATTR.status]: state.status,
      [ATTR.durationMs]: ms,
    });
    // Counted as they are saved, so that a long run shows its pace rather than one lump at its end.
    const items = state.iterations - this.#counted;
    if (items > 0) this.#counted = state.iterations;
    if (!this.instruments) return;
    this.instruments.checkpointDuration.record(ms, this.#byJob);
    if (items > 0) this.instruments.items.add(items, this.#byJob);
  }

  step(step: StepPosition): void {
    this.span.addEvent('step', { [ATTR.stepName]: step.name, [ATTR.stepPosition]: step.position, [ATTR.stepCount]: step.count });
  }

  handBack(where: { to: string; delayMs?: number }): void {
    this.span.addEvent('hand_back', {
      [ATTR.handBackTo]: where.to,
      ...(where.delayMs === undefined ? {} : { [ATTR.delayMs]: where.delayMs }),
    });
  }

  outcome(outcome: RunOutcome, interruption?: { adapter: string; reason: string }): void {
    this.#outcome = outcome;
    this.#interruption = interruption;
  }

  failedWith(error: unknown): void {
    // An error after an outcome is how BullMQ is told of it (DelayedError, WaitingError): not a failure.
    if (this.#outcome) return;
    this.#outcome = 'failed';
    this.span.recordException(error instanceof Error ? error : String(error));
  }

  end(): void {
    const outcome = this.#outcome ?? 'completed';
    this.span.setAttributes({
      [ATTR.cursorEnd]: cursorAttribute(this.#cursor),
      [ATTR.items]: this.#counted - this.#startIterations,
      [ATTR.outcome]: outcome,
      ...(this.#interruption ? { [ATTR.adapter]: this.#interruption.adapter, [ATTR.reason]: this.#interruption.reason } : {}),
    });
    this.span.end();
    if (!this.instruments) return;
    this.instruments.runs.add(1, { ...this.#byJob, [ATTR.outcome]: outcome });
    if (this.#interruption) this.instruments.interruptions.add(1, { ...this.#byJob, [ATTR.adapter]: this.#interruption.adapter });
  }
}

/** A run's telemetry whose every call is made {@link quietly}: the execution calls it between writes it must finish. */
function guarded(run: RunTelemetry): RunTelemetry {
  return {
    checkpoint: (state, ms) => quietly('a checkpoint event', () => run.checkpoint(state, ms)),
    step: (step) => quietly('a step event', () => run.step(step)),
    handBack: (where) => quietly('a hand-back event', () => run.handBack(where)),
    outcome: (outcome, interruption) => quietly('the run outcome', () => run.outcome(outcome, interruption)),
  };
}
