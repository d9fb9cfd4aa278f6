import { UsageError } from './usage.js';

/** A positive integer flag, or a usage error that names the flag and the value. */
export function intFlag(flag: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer >= ${min}; got "${value}"`);
  return n;
}

/** A non-negative number flag (seconds, milliseconds). */
export function numberFlag(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || value.trim() === '') throw new UsageError(`--${flag} must be a number >= 0; got "${value}"`);
  return n;
}

/**
 * `--queue`: a BullMQ queue name. BullMQ refuses an empty one and one with `:` (its key separator) only when a
 * queue or worker is made, which in `work` would be inside every worker process, over and over.
 */
export function queueFlag(value: string | undefined): string {
  if (value === undefined) return 'default';
  if (value.trim() === '') throw new UsageError('--queue must not be empty');
  if (value.includes(':')) throw new UsageError(`--queue must not contain ":" (BullMQ's key separator); got "${value}"`);
  return value;
}

/** `--params`: a JSON object. */
export function paramsFlag(value: string | undefined): Record<string, unknown> {
  if (value === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new UsageError(`--params is not valid JSON (${(error as Error).message}): ${value}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`--params must be a JSON object; got ${value}`);
  }
  return parsed as Record<string, unknown>;
}
