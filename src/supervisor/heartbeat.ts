import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { Role } from './log.js';

/** What each live process publishes about itself. */
export interface ProcessRecord {
  role: Role;
  pid: number;
  hostname: string;
  queue: string;
  /** The supervisor that forked this worker, when there is one. */
  supervisorPid?: number;
  startedAt: string;
  beatAt: string;
  /** A worker's BullMQ lock duration: how long its jobs may go without a word before they look stalled. */
  lockDurationMs?: number;
}

/**
 * Where heartbeats live: a Redis key per process, or a row per process in PostgreSQL. Either way a record expires
 * unless refreshed, so a process that dies (even by SIGKILL) drops out of `status` with no cleanup needed.
 */
export interface HeartbeatStore {
  write(key: string, record: ProcessRecord, ttlMs: number): Promise<void>;
  remove(queue: string, key: string): Promise<void>;
  /** Every unexpired record of `queue`. */
  list(queue: string): Promise<ProcessRecord[]>;
  /** False while the connection is known to be down: a goodbye then would only wait. */
  readonly reachable: boolean;
}

const keyPrefix = (queue: string) => `job-iteration:{${queue}}:process:`;

export class RedisHeartbeatStore implements HeartbeatStore {
  constructor(private readonly redis: Redis) {}

  get reachable(): boolean {
    return this.redis.status === 'ready';
  }

  async write(key: string, record: ProcessRecord, ttlMs: number): Promise<void> {
    await this.redis.set(`${keyPrefix(record.queue)}${key}`, JSON.stringify(record), 'PX', ttlMs);
  }

  async remove(queue: string, key: string): Promise<void> {
    await this.redis.del(`${keyPrefix(queue)}${key}`);
  }

  async list(queue: string): Promise<ProcessRecord[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', `${keyPrefix(queue)}*`, 'COUNT', 200);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await this.redis.mget(keys);
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as ProcessRecord);
  }
}

/** The table of live processes, beside BullMQ's tables in its schema. */
export const PROCESS_TABLE = 'job_iteration_process';

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Creates the process table in `schema` if it is missing; under the same advisory lock as the state table's. */
export function processTableDdl(schema: string): string {
  return `
    SELECT pg_advisory_xact_lock(hashtext('job-iteration:setup'));
    CREATE TABLE IF NOT EXISTS ${quoteIdent(schema)}.${quoteIdent(PROCESS_TABLE)} (
      queue       text        NOT NULL,
      process_key text        NOT NULL,
      record      jsonb       NOT NULL,
      expires_at  timestamptz NOT NULL,
      PRIMARY KEY (queue, process_key)
    )`;
}

/**
 * Heartbeats as rows with an expiry time. Expired rows are never listed, and each beat deletes the queue's rows
 * that expired a while ago, so a table that only SIGKILLed processes ever left rows in stays small.
 */
export class PostgresHeartbeatStore implements HeartbeatStore {
  readonly #table: string;
  #ready: Promise<void> | undefined;
  #reachable = true;

  /** `pool`: a pg.Pool, or anything with its query method (BullMQ's PostgreSQL backend). */
  constructor(
    private readonly pool: Pick<Pool, 'query'> | { query(text: string, params?: unknown[]): Promise<{ rows: any[] }> },
    private readonly schema: string,
  ) {
    this.#table = `${quoteIdent(schema)}.${quoteIdent(PROCESS_TABLE)}`;
  }

  get reachable(): boolean {
    return this.#reachable;
  }

  async #query(text: string, params: unknown[]): Promise<{ rows: any[] }> {
    try {
      const result = await (this.pool as { query(text: string, params?: unknown[]): Promise<{ rows: any[] }> }).query(text, params);
      this.#reachable = true;
      return result;
    } catch (error) {
      // A refusal by SQL (no such table) is an answer. The server is away when the socket says so (ECONNREFUSED,
      // ETIMEDOUT: Node's codes, not SQLSTATEs), when there is no code at all, or on a connection SQLSTATE (08...).
      const code = (error as { code?: string }).code;
      if (code === undefined || /^08|^57P0[123]$|^E[A-Z]+$/.test(code)) this.#reachable = false;
      throw error;
    }
  }

  #setup(): Promise<void> {
    this.#ready ??= (async () => {
      const { rows } = await this.#query('SELECT to_regclass($1) IS NOT NULL AS present', [this.#table]);
      if (!rows[0]?.present) await this.#query(processTableDdl(this.schema), []);
    })().catch((error) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async write(key: string, record: ProcessRecord, ttlMs: number): Promise<void> {
    await this.#setup();
    await this.#query(
      `WITH gone AS (DELETE FROM ${this.#table} WHERE queue = $1 AND expires_at < clock_timestamp() - interval '1 hour')
       INSERT INTO ${this.#table} (queue, process_key, record, expires_at)
       VALUES ($1, $2, $3, clock_timestamp() + $4 * interval '1 millisecond')
       ON CONFLICT (queue, process_key) DO UPDATE SET record = EXCLUDED.record, expires_at = EXCLUDED.expires_at`,
      [record.queue, key, JSON.stringify(record), ttlMs],
    );
  }

  async remove(queue: string, key: string): Promise<void> {
    await this.#query(`DELETE FROM ${this.#table} WHERE queue = $1 AND process_key = $2`, [queue, key]);
  }

  async list(queue: string): Promise<ProcessRecord[]> {
    // A database nothing ever beat in has no table yet; that is no process, and reading must not create it.
    const { rows: present } = await this.#query('SELECT to_regclass($1) IS NOT NULL AS present', [this.#table]);
    if (!present[0]?.present) return [];
    const { rows } = await this.#query(`SELECT record FROM ${this.#table} WHERE queue = $1 AND expires_at > clock_timestamp()`, [queue]);
    return rows.map((row) => row.record as ProcessRecord);
  }
}

/**
 * A per-process record that expires unless refreshed: a process that dies (even by SIGKILL) drops out of `status`
 * after at most three beats, with no cleanup needed.
 */
export class Heartbeat {
  readonly #store: HeartbeatStore;
  readonly #key: string;
  readonly #record: ProcessRecord;
  readonly #everyMs: number;
  readonly #onBeat: ((error?: Error) => void) | undefined;
  #timer?: NodeJS.Timeout;

  /** `onBeat` hears of every beat: an error when it failed, nothing when it went through. */
  constructor(store: HeartbeatStore, queue: string, role: Role, everyMs: number, supervisorPid?: number, lockDurationMs?: number, onBeat?: (error?: Error) => void) {
    this.#store = store;
    this.#everyMs = everyMs;
    this.#onBeat = onBeat;
    const host = hostname();
    this.#key = `${host}:${process.pid}`;
    const now = new Date().toISOString();
    this.#record = { role, pid: process.pid, hostname: host, queue, ...(supervisorPid ? { supervisorPid } : {}), startedAt: now, beatAt: now, ...(lockDurationMs ? { lockDurationMs } : {}) };
  }

  #stopped = false;

  async start(): Promise<void> {
    await this.#beat();
    // A stop may have landed while the first beat was on its way.
    if (this.#stopped) return;
    this.#timer = setInterval(() => void this.#beat().catch(() => undefined), this.#everyMs);
    this.#timer.unref();
  }

  /** Removes the record, waiting at most `ms`, and not at all while the store is unreachable: it expires anyway. */
  async stop(ms = 1000): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    if (!this.#store.reachable) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#store.remove(this.#record.queue, this.#key).catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, ms))),
    ]);
    clearTimeout(timer);
  }

  async #beat(): Promise<void> {
    this.#record.beatAt = new Date().toISOString();
    try {
      await this.#store.write(this.#key, this.#record, this.#everyMs * 3);
    } catch (error) {
      this.#onBeat?.(error as Error);
      throw error;
    }
    this.#onBeat?.();
  }
}

/** Every process with a live heartbeat on `queue`, supervisors first. A Redis client stands for its store. */
export async function listProcesses(store: HeartbeatStore | Redis, queue: string): Promise<ProcessRecord[]> {
  const records = await ('list' in store && typeof store.list === 'function' ? (store as HeartbeatStore) : new RedisHeartbeatStore(store as Redis)).list(queue);
  return records.sort((a, b) => (a.role === b.role ? a.pid - b.pid : a.role === 'supervisor' ? -1 : 1));
}
