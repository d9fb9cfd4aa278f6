/**
 * The plain-BullMQ side of bench/bullmq-shutdown.ts: a worker process whose jobs loop over 10 ms items, closed on
 * SIGTERM with BullMQ's own `worker.close()`.
 *
 *   node --import tsx bench/bullmq-plain-worker.ts <queue> <concurrency>
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'bullmq';

const [name, concurrency] = process.argv.slice(2);
const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const worker = new Worker(
  name!,
  async (job) => {
    for (let i = 0; i < (job.data.items as number); i++) await sleep(job.data.itemMs as number);
  },
  { connection: { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null }, concurrency: Number(concurrency) },
);
process.once('SIGTERM', () => {
  void worker.close().then(() => process.exit(0));
});
await worker.waitUntilReady();
process.stdout.write('ready\n');
