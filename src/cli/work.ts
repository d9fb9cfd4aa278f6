import { resolve } from 'node:path';
import { Supervisor } from '../supervisor/supervisor.js';
import { intFlag, numberFlag, queueFlag } from './args.js';
import type { Parsed, workFlags } from './flags.js';
import { loadJobs } from '../process/load-jobs.js';
import { assertReachable } from '../process/redis-probe.js';
import { connectionTarget } from '../process/redis-url.js';
import { UsageError } from './usage.js';

/**
 * `job-iteration work <module...>`: the supervisor. Modules are imported here first, so a typo fails at once with
 * exit 2 instead of as a crash loop of workers, and so their `onStart`/`onStop` hooks register in this process.
 */
export async function workCommand({ values, positionals }: Parsed<typeof workFlags>): Promise<number> {
  if (positionals.length === 0) throw new UsageError('work takes one or more modules; got none');
  const logFormat = values['log-format'] ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') throw new UsageError(`--log-format must be text or json; got "${logFormat}"`);
  const processes = intFlag('processes', values.processes, 1);
  const concurrency = intFlag('concurrency', values.concurrency, 1);
  const shutdownTimeoutMs = Math.round(numberFlag('shutdown-timeout', values['shutdown-timeout'], 25) * 1000);
  if (shutdownTimeoutMs < 100) throw new UsageError(`--shutdown-timeout must be at least 0.1 seconds; got "${values['shutdown-timeout']}"`);
  const optionalMs = (flag: 'lock-duration' | 'stalled-interval' | 'checkpoint-interval', min: number) =>
    values[flag] === undefined ? undefined : intFlag(flag, values[flag], 0, min);
  const lockDuration = optionalMs('lock-duration', 100);
  const stalledInterval = optionalMs('stalled-interval', 100);
  const checkpointIntervalMs = optionalMs('checkpoint-interval', 0);
  const heartbeatMs = intFlag('heartbeat-interval', values['heartbeat-interval'], 5000, 100);
  const queue = queueFlag(values.queue);
  const target = connectionTarget(values);
  if (values.migrate && target.kind !== 'postgres') throw new UsageError('--migrate is for a postgres:// connection; Redis needs no schema');
  const modules = positionals.map((m) => resolve(m));

  await loadJobs(positionals);
  // The schema is made here, once, before any worker starts; a worker only checks it.
  if (values.migrate) await (await import('../supervisor/migrate.js')).migrate(target);
  else await assertReachable(target);
  const supervisor = new Supervisor({
    modules,
    queue,
    processes,
    concurrency,
    shutdownTimeoutMs,
    connectionUrl: target.url,
    lockDuration,
    stalledInterval,
    checkpointIntervalMs,
    heartbeatMs,
    quiet: values.quiet ?? false,
    logFormat,
  });
  return supervisor.run();
}
