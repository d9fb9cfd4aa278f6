import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, type Job } from 'bullmq';
import type { Cluster } from 'ioredis';
import { IterationWorker, cancelJob, enqueue, getIterationState, listIterableJobs, pauseJob, resumeJob } from '../../src/bullmq/index.js';
import { InvalidOptionError, IterableJob } from '../../src/index.js';
import { RedisJobStore } from '../../src/store/redis-store.js';
import { waitFor } from '../support/process.js';
import { startOwnCluster, type OwnCluster } from '../support/redis-cluster.js';

// One hash tag for every key of every queue: BullMQ's scripts and this package's own touch several keys at once.
const PREFIX = '{ji}';

let cluster: OwnCluster;
let client: Cluster;
before(async () => {
  cluster = await startOwnCluster();
  client = cluster.client();
});
after(async () => {
  await client?.quit().catch(() => undefined);
  await cluster?.destroy();
});

/** Items each run of a job processed, by the `record` name in its params: the workers run in this process. */
const records = new Map<string, number[]>();

interface CountParams {
  upTo: number;
  delayMs?: number;
  record: string;
}

class Count extends IterableJob<CountParams, number, number> {
  static override jobName = 'count';
  *buildEnumerator({ upTo }: CountParams, { cursor }: { cursor: number | undefined }): Generator<[number, number]> {
    for (let i = cursor === undefined ? 0 : cursor + 1; i < upTo; i++) yield [i, i];
  }
  async eachIteration(item: number, { delayMs = 0, record }: CountParams) {
    if (delayMs) await sleep(delayMs);
    const list = records.get(record) ?? [];
    list.push(item);
    records.set(record, list);
  }
  override count({ upTo }: CountParams) {
    return upTo;
  }
}

function freshQueue(ctx: TestContext) {
  const name = `ji-cluster-${randomUUID()}`;
  const queue = new Queue(name, { connection: client, prefix: PREFIX });
  ctx.after(async () => {
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  });
  return { name, queue, record: name };
}

function worker(name: string, ctx: TestContext, options: { concurrency?: number; checkpointIntervalMs?: number } = {}) {
  const w = new IterationWorker(name, { jobs: [Count], connection: client, prefix: PREFIX, handleSignals: false, ...options });
  ctx.after(() => w.close());
  return w;
}

async function finished(queue: Queue, jobId: string): Promise<string> {
  return waitFor(`job ${jobId} to finish`, async () => {
    const state = await queue.getJobState(jobId);
    return state === 'completed' || state === 'failed' ? state : undefined;
  }, 30_000, 50);
}

describe('on Redis Cluster with a hash-tagged prefix', () => {
  test('a job runs to completion, every item once, and its state and listing read back', { timeout: 120_000 }, async (ctx) => {
    const { name, queue, record } = freshQueue(ctx);
    const job = await enqueue(queue, Count, { upTo: 50, record });
    worker(name, ctx, { checkpointIntervalMs: 0 });
    assert.equal(await finished(queue, job.id!), 'completed');
    assert.deepEqual(records.get(record), Array.from({ length: 50 }, (_, i) => i));
    const info = await getIterationState(queue, job.id!);
    assert.equal(info?.state?.status, 'completed');
    assert.equal(info?.state?.cursor, 49);
    assert.deepEqual((await listIterableJobs(queue)).map((j) => j.id), [job.id]);
    // Every key of the queue sits in the slot of its hash tag: nothing was written under an untagged name.
    const slot = await client.cluster('KEYSLOT', PREFIX);
    const keys: string[] = [];
    for (const node of client.nodes('master')) keys.push(...((await node.cluster('GETKEYSINSLOT', slot, 1000)) as string[]));
    assert.ok(keys.includes(`${PREFIX}:${name}:${job.id}`), `the job hash is in the tag's slot: ${keys.join(', ')}`);
    assert.ok(keys.every((key) => key.startsWith(`${PREFIX}:`)), 'and the slot holds nothing else');
  });

  test('close() mid-run hands the job back under the same id with its cursor; another worker resumes it and repeats nothing', { timeout: 120_000 }, async (ctx) => {
    const { name, queue, record } = freshQueue(ctx);
    const job = await enqueue(queue, Count, { upTo: 300, delayMs: 5, record });
    const first = worker(name, ctx);
    await waitFor('20 items', () => (records.get(record)?.length ?? 0) >= 20, 20_000);
    await first.close();
    const saved = await getIterationState(queue, job.id!);
    assert.equal(saved?.state?.status, 'interrupted');
    const done = records.get(record)!.length;
    assert.equal(saved?.state?.cursor, done - 1, 'the cursor of the last finished item');
    worker(name, ctx);
    assert.equal(await finished(queue, job.id!), 'completed');
    assert.deepEqual(records.get(record), Array.from({ length: 300 }, (_, i) => i), 'every item exactly once');
  });

  test('pause parks the job, resume brings it back, cancel fails it for good', { timeout: 120_000 }, async (ctx) => {
    const { name, queue, record } = freshQueue(ctx);
    const job = await enqueue(queue, Count, { upTo: 100_000, delayMs: 2, record });
    worker(name, ctx, { checkpointIntervalMs: 50 });
    await waitFor('items', () => (records.get(record)?.length ?? 0) >= 10, 20_000);
    assert.equal((await pauseJob(queue, job.id!)).effect, 'requested');
    await waitFor('parked', async () => (await getIterationState(queue, job.id!))?.status === 'paused', 20_000, 50);
    const atPause = records.get(record)!.length;
    await sleep(300);
    assert.equal(records.get(record)!.length, atPause, 'nothing runs while parked');
    assert.equal((await resumeJob(queue, job.id!)).effect, 'applied');
    await waitFor('running again', () => records.get(record)!.length > atPause + 5, 20_000);
    await cancelJob(queue, job.id!);
    assert.equal(await finished(queue, job.id!), 'failed');
    const failed = (await queue.getJob(job.id!)) as Job;
    assert.match(failed.failedReason, /cancel/i);
  });

  test('a checkpoint by a token that does not hold the job is refused and writes nothing', { timeout: 60_000 }, async (ctx) => {
    const { queue, record } = freshQueue(ctx);
    const job = await enqueue(queue, Count, { upTo: 3, record });
    const store = new RedisJobStore(queue);
    const write = { state: JSON.stringify({ version: 1, jobName: 'count', status: 'running', iterations: 1, timesInterrupted: 0, totalTimeMs: 1, cursor: 0 }), progress: '', clearControl: false };
    assert.deepEqual(await store.checkpoint(job.id!, 'not-the-lock-token', write), { owned: false, control: undefined });
    assert.equal((await store.read([job.id!]))[0]?.state, undefined);
  });

  test('an untagged prefix is refused up front, naming the option, not at the first script with CROSSSLOT', { timeout: 60_000 }, async () => {
    assert.throws(
      () => new IterationWorker(`ji-cluster-${randomUUID()}`, { jobs: [Count], connection: client, handleSignals: false }),
      (error: Error) => error instanceof InvalidOptionError && /prefix.*hash-tagged prefix such as "\{ji\}" on Redis Cluster/.test(error.message),
    );
    const untagged = new Queue(`ji-cluster-${randomUUID()}`, { connection: client, prefix: 'bull' });
    try {
      await assert.rejects(enqueue(untagged, Count, { upTo: 1, record: 'x' }), /hash-tagged prefix/);
    } finally {
      await untagged.close();
    }
  });
});
