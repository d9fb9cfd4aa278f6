import { CursorNotSerializableError, InvalidStateError, describeValue } from './errors.js';
import type { JobState } from './job-state.js';

// The record's types live apart so that errors, which carry a state, need not import the code that raises them.
export type { JobState, JobStatus, JsonValue } from './job-state.js';

/** A fresh state for `jobName`: pending, nothing done. For stores that create a state before the first run. */
export function newState<C>(jobName: string): JobState<C> {
  return { version: 1, jobName, status: 'pending', iterations: 0, timesInterrupted: 0, totalTimeMs: 0 };
}

/**
 * Returns `cursor` as a plain JSON value of its own (a deep copy for objects and arrays, the value itself for
 * scalars), or throws `CursorNotSerializableError` unless it round-trips through JSON exactly. Validating and
 * copying are one walk: the engine needs both once per item, and the copy keeps a saved cursor safe from an
 * enumerator that reuses and mutates one cursor object.
 */
export function jsonCursor<C>(jobName: string, cursor: C): C {
  const t = typeof cursor;
  if (t === 'string' || t === 'boolean' || (t === 'number' && Number.isFinite(cursor as number))) return cursor;
  return walk(jobName, cursor, cursor, [], []) as C;
}

/** Throws `CursorNotSerializableError` unless `cursor` is a plain JSON value that round-trips exactly. */
export function assertJsonCursor(jobName: string, cursor: unknown): void {
  jsonCursor(jobName, cursor);
}

type Key = string | number;

/** Formats the path to a value only when there is an error to report: valid cursors never pay for the strings. */
function pathOf(keys: readonly Key[]): string {
  return keys.reduce<string>((path, key) => (typeof key === 'number' ? `${path}[${key}]` : `${path}.${key}`), 'cursor');
}

function fail(jobName: string, root: unknown, keys: readonly Key[], what: string): never {
  throw new CursorNotSerializableError(jobName, root, pathOf(keys), what);
}

/**
 * Copies `value`, refusing what JSON would not give back. It runs once per item for object cursors, so it allocates
 * nothing but the copy: `keys` (the path, for the error) and `ancestors` (the objects being copied, a cycle being one
 * of them met again) are stacks shared by the whole walk, and cursors are shallow enough for a linear look-up.
 */
function walk(jobName: string, root: unknown, value: unknown, keys: Key[], ancestors: object[]): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : fail(jobName, root, keys, String(value));
    case 'object': {
      if (value === null) return null;
      if (ancestors.includes(value)) fail(jobName, root, keys, 'a circular reference');
      if (Array.isArray(value)) {
        ancestors.push(value);
        const copy: unknown[] = new Array(value.length);
        for (let i = 0; i < value.length; i++) {
          keys.push(i);
          if (!(i in value)) fail(jobName, root, keys, 'a hole in a sparse array');
          copy[i] = walk(jobName, root, value[i], keys, ancestors);
          keys.pop();
        }
        ancestors.pop();
        return copy;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) fail(jobName, root, keys, describeValue(value));
      if (Object.getOwnPropertySymbols(value).length > 0) fail(jobName, root, keys, 'an object with symbol keys');
      ancestors.push(value);
      const copy: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        keys.push(key);
        const item = walk(jobName, root, (value as Record<string, unknown>)[key], keys, ancestors);
        // Assigning to "__proto__" would set the copy's prototype and drop the key; JSON.parse makes it an own key.
        if (key === '__proto__') Object.defineProperty(copy, key, { value: item, enumerable: true, writable: true, configurable: true });
        else copy[key] = item;
        keys.pop();
      }
      ancestors.pop();
      return copy;
    }
    default:
      // undefined, bigint, function, symbol: JSON drops them or throws on them.
      return fail(jobName, root, keys, describeValue(value));
  }
}

const STATUSES: ReadonlySet<string> = new Set(['pending', 'running', 'interrupted', 'completed', 'failed', 'cancelled']);

/**
 * Checks a state handed in from outside (a file, a job's data, a test) before a run trusts it. Accepts a JSON string
 * or an object; returns a fresh copy so the caller's object is never mutated by the run.
 */
export function parseState<C>(input: unknown, jobName: string): JobState<C> {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (cause) {
      throw new InvalidStateError(`State for job "${jobName}" is not valid JSON.`, { cause });
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidStateError(`State for job "${jobName}" must be an object; got ${describeValue(value)}.`);
  }
  const s = value as Record<string, unknown>;
  const bad = (field: string, expected: string) =>
    new InvalidStateError(`State for job "${jobName}": field "${field}" must be ${expected}; got ${describeValue(s[field])}.`);
  if (s.version !== 1) throw bad('version', '1');
  if (s.jobName !== jobName) {
    throw new InvalidStateError(`State belongs to job "${String(s.jobName)}", not to "${jobName}".`);
  }
  if (typeof s.status !== 'string' || !STATUSES.has(s.status)) throw bad('status', `one of ${[...STATUSES].join(', ')}`);
  for (const field of ['iterations', 'timesInterrupted', 'totalTimeMs'] as const) {
    const n = s[field];
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw bad(field, 'a non-negative number');
  }
  for (const field of ['timesStalled', 'stallsWithoutProgress', 'resumptions'] as const) {
    const n = s[field];
    if (n !== undefined && !(Number.isSafeInteger(n) && (n as number) >= 0)) throw bad(field, 'absent or an integer >= 0');
  }
  for (const field of ['startedAt', 'updatedAt', 'completedAt', 'lastError'] as const) {
    if (s[field] !== undefined && typeof s[field] !== 'string') throw bad(field, 'absent or a string');
  }
  const last = s.lastInterruption as Record<string, unknown> | undefined;
  if (last !== undefined && (last === null || typeof last !== 'object' || typeof last.adapter !== 'string' || typeof last.reason !== 'string')) {
    throw bad('lastInterruption', 'absent or { adapter, reason, at }');
  }
  if (last?.retryAfterMs !== undefined && !(typeof last.retryAfterMs === 'number' && Number.isFinite(last.retryAfterMs) && last.retryAfterMs >= 0)) {
    throw bad('lastInterruption.retryAfterMs', 'absent or a number of milliseconds >= 0');
  }
  if ('cursor' in s) {
    try {
      assertJsonCursor(jobName, s.cursor);
    } catch (cause) {
      throw new InvalidStateError(`State for job "${jobName}" holds a cursor that is not JSON.`, { cause });
    }
  }
  return structuredClone(s) as unknown as JobState<C>;
}

/**
 * The state a failed run attached to its error (`err.state`): the last good checkpoint, to resume from on retry.
 * `undefined` when `error` carries no state (it did not come from a run). Typed by the job's cursor, no cast needed:
 * `stateOf<number>(err)?.cursor`.
 */
export function stateOf<Cursor = unknown>(error: unknown): JobState<Cursor> | undefined {
  if (error === null || (typeof error !== 'object' && typeof error !== 'function')) return undefined;
  const state: unknown = (error as { state?: unknown }).state;
  if (state === null || typeof state !== 'object') return undefined;
  const { version, jobName, status } = state as Partial<JobState<unknown>>;
  return version === 1 && typeof jobName === 'string' && typeof status === 'string' ? (state as JobState<Cursor>) : undefined;
}
