/**
 * Corrupting a job's stored data the way a bad deploy, a hand edit or another tool writing the hash would. The
 * write only lands while nobody holds the job's lock: a running owner would overwrite it at its next checkpoint,
 * and the test would be of nothing. Lock check and write are one Lua call, and BullMQ takes the lock and reads the
 * data in one Lua call too, so the next owner is certain to read what was written here.
 */
import type { Redis } from 'ioredis';

export type CorruptVariant = 'invalid-json' | 'array' | 'extra-key' | 'state-null';
export const VARIANTS: CorruptVariant[] = ['invalid-json', 'array', 'extra-key', 'state-null'];
export const EXTRA_KEY = 'chaosExtra';

const SCRIPT = `
if redis.call('EXISTS', KEYS[2]) == 1 then return {0} end
if redis.call('HEXISTS', KEYS[1], 'finishedOn') == 1 then return {-1} end
local old = redis.call('HGET', KEYS[1], 'data')
if not old then return {-1} end
local new = ARGV[1]
if new == '' then new = '{"${EXTRA_KEY}":"kept",' .. string.sub(old, 2) end
redis.call('HSET', KEYS[1], 'data', new)
return {1, old, new}
`;

export interface Corruption {
  key: string;
  jobId: string;
  variant: CorruptVariant;
  /** Epoch ms at which it should be written. */
  dueMs: number;
  applied?: { atMs: number; before: string; after: string; cursor: number | undefined };
  /** Set when the job finished before the write could land: the variant was not exercised. */
  missed?: string;
}

function payload(variant: CorruptVariant, params: unknown): string {
  switch (variant) {
    case 'invalid-json':
      return '{"params": {"items": 1, truncated';
    case 'array':
      return JSON.stringify([params]);
    case 'state-null':
      return JSON.stringify({ params, state: null });
    case 'extra-key':
      // Built in Lua from the data as it is then, so the saved state, and the cursor in it, stay as they are.
      return '';
  }
}

/** One attempt: true once written (or known impossible), false while the job is locked. */
export async function tryCorrupt(redis: Redis, jobKey: (id: string) => string, c: Corruption, params: unknown): Promise<boolean> {
  const result = (await redis.eval(SCRIPT, 2, jobKey(c.jobId), `${jobKey(c.jobId)}:lock`, payload(c.variant, params))) as [number, string?, string?];
  if (result[0] === 0) return false;
  if (result[0] === -1) {
    c.missed = 'the job had finished before its data could be corrupted';
    return true;
  }
  const before = result[1]!;
  let cursor: number | undefined;
  try {
    const parsed = JSON.parse(before) as { state?: { cursor?: unknown } };
    if (typeof parsed.state?.cursor === 'number') cursor = parsed.state.cursor;
  } catch {
    // The job had no readable state yet: nothing to resume from, so nothing to compare against.
  }
  c.applied = { atMs: Date.now(), before, after: result[2]!, cursor };
  return true;
}
