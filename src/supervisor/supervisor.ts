import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { lifecycle } from '../lifecycle.js';
import { trapStopSignals, type StopSignal } from '../signals.js';
import { Heartbeat } from './heartbeat.js';
import { urgentStepMs } from './shutdown.js';
import { openHeartbeatConnection, type HeartbeatConnection } from './connection.js';
import { createLogger, logHookErrors, type Logger } from './log.js';
import { isWorkerMessage, type SupervisorMessage, type WorkerProcessConfig } from './messages.js';

export interface SupervisorOptions {
  /** User modules imported in every worker (and here, for `onStart`/`onStop` hooks). */
  modules: string[];
  /** @defaultValue 'default' */
  queue: string;
  /** Worker processes to keep running. @defaultValue 1 */
  processes: number;
  /** Jobs each worker process runs at once. @defaultValue 1 */
  concurrency: number;
  /**
   * How long workers get to stop after TERM before they are killed. Workers still running at `urgentStepMs` of it
   * get QUIT first. @defaultValue 25000
   */
  shutdownTimeoutMs: number;
  /** Where the queue lives: a `redis://`/`rediss://` URL, or a `postgres://` URL for BullMQ's PostgreSQL backend. */
  connectionUrl: string;
  lockDuration?: number;
  stalledInterval?: number;
  checkpointIntervalMs?: number;
  /** How often each process refreshes its heartbeat (in Redis, or PostgreSQL's process table). @defaultValue 5000 */
  heartbeatMs?: number;
  /** Only the `debug` namespaces log, not stderr. */
  quiet?: boolean;
  /** Log lines as readable text or as JSON lines. @defaultValue 'text' */
  logFormat?: 'text' | 'json';
}

/** Exit codes of `job-iteration work`. */
export const SupervisorExit = {
  /** Every worker stopped within the shutdown timeout. */
  clean: 0,
  /** Some worker had to be killed (timeout or an urgent stop that did not finish in time). */
  forced: 1,
} as const;

const WORKER_ENTRY = fileURLToPath(new URL('./worker-process.js', import.meta.url));
const RESTART_BACKOFF_MS = [1000, 2000, 5000, 10_000, 30_000];
/** A worker that stayed up this long is healthy again: its next crash restarts it after the shortest delay. */
const HEALTHY_AFTER_MS = 60_000;
/** After an urgent stop, how long workers get before SIGKILL. */
const URGENT_GRACE_MS = 3000;

interface Slot {
  index: number;
  child?: ChildProcess;
  startedAt: number;
  crashes: number;
  restartTimer?: NodeJS.Timeout;
}

/**
 * The supervisor process: forks worker processes, restarts the ones that die, and on TERM/INT runs `onStop` hooks,
 * forwards TERM to every worker and waits for them (they checkpoint and hand their jobs back). Workers still
 * running shortly before the shutdown timeout get QUIT (they hand their jobs back from the last finished item at
 * once); the ones still alive at the timeout are killed. A second TERM/INT or a QUIT escalates at once.
 *
 * `run()` owns the process's SIGINT, SIGTERM and SIGQUIT from its start until the process exits: it is meant to be
 * the process (as `job-iteration work` is), and a signal arriving after its workers are gone is ignored rather
 * than allowed to kill the process on its way out.
 */
export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #log: Logger;
  readonly #slots: Slot[] = [];
  #stopping?: { signal: string; at: number };
  #urgent = false;
  #forced = false;
  #finished = false;
  #done?: Promise<number>;
  #resolveDone!: (code: number) => void;
  #heartbeat?: Heartbeat;
  #connection?: HeartbeatConnection;
  #unsubscribe?: () => void;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#log = createLogger('supervisor', { quiet: options.quiet ?? false, format: options.logFormat ?? 'text' });
    this.#unsubscribe = logHookErrors(this.#log);
  }

  /** Starts the workers; resolves with the process exit code once everything has stopped. */
  async run(): Promise<number> {
    if (this.#done) return this.#done;
    this.#done = new Promise((resolve) => (this.#resolveDone = resolve));
    // Trapped for the life of the process (see #maybeFinish).
    trapStopSignals({
      graceful: (signal) => void this.stop(signal),
      urgent: (signal) => void this.stop(signal, true),
    });
    const o = this.#options;
    this.#connection = await openHeartbeatConnection(o.connectionUrl, (line) => this.#log(line));
    this.#heartbeat = new Heartbeat(this.#connection.store, o.queue, 'supervisor', o.heartbeatMs ?? 5000, undefined, undefined, this.#connection.onBeat);
    await this.#heartbeat.start();
    await lifecycle.fire('start', { reason: 'work' });
    this.#log(
      `starting ${o.processes} worker process(es) on queue "${o.queue}" (concurrency ${o.concurrency} each, shutdown timeout ${o.shutdownTimeoutMs / 1000} s)`,
    );
    for (let index = 0; index < o.processes; index++) {
      const slot: Slot = { index, startedAt: 0, crashes: 0 };
      this.#slots.push(slot);
      if (!this.#stopping) this.#spawn(slot);
    }
    this.#maybeFinish();
    return this.#done;
  }

  /** Graceful stop (first call) or escalation to an urgent stop (`urgent`, or a later call). */
  async stop(signal: StopSignal | string, urgent = false): Promise<void> {
    // Every worker is gone already: a late second Ctrl-C has nothing left to hurry.
    if (this.#finished) return;
    if (this.#stopping) {
      if (urgent && !this.#urgent) this.#escalate(`${signal}: stopping now; sending SIGQUIT to ${this.#alive().length} worker(s)`);
      return;
    }
    this.#stopping = { signal, at: performance.now() };
    const o = this.#options;
    for (const slot of this.#slots) clearTimeout(slot.restartTimer);
    const urgentAfterMs = urgentStepMs(o.shutdownTimeoutMs);
    this.#log(
      `${signal} received: running onStop hooks, then stopping ${this.#alive().length} worker(s) ` +
        `(SIGQUIT after ${urgentAfterMs / 1000} s, SIGKILL at the ${o.shutdownTimeoutMs / 1000} s shutdown timeout)`,
    );
    // Steps, all timed from the signal, so the hooks' time counts too: an onStop hook that hangs must not keep the
    // workers running past the deadline. A worker still busy with a long item when the urgent step comes saves the
    // cursor of its last finished item and hands its job back; killed at the deadline, it would lose every item
    // since its last checkpoint.
    const urgentStep = setTimeout(() => {
      const left = this.#alive();
      if (left.length === 0 || this.#urgent) return;
      this.#escalate(
        `still stopping ${left.length} worker(s) ${urgentAfterMs / 1000} s after ${signal}: sending SIGQUIT so they save ` +
          `their last finished item and hand their jobs back now (SIGKILL at the ${o.shutdownTimeoutMs / 1000} s shutdown timeout)`,
        undefined,
      );
    }, urgentAfterMs);
    urgentStep.unref();
    const deadline = setTimeout(() => {
      const left = this.#alive();
      if (left.length === 0) return;
      this.#forced = true;
      for (const child of left) {
        this.#log(`worker ${child.pid} still running after the ${o.shutdownTimeoutMs / 1000} s shutdown timeout: killing it; its jobs resume from their last checkpoint`);
        child.kill('SIGKILL');
      }
    }, o.shutdownTimeoutMs);
    deadline.unref();
    // Stop now means now: the workers get QUIT before the hooks run, not after.
    if (urgent) this.#escalate(`${signal}: stopping now; sending SIGQUIT to ${this.#alive().length} worker(s)`);
    await lifecycle.fire('stop', { reason: signal, urgent });
    // A second signal during the hooks has escalated already; TERM after QUIT would change nothing.
    if (!this.#urgent) for (const child of this.#alive()) child.kill('SIGTERM');
    this.#maybeFinish();
  }

  /**
   * Sends QUIT to every worker and kills the ones still alive `graceMs` later; with `graceMs` undefined only the
   * shutdown deadline kills them.
   */
  #escalate(message: string, graceMs: number | undefined = URGENT_GRACE_MS): void {
    this.#urgent = true;
    this.#log(message);
    for (const child of this.#alive()) child.kill('SIGQUIT');
    if (graceMs === undefined) return;
    const hard = setTimeout(() => {
      for (const child of this.#alive()) {
        this.#forced = true;
        this.#log(`worker ${child.pid} did not stop within ${graceMs} ms of SIGQUIT: killing it`);
        child.kill('SIGKILL');
      }
    }, graceMs);
    hard.unref();
  }

  #alive(): ChildProcess[] {
    return this.#slots.map((s) => s.child).filter((c): c is ChildProcess => c !== undefined && c.exitCode === null && c.signalCode === null);
  }

  #spawn(slot: Slot): void {
    const o = this.#options;
    const config: WorkerProcessConfig = {
      modules: o.modules,
      queue: o.queue,
      concurrency: o.concurrency,
      connectionUrl: o.connectionUrl,
      lockDuration: o.lockDuration,
      stalledInterval: o.stalledInterval,
      checkpointIntervalMs: o.checkpointIntervalMs,
      quiet: o.quiet ?? false,
      logFormat: o.logFormat ?? 'text',
      heartbeatMs: o.heartbeatMs ?? 5000,
      shutdownTimeoutMs: o.shutdownTimeoutMs,
    };
    // execArgv is inherited, so `node --import tsx` (TypeScript modules) reaches the workers too. The config goes
    // over the IPC channel, never the environment: it carries the connection's password.
    const child = fork(WORKER_ENTRY, [], { stdio: 'inherit' });
    const hello: SupervisorMessage = { type: 'config', config };
    // A fork that failed has no channel; its 'error' and 'exit' handlers below deal with it.
    if (child.connected) child.send(hello, (error) => error && this.#log(`could not send worker ${child.pid} its config: ${error.message}`));
    slot.child = child;
    slot.startedAt = performance.now();
    child.on('message', (message) => {
      if (isWorkerMessage(message) && message.type === 'ready') {
        this.#log(`worker ${child.pid} ready (jobs: ${message.jobs.join(', ')})`);
      }
    });
    child.on('exit', (code, signal) => this.#onExit(slot, child, code, signal));
    // A fork that fails (no memory, too many processes) emits 'error' and may never emit 'exit'.
    child.on('error', (error) => {
      this.#log(`worker process error: ${error.message}`);
      if (child.pid === undefined) this.#onExit(slot, child, null, null);
    });
  }

  #onExit(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (this.#stopping) {
      this.#log(`worker ${child.pid} exited with ${how}`);
      this.#maybeFinish();
      return;
    }
    const upMs = performance.now() - slot.startedAt;
    if (upMs > HEALTHY_AFTER_MS) slot.crashes = 0;
    const delay = RESTART_BACKOFF_MS[Math.min(slot.crashes, RESTART_BACKOFF_MS.length - 1)]!;
    slot.crashes++;
    this.#log(`worker ${child.pid} exited unexpectedly with ${how} after ${Math.round(upMs)} ms; restarting it in ${delay / 1000} s`);
    slot.restartTimer = setTimeout(() => {
      if (!this.#stopping) this.#spawn(slot);
    }, delay);
  }

  #maybeFinish(): void {
    if (!this.#stopping || this.#finished || this.#alive().length > 0) return;
    this.#finished = true;
    const tookMs = Math.round(performance.now() - this.#stopping.at);
    const code = this.#forced ? SupervisorExit.forced : SupervisorExit.clean;
    void (async () => {
      await this.#heartbeat?.stop();
      await this.#connection?.close();
      // The stop signals stay trapped until the process exits: released, a second Ctrl-C landing in the last
      // moments (the exit itself takes a few milliseconds) would kill the supervisor by SIGINT instead of exit 0.
      this.#unsubscribe?.();
      this.#log(`all workers stopped in ${tookMs} ms; exiting ${code}`);
      this.#resolveDone(code);
    })();
  }
}
