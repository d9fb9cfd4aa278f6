import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
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

const keyPrefix = (queue: string) => `job-iteration:{${queue}}:process:`;

/**
 * A per-process key in Redis that expires unless refreshed: a process that dies (even by SIGKILL) drops out of
 * `status` after at most three beats, with no cleanup needed.
 */
export class Heartbeat {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #record: ProcessRecord;
  readonly #everyMs: number;
  #timer?: NodeJS.Timeout;

  constructor(redis: Redis, queue: string, role: Role, everyMs: number, supervisorPid?: number, lockDurationMs?: number) {
    this.#redis = redis;
    this.#everyMs = everyMs;
    const host = hostname();
    this.#key = `${keyPrefix(queue)}${host}:${process.pid}`;
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

  /** Removes the key, waiting at most `ms` for Redis, and not at all while it is unreachable: the key expires anyway. */
  async stop(ms = 1000): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    if (this.#redis.status !== 'ready') return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#redis.del(this.#key).catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, ms))),
    ]);
    clearTimeout(timer);
  }

  async #beat(): Promise<void> {
    this.#record.beatAt = new Date().toISOString();
    await this.#redis.set(this.#key, JSON.stringify(this.#record), 'PX', this.#everyMs * 3);
  }
}

/** Every process with a live heartbeat on `queue`, supervisors first. */
export async function listProcesses(redis: Redis, queue: string): Promise<ProcessRecord[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${keyPrefix(queue)}*`, 'COUNT', 200);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  if (keys.length === 0) return [];
  const values = await redis.mget(keys);
  const records = values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as ProcessRecord);
  return records.sort((a, b) => (a.role === b.role ? a.pid - b.pid : a.role === 'supervisor' ? -1 : 1));
}
