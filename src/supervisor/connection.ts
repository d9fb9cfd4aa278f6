import { ConnectionWatch } from '../process/connection-watch.js';
import { closeRedis, createRedis } from '../process/redis-client.js';
import { PostgresHeartbeatStore, RedisHeartbeatStore, type HeartbeatStore } from './heartbeat.js';

export const isPostgresUrl = (url: string) => /^postgres(ql)?:\/\//i.test(url);

/** A failure that means the server is away, not a refusal by it. */
const CONNECTION_ERROR = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|Connection is closed|Connection terminated|connection timeout|terminating connection/i;

export function isConnectionError(error: Error): boolean {
  return CONNECTION_ERROR.test(`${(error as NodeJS.ErrnoException).code ?? ''} ${error.message}`);
}

/** What a supervisor or worker process keeps its heartbeat in, and how it hears of outages. */
export interface HeartbeatConnection {
  store: HeartbeatStore;
  watch: ConnectionWatch;
  /** For `Heartbeat`: a pool has no connection events, so each beat tells the watch whether the server answered. */
  onBeat?: (error?: Error) => void;
  close(): Promise<void>;
}

/**
 * The heartbeat's own connection: an ioredis client, or a one-connection pg pool. A pool reports a broken idle
 * client as an 'error' event and a broken query as a rejected beat; both count as a lost connection, and the next
 * beat that goes through as its return.
 */
export async function openHeartbeatConnection(url: string, log: (line: string) => void): Promise<HeartbeatConnection> {
  if (!isPostgresUrl(url)) {
    const redis = createRedis(url);
    const watch = new ConnectionWatch(log, 'Redis');
    watch.watch(redis);
    return { store: new RedisHeartbeatStore(redis), watch, close: () => closeRedis(redis) };
  }
  const { createPostgresPool } = await import('../process/postgres-client.js');
  const watch = new ConnectionWatch(log, 'PostgreSQL');
  const { pool, schema } = await createPostgresPool(url, (error) => watch.lost(error));
  return {
    store: new PostgresHeartbeatStore(pool, schema),
    watch,
    onBeat: (error) => (error === undefined ? watch.back() : isConnectionError(error) ? watch.lost(error) : undefined),
    close: async () => {
      // The pool's end waits for its clients; a server gone must not hold a process on its way out.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([pool.end().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
      clearTimeout(timer);
    },
  };
}
