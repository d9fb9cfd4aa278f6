import { migratePostgres } from '../process/postgres-client.js';
import type { ConnectionTarget } from '../process/redis-url.js';
import { stateTableDdl } from '../store/postgres-store.js';
import { processTableDdl } from './heartbeat.js';

/**
 * BullMQ's migrations, then job-iteration's tables (saved states, live processes). Each part is idempotent and
 * serialized by an advisory lock, so any number of processes may run it at once.
 */
export function migrate(target: ConnectionTarget): Promise<{ schema: string; version: number }> {
  return migratePostgres(target, (schema) => [stateTableDdl(schema), processTableDdl(schema)]);
}
