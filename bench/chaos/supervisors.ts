/** `job-iteration work` supervisors started by the chaos suite, each in its own process group. */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Supervisor {
  pid: number;
  child: ChildProcess;
  /** Workers it reported ready and not yet exited. */
  workers: Set<number>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: boolean;
  /** Resolves once it has trapped its signals (it logs "starting" after that) or has exited. */
  ready: Promise<void>;
  /** Why the suite stopped it, to judge its exit code. */
  stoppedAs?: string;
}

export interface SupervisorOptions {
  cli: string;
  cwd: string;
  args: string[];
  env: Record<string, string>;
  log: string;
  clock: () => string;
}

export class Supervisors {
  readonly all: Supervisor[] = [];
  constructor(private readonly options: SupervisorOptions) {}

  start(): Supervisor {
    const { cli, cwd, args, env, log, clock } = this.options;
    // Its own process group: one kill(-pid) takes the supervisor and its workers down together, as a lost machine
    // or an OOM-killed container would, and the end of the run can prove nothing of it is left.
    const child = spawn(process.execPath, [cli, 'work', ...args], { cwd, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    if (child.pid === undefined) throw new Error('could not spawn a supervisor');
    let markReady!: () => void;
    const sup: Supervisor = {
      pid: child.pid,
      child,
      workers: new Set(),
      exited: false,
      ready: new Promise((resolve) => (markReady = resolve)),
      exit: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
    };
    void sup.exit.then(() => {
      sup.exited = true;
      markReady();
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      appendFileSync(log, `[chaos ${clock()} sup ${sup.pid}] ${line}\n`);
      if (/supervisor\[\d+\] starting/.test(line)) markReady();
      const ready = /supervisor\[\d+\] worker (\d+) ready/.exec(line);
      if (ready) sup.workers.add(Number(ready[1]));
      const gone = /supervisor\[\d+\] worker (\d+) exited/.exec(line);
      if (gone) sup.workers.delete(Number(gone[1]));
    });
    this.all.push(sup);
    return sup;
  }

  /** Every process alive in the groups of every supervisor started: whom a Redis outage reaches. */
  alivePids(): number[] {
    return groupPids(...this.all.map((sup) => sup.pid));
  }

  /** Process groups of ours with anything still alive in them. */
  leftovers(): number[] {
    return this.all.filter((sup) => groupAlive(sup.pid)).map((sup) => sup.pid);
  }

  /** Waits up to `timeoutMs` for every group to empty on its own; returns the groups still alive. */
  async waitAllGone(timeoutMs: number): Promise<number[]> {
    const until = performance.now() + timeoutMs;
    while (this.leftovers().length && performance.now() < until) await sleep(100);
    return this.leftovers();
  }

  killAll(): void {
    for (const sup of this.all) killGroup(sup.pid);
  }
}

/**
 * Every process in the given process groups right now, from /proc: a supervisor's workers may take jobs before it logs them
 * ready, so the suite does not rely on its log to know who is in it.
 */
export function groupPids(...pgids: number[]): number[] {
  const groups = new Set(pgids);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name, which is in parentheses and may itself hold spaces: state, ppid, pgrp.
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (groups.has(pgrp)) pids.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}

/**
 * Whom a fault aimed at a supervisor reaches: what is alive in its group now. A worker that died before (a poison
 * item, a kill) is not in it: its runs were lost to that earlier fault, which keeps their redo.
 */
export function pidsOf(sup: Supervisor): number[] {
  return groupPids(sup.pid);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

export function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // ESRCH: the group is gone already.
  }
}

export async function readyOrTimeout(sup: Supervisor, ms = 10_000): Promise<void> {
  await Promise.race([sup.ready, sleep(ms)]);
}
