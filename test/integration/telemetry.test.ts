import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { DataPointType, MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import { BullMQOtel } from 'bullmq-otel';
import { IterationWorker, enqueue, getIterationState } from '../../src/bullmq/index.js';
import { defineSteps, fromArray } from '../../src/index.js';
import { Sequence, closeRecorder } from '../fixtures/bullmq-jobs.js';
import { TEST_TIMEOUT_MS } from '../support/process.js';
import { freshQueue, waitFor } from '../support/queue.js';

/** Collects on demand: the test reads the metrics when it wants them, with no export interval to wait out. */
class ManualReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

const spans = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
const reader = new ManualReader();
const meterProvider = new MeterProvider({ readers: [reader] });
const contextManager = new AsyncLocalStorageContextManager();

before(() => {
  // bullmq-otel reads the global providers, as an application's SDK setup registers them.
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
});

after(async () => {
  await closeRecorder();
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
  trace.disable();
  metrics.disable();
  context.disable();
});

async function collected(): Promise<MetricData[]> {
  const { resourceMetrics } = await reader.collect();
  return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
}

function metric(all: MetricData[], name: string): MetricData {
  const found = all.find((m) => m.descriptor.name === name);
  assert.ok(found, `metric ${name} recorded (have ${all.map((m) => m.descriptor.name).join(', ')})`);
  return found;
}

/** The sum of a counter's points whose attributes include `where`. */
function sum(data: MetricData, where: Record<string, string> = {}): number {
  return data.dataPoints
    .filter((point) => Object.entries(where).every(([key, value]) => point.attributes[key] === value))
    .reduce((total, point) => total + (point.value as number), 0);
}

/** Every TypeScript file of the package's source and adapters. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

/** A step job of three steps, the middle one an iteration. */
const Phases = defineSteps<{ n: number }>({
  name: 'phases',
  steps: [
    { name: 'prepare', run() {} },
    { name: 'count', buildEnumerator: ({ n }, { cursor }) => fromArray(Array.from({ length: n }, (_, i) => i), { cursor }), eachIteration() {} },
    { name: 'finish', run() {} },
  ],
});

describe('telemetry', { timeout: TEST_TIMEOUT_MS }, () => {
  test('an interrupted and resumed job: two iterate spans under BullMQ process spans, and the metrics', async (ctx) => {
    const t = await freshQueue('otel', ctx);
    const upTo = 120;
    const telemetry = new BullMQOtel({ tracerName: 'test', enableMetrics: true });
    const job = await enqueue(t.queue, Sequence, { upTo, delayMs: 10, record: t.record });

    const first = new IterationWorker(t.name, { jobs: [Sequence], handleSignals: false, checkpointIntervalMs: 50, telemetry });
    ctx.after(() => first.close({ urgent: true }));
    await waitFor('the first worker to be some way into the job', async () => (await t.items()).length >= 20);
    await first.close();
    const saved = await getIterationState(t.queue, job.id!);
    assert.equal(saved?.queueState, 'waiting', 'the job went back to the queue');
    const handedBackAt = saved!.state!.cursor as number;
    const lag = metric(await collected(), 'job_iteration.checkpoint.lag');
    assert.equal(lag.dataPointType, DataPointType.GAUGE);

    const second = new IterationWorker(t.name, { jobs: [Sequence], handleSignals: false, checkpointIntervalMs: 50, telemetry });
    ctx.after(() => second.close({ urgent: true }));
    await waitFor('the job to complete', async () => (await getIterationState(t.queue, job.id!))?.queueState === 'completed', 30_000);
    await second.close();
    // BullMQ ends its process span after it has recorded the outcome, which is after 'completed' is visible.
    await waitFor('both process spans', () => spans.getFinishedSpans().filter((s) => s.name === `process ${t.name}`).length >= 2);

    const finished = spans.getFinishedSpans();
    const processSpans = finished.filter((s) => s.name === `process ${t.name}`);
    const runs = finished.filter((s) => s.name === `iterate ${t.name}`).sort((a, b) => (a.attributes['job_iteration.outcome'] === 'interrupted' ? -1 : 1) - (b.attributes['job_iteration.outcome'] === 'interrupted' ? -1 : 1));
    assert.equal(runs.length, 2, 'one iterate span per run');
    const [interrupted, completed] = runs as [ReadableSpan, ReadableSpan];

    for (const run of runs) {
      const parent = processSpans.find((p) => p.spanContext().spanId === parentOf(run));
      assert.ok(parent, 'the run is a child of a BullMQ process span');
      assert.equal(run.spanContext().traceId, parent.spanContext().traceId);
      assert.equal(run.attributes['job_iteration.job.name'], 'sequence');
      assert.equal(run.attributes['job_iteration.job.id'], job.id);
      assert.ok(run.events.some((e) => e.name === 'checkpoint'), 'checkpoints are events of the run');
    }
    assert.notEqual(parentOf(interrupted), parentOf(completed), 'each run under its own process span');

    assert.equal(interrupted.attributes['job_iteration.outcome'], 'interrupted');
    assert.equal(interrupted.attributes['job_iteration.interruption.adapter'], 'bullmq');
    assert.equal(interrupted.attributes['job_iteration.interruption.reason'], 'worker closing');
    assert.equal(interrupted.attributes['job_iteration.cursor.start'], 'null');
    assert.equal(interrupted.attributes['job_iteration.cursor.end'], JSON.stringify(handedBackAt));
    assert.equal(interrupted.attributes['job_iteration.items'], handedBackAt + 1);
    const handBack = interrupted.events.find((e) => e.name === 'hand_back');
    assert.ok(handBack, 'the hand-back is an event of the interrupted run');
    assert.equal(handBack.attributes?.['job_iteration.hand_back.to'], 'front');
    const lastCheckpoint = interrupted.events.filter((e) => e.name === 'checkpoint').at(-1)!;
    assert.equal(lastCheckpoint.attributes?.['job_iteration.status'], 'interrupted');
    assert.equal(lastCheckpoint.attributes?.['job_iteration.cursor'], JSON.stringify(handedBackAt));

    assert.equal(completed.attributes['job_iteration.outcome'], 'completed');
    assert.equal(completed.attributes['job_iteration.interruption.adapter'], undefined);
    assert.equal(completed.attributes['job_iteration.cursor.start'], JSON.stringify(handedBackAt));
    assert.equal(completed.attributes['job_iteration.cursor.end'], JSON.stringify(upTo - 1));
    assert.equal(completed.attributes['job_iteration.items'], upTo - 1 - handedBackAt);
    assert.ok(!completed.events.some((e) => e.name === 'hand_back'));

    const all = await collected();
    const here = { 'job_iteration.queue.name': t.name, 'job_iteration.job.name': 'sequence' };
    assert.equal(sum(metric(all, 'job_iteration.items'), here), upTo, 'every item counted once over both runs');
    assert.equal(sum(metric(all, 'job_iteration.interruptions'), { ...here, 'job_iteration.interruption.adapter': 'bullmq' }), 1);
    const runsByOutcome = metric(all, 'job_iteration.runs');
    assert.equal(sum(runsByOutcome, { ...here, 'job_iteration.outcome': 'interrupted' }), 1);
    assert.equal(sum(runsByOutcome, { ...here, 'job_iteration.outcome': 'completed' }), 1);
    assert.equal(sum(runsByOutcome, here), 2);
    const latency = metric(all, 'job_iteration.checkpoint.duration');
    assert.equal(latency.dataPointType, DataPointType.HISTOGRAM);
    assert.equal(latency.descriptor.unit, 'ms');
    const checkpoints = interrupted.events.concat(completed.events).filter((e) => e.name === 'checkpoint').length;
    const counts = latency.dataPoints.filter((p) => p.attributes['job_iteration.queue.name'] === t.name).reduce((total, point) => total + (point.value as { count: number }).count, 0);
    assert.equal(counts, checkpoints, 'one latency sample per checkpoint');
    // No job runs any more: the lag reads 0 rather than the age of a run that has ended.
    const lagPoints = metric(all, 'job_iteration.checkpoint.lag').dataPoints.filter((p) => p.attributes['job_iteration.queue.name'] === t.name);
    assert.deepEqual(lagPoints.map((p) => p.value), [0]);
    // BullMQ's own metrics come through the same meter.
    assert.ok(all.some((m) => m.descriptor.name.startsWith('bullmq.')), 'BullMQ metrics recorded');
  });

  test('an urgent close is an interrupted run by the bullmq adapter; a failed run records its exception', async (ctx) => {
    const t = await freshQueue('otel-urgent', ctx);
    const telemetry = new BullMQOtel({ tracerName: 'test', enableMetrics: true });
    Sequence.failuresLeft = 1;
    ctx.after(() => void (Sequence.failuresLeft = 0));
    const job = await enqueue(t.queue, Sequence, { upTo: 200, delayMs: 10, record: t.record, failAt: 5 }, { attempts: 2 });

    const first = new IterationWorker(t.name, { jobs: [Sequence], handleSignals: false, checkpointIntervalMs: 50, telemetry });
    ctx.after(() => first.close({ urgent: true }));
    await waitFor('the second attempt to be some way into the job', async () => (await t.items()).length >= 20);
    await first.close({ urgent: true });
    await waitFor('both process spans', () => spans.getFinishedSpans().filter((s) => s.name === `process ${t.name}`).length >= 2);

    const runs = spans.getFinishedSpans().filter((s) => s.name === `iterate ${t.name}`);
    const failed = runs.find((s) => s.attributes['job_iteration.outcome'] === 'failed');
    assert.ok(failed, `a failed run (outcomes: ${runs.map((s) => s.attributes['job_iteration.outcome']).join(', ')})`);
    assert.ok(failed.events.some((e) => e.name === 'exception' && String(e.attributes?.['exception.message']).includes('failed at item 5')));
    assert.equal(failed.attributes['job_iteration.interruption.adapter'], undefined);
    const urgent = runs.find((s) => s.attributes['job_iteration.outcome'] === 'interrupted');
    assert.ok(urgent, 'an interrupted run');
    assert.equal(urgent.attributes['job_iteration.interruption.adapter'], 'bullmq');
    assert.equal(urgent.attributes['job_iteration.interruption.reason'], 'urgent stop');
    assert.ok(urgent.events.some((e) => e.name === 'hand_back'));
    const saved = await getIterationState(t.queue, job.id!);
    assert.equal(urgent.attributes['job_iteration.cursor.end'], JSON.stringify(saved?.state?.cursor));

    const runsByOutcome = metric(await collected(), 'job_iteration.runs');
    assert.equal(sum(runsByOutcome, { 'job_iteration.queue.name': t.name, 'job_iteration.outcome': 'failed' }), 1);
    assert.equal(sum(runsByOutcome, { 'job_iteration.queue.name': t.name, 'job_iteration.outcome': 'interrupted' }), 1);
  });

  test("a step job's run has an event for each step it reaches, the first included", async (ctx) => {
    const t = await freshQueue('otel-steps', ctx);
    const telemetry = new BullMQOtel({ tracerName: 'test', enableMetrics: false });
    const job = await enqueue(t.queue, Phases, { n: 20 });
    const worker = new IterationWorker(t.name, { jobs: [Phases], handleSignals: false, telemetry });
    ctx.after(() => worker.close({ urgent: true }));
    await waitFor('the job to complete', async () => (await getIterationState(t.queue, job.id!))?.queueState === 'completed', 30_000);
    await worker.close();
    await waitFor('the run span', () => spans.getFinishedSpans().some((s) => s.name === `iterate ${t.name}`));
    const run = spans.getFinishedSpans().find((s) => s.name === `iterate ${t.name}`)!;
    const steps = run.events.filter((e) => e.name === 'step').map((e) => `${e.attributes?.['job_iteration.step.position']}/${e.attributes?.['job_iteration.step.count']} ${e.attributes?.['job_iteration.step.name']}`);
    assert.deepEqual(steps, ['1/3 prepare', '2/3 count', '3/3 finish']);
  });

  test('without a telemetry option no span is started and the job runs as before', async (ctx) => {
    const t = await freshQueue('otel-off', ctx);
    spans.reset();
    const job = await enqueue(t.queue, Sequence, { upTo: 30, record: t.record });
    const worker = new IterationWorker(t.name, { jobs: [Sequence], handleSignals: false, checkpointIntervalMs: 0 });
    ctx.after(() => worker.close({ urgent: true }));
    await waitFor('the job to complete', async () => (await getIterationState(t.queue, job.id!))?.queueState === 'completed', 30_000);
    await worker.close();
    assert.deepEqual(await t.items(), Array.from({ length: 30 }, (_, i) => i));
    assert.deepEqual(spans.getFinishedSpans().filter((s) => s.name.endsWith(t.name)), []);
  });

  test('the package imports no OpenTelemetry module: it only calls the telemetry object it is given', () => {
    const root = join(import.meta.dirname, '..', '..');
    const importing = [...sources(join(root, 'src')), ...sources(join(root, 'adapters'))].filter((file) =>
      /from\s+['"]@opentelemetry\/|import\(\s*['"]@opentelemetry\/|require\(\s*['"]@opentelemetry\//.test(readFileSync(file, 'utf8')),
    );
    assert.deepEqual(importing, []);
  });
});
