import { randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import { Queue, createPostgresBackend, withBackend } from 'bullmq';
import type pg from 'pg';
import type { AnyQueue } from '../../src/bullmq/index.js';
import { REDIS_URL } from '../fixtures/bullmq-jobs.js';
import { PG_TIMEOUTS, PG_URL, uniqueName } from './postgres.js';

export type BackendKind = 'redis' | 'postgres';

const { Queue: PgQueue } = withBackend(createPostgresBackend);

/**
 * A fresh queue on one of the two backends, removed when the test ends: on Redis a queue of its own, on PostgreSQL a
 * schema of its own (made here, dropped by `admin`). `connection` is what a worker of that queue is given; it is
 * plain JSON, so it can go to a worker process too.
 */
export async function backendFor(kind: BackendKind, ctx: TestContext, admin: pg.Pool): Promise<{ queue: AnyQueue; connection: string | Record<string, unknown> }> {
  const name = `ji-${kind}-${randomUUID()}`;
  if (kind === 'redis') {
    const queue = new Queue(name, { connection: { url: REDIS_URL } });
    ctx.after(async () => {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    });
    return { queue, connection: REDIS_URL };
  }
  const schema = uniqueName('bull');
  const connection = { connectionString: PG_URL, schema, max: 3, ...PG_TIMEOUTS };
  const queue = new PgQueue(name, { connection: { ...connection, migrate: true } });
  await queue.waitUntilReady();
  ctx.after(async () => {
    await queue.close().catch(() => undefined);
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });
  return { queue, connection: { ...connection, migrate: false } };
}
