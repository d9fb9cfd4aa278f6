import { connectionTarget } from '../process/redis-url.js';
import { redactUrl } from '../redact.js';
import { migrate } from '../supervisor/migrate.js';
import type { migrateFlags, Parsed } from './flags.js';
import { ExitCode, UsageError } from './usage.js';

/** `job-iteration migrate --connection postgres://...`: BullMQ's schema and ours, created or brought up to date. */
export async function migrateCommand({ values, positionals }: Parsed<typeof migrateFlags>): Promise<number> {
  if (positionals.length > 0) throw new UsageError(`migrate takes no arguments; got ${positionals.join(' ')}`);
  const target = connectionTarget(values);
  if (target.kind !== 'postgres') {
    throw new UsageError(`migrate is for a postgres:// connection (Redis needs no schema); ${target.source} is ${redactUrl(target.url)}`);
  }
  const { schema, version } = await migrate(target);
  console.log(`schema "${schema}" on ${redactUrl(target.url)}: BullMQ at version ${version}, job-iteration's tables in place`);
  return ExitCode.ok;
}
