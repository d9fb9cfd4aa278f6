/** A worker process of bench/partitions.ts: `node --import tsx bench/partitions/worker.ts <queue> <concurrency>`. */
import { IterationWorker } from '../../src/bullmq/index.js';
import { PartitionedBackfill, pool } from './job.js';

const [queueName, concurrency = '2'] = process.argv.slice(2);
const worker = new IterationWorker(queueName!, {
  jobs: [PartitionedBackfill],
  connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  concurrency: Number(concurrency),
  handleSignals: false,
});
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void worker
    .close()
    .then(() => pool().end())
    .then(() => process.exit(0));
});
