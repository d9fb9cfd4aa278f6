import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/**
 * Every test that waits on a process, a port or Redis passes this as its timeout, so a hang fails that test (and its
 * `after` hooks reap what it started) instead of holding up the whole run.
 */
export const TEST_TIMEOUT_MS = 60_000;

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

export interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal name) and when it happened. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Resolves once the process has exited and all its output has been read. */
  closed: Promise<void>;
}

/** Starts the built CLI as a real child process. */
export function startCli(args: string[], env: Record<string, string | undefined> = {}): Started {
  return startNode([CLI, ...args], env);
}

export function startNode(args: string[], env: Record<string, string | undefined> = {}): Started {
  return startProcess(process.execPath, args, env);
}

/**
 * Starts the built CLI in a pseudo-terminal `columns` wide, as a person's shell would (util-linux `script`); what it
 * writes to stdout and stderr arrives together in `stdout()`, control sequences included. The CLI runs in a session
 * of its own, so a signal for it goes to the pid it writes to `pidFile` before it starts.
 */
export function startCliInPty(args: string[], { columns, pidFile, env = {} }: { columns: number; pidFile: string; env?: Record<string, string | undefined> }): Started {
  const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;
  const command = `stty cols ${columns} rows 24; echo $$ > ${quote(pidFile)}; exec ${[process.execPath, CLI, ...args].map(quote).join(' ')}`;
  return startProcess('script', ['-qfec', command, '/dev/null'], env);
}

/** Starts any program, in its own process group, from the repository (or `cwd`). */
export function startProcess(file: string, args: string[], env: Record<string, string | undefined>, cwd = ROOT): Started {
  // Its own process group, so `killTree` can take down a supervisor's workers too when a test fails half-way.
  const child = spawn(file, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const started = { child, stdout: () => out, stderr: () => err, exited, closed };
  everyStarted.add(started);
  return started;
}

const everyStarted = new Set<Started>();

/** For `after()`: kills every process a test started, with whatever it forked. A failed test leaves none behind. */
export function killAll(): void {
  for (const started of everyStarted) killTree(started);
  everyStarted.clear();
}

/** Kills a started process and everything it forked, if any of it is still alive. */
export function killTree(started: Started): void {
  try {
    process.kill(-started.child.pid!, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Runs the CLI to the end; one that is still running after `timeoutMs` is killed, with what it printed in the error. */
export async function runCli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 60_000) {
  const started = startCli(args, env);
  const { code } = await exitedWithin(started, timeoutMs, `job-iteration ${args.join(' ')}`);
  return { code, stdout: started.stdout(), stderr: started.stderr() };
}

/** Waits for a started process to exit; one still running after `timeoutMs` is killed, with what it printed in the error. */
export async function exitedWithin(started: Started, timeoutMs: number, what = 'the process'): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      killTree(started);
      reject(new Error(`${what} still running after ${timeoutMs} ms; killed. stdout:\n${started.stdout()}\nstderr:\n${started.stderr()}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([started.exited, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns a truthy value; fails loudly with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 15_000, everyMs = 20): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The numbers a fixture job appended to `file`, one per line. */
export function numbersIn(file: string): number[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
