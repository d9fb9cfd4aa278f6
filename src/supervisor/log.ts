import createDebug from 'debug';
import { events } from '../events.js';
import { redactUrls } from '../redact.js';

export type Role = 'supervisor' | 'worker';

export interface Logger {
  (message: string): void;
}

/**
 * The one-line, human-readable shutdown log operators read in `kubectl logs` or journald, on stderr. Every line
 * also goes to the `job-iteration:<role>` debug namespace, so `--quiet` plus `DEBUG` still traces each step.
 */
export function createLogger(role: Role, { quiet = false }: { quiet?: boolean } = {}): Logger {
  const debug = createDebug(`job-iteration:${role}`);
  return (raw: string) => {
    // Log lines quote errors, and errors may quote connection URLs.
    const message = redactUrls(raw);
    debug(message);
    if (!quiet) process.stderr.write(`job-iteration ${new Date().toISOString()} ${role}[${process.pid}] ${message}\n`);
  };
}

/** Puts failing lifecycle hooks in the same log: a hook that throws must be visible, though it never blocks a stop. */
export function logHookErrors(log: Logger): () => void {
  return events.on('hook:error', ({ hook, error }) => {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    log(`${hook} hook failed (the other hooks still ran): ${message.split('\n').slice(0, 3).join(' | ')}`);
  });
}
