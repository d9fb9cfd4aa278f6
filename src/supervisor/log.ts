import createDebug from 'debug';
import { events } from '../events.js';
import { redactUrls } from '../redact.js';

export type Role = 'supervisor' | 'worker';

/** `text`: one readable line per event; `json`: one JSON object per line, for log shippers. */
export type LogFormat = 'text' | 'json';

/** What a job's log line carries besides its text, as fields of the JSON line. */
export interface LogFields {
  event?: string;
  queue?: string;
  jobId?: string | undefined;
  jobName?: string;
  [field: string]: unknown;
}

export interface Logger {
  (message: string, fields?: LogFields): void;
}

/**
 * The log operators read in `kubectl logs` or journald, on stderr: one line per event, readable text or JSON.
 * With `quiet`, lines go to the `job-iteration:<role>` debug namespace instead, so `--quiet` plus `DEBUG` still
 * traces each step; without it they go to stderr only, so `DEBUG=job-iteration:*` adds the engine's detail without
 * printing every line twice.
 */
export function createLogger(role: Role, { quiet = false, format = 'text' }: { quiet?: boolean; format?: LogFormat } = {}): Logger {
  const debug = createDebug(`job-iteration:${role}`);
  return (raw: string, fields?: LogFields) => {
    // Log lines quote errors, and errors may quote connection URLs.
    const message = redactUrls(raw);
    if (quiet) {
      debug(message);
      return;
    }
    const time = new Date().toISOString();
    if (format === 'json') {
      const line = JSON.stringify({ time, role, pid: process.pid, ...fields, message }, (_key, value: unknown) => (typeof value === 'string' ? redactUrls(value) : value));
      process.stderr.write(`${line}\n`);
    } else {
      process.stderr.write(`job-iteration ${time} ${role}[${process.pid}] ${message}\n`);
    }
  };
}

/** Puts failing lifecycle hooks in the same log: a hook that throws must be visible, though it never blocks a stop. */
export function logHookErrors(log: Logger): () => void {
  return events.on('hook:error', ({ hook, error }) => {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    log(`${hook} hook failed (the other hooks still ran): ${message.split('\n').slice(0, 3).join(' | ')}`);
  });
}
