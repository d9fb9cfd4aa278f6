import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../fixtures/bullmq-jobs.js';
import { killTree, startNode, waitFor, type Started } from './process.js';

export { waitFor };

export type WorkerProcess = Started;

/**
 * A fresh queue with a unique name, a plain Redis client, and a cleanup that removes every key the test made
 * (registered with `ctx.after` when the test's context is given).
 * Fails loudly when Redis is not reachable: these tests exist to run against a real one.
 */
export async function freshQueue(label: string, ctx?: { after(fn: () => Promise<void>): void }) {
  const name = `ji-test-${label}-${randomUUID()}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: () => null, lazyConnect: true });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    throw new Error(`These tests need a real Redis at ${REDIS_URL} (set REDIS_URL): ${(error as Error).message}`);
  }
  const queue = new Queue(name, { connection: { host: new URL(REDIS_URL).hostname, port: Number(new URL(REDIS_URL).port || 6379) } });
  const record = `${name}:record`;
  const fresh = {
    name,
    queue,
    redis,
    /** Redis list the fixture jobs record processed items into. */
    record,
    async items(): Promise<number[]> {
      return (await redis.lrange(record, 0, -1)).map(Number);
    },
    async hooks(): Promise<string[]> {
      return redis.lrange(`${record}:hooks`, 0, -1);
    },
    async cleanup() {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      await redis.del(record, `${record}:hooks`);
      await redis.quit();
    },
  };
  // With the test's context, cleanup runs after the test whatever its outcome, with no try/finally in the test.
  ctx?.after(() => fresh.cleanup());
  return fresh;
}

/** Starts test/fixtures/bullmq-worker.ts as a real child process and waits until it takes jobs. */
export async function startWorkerProcess(queueName: string, options: Record<string, unknown> = {}): Promise<WorkerProcess> {
  const proc = startNode(['--import', 'tsx', 'test/fixtures/bullmq-worker.ts', queueName, JSON.stringify(options)], { REDIS_URL });
  await Promise.race([
    waitFor('the worker process to be ready', () => proc.stdout().includes('ready\n'), 20_000),
    // A worker can take a job and die of it (a poison item) before the test sees `ready`: that is a start, and the
    // caller watches `exited`. Only a process that never took jobs failed to start. `closed` waits for all its output.
    proc.closed.then(() => {
      if (/^(ready|active \S+)$/m.test(proc.stdout())) return;
      throw new Error(`worker process exited before taking jobs (${proc.child.exitCode ?? proc.child.signalCode}): ${proc.stderr()}`);
    }),
  ]);
  return proc;
}

/** Kills a child left running by a failed test. */
export function reap(proc: WorkerProcess | undefined): void {
  if (proc) killTree(proc);
}
