/**
 * The chaos suite's own redis-server: the suite restarts, pauses, freezes and kills it, which it must never do to a
 * Redis that others share. Every write is fsynced to the append-only file before Redis answers, so a SIGKILL loses
 * nothing that was acknowledged and a restart brings back every job, lock and checkpoint.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { freePort } from '../../test/support/redis-server.js';

const run = promisify(execFile);

export class RedisServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'ji-chaos-redis-'));
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  /** Every pid this object started, to prove at the end that none is left. */
  readonly pids: number[] = [];

  private constructor(readonly port: number) {}

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.#spawn();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async #spawn(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always'];
    // No RDB snapshots: the AOF alone is the durable copy, and a fork for BGSAVE on a 2-core machine adds noise.
    args.push('--save', '', '--enable-debug-command', 'yes', '--logfile', join(this.dir, 'redis.log'), '--daemonize', 'no');
    // Its own process group, so a Ctrl-C in the terminal reaches the suite, which then kills this server itself.
    const child = spawn('redis-server', args, { detached: true, stdio: 'ignore' });
    if (child.pid === undefined) throw new Error('could not spawn redis-server (is it installed?)');
    this.#child = child;
    this.pids.push(child.pid);
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const until = performance.now() + 10_000;
    while (performance.now() < until) {
      if ((await this.cli(['PING'], 1000).catch(() => '')) === 'PONG') return;
      if (child.exitCode !== null || child.signalCode !== null) break;
      await sleep(50);
    }
    throw new Error(`redis-server on port ${this.port} did not answer PING within 10 s (log: ${join(this.dir, 'redis.log')})`);
  }

  /** One command through redis-cli, with a deadline: the suite's own client must never hang on a frozen server. */
  async cli(args: string[], timeoutMs: number): Promise<string> {
    const { stdout } = await run('redis-cli', ['-p', String(this.port), ...args], { timeout: timeoutMs });
    return stdout.trim();
  }

  async #waitExit(timeoutMs: number): Promise<void> {
    const timer = sleep(timeoutMs).then(() => {
      throw new Error(`redis-server ${this.pid} did not exit within ${timeoutMs} ms`);
    });
    await Promise.race([this.#exited, timer]);
  }

  /** A clean restart: SHUTDOWN fsyncs the AOF and drops every client, which reconnect once it is back. */
  async restart(downMs: number): Promise<void> {
    await this.cli(['SHUTDOWN'], 5000).catch(() => undefined);
    await this.#waitExit(10_000);
    await sleep(downMs);
    await this.#spawn();
  }

  /** A crash: SIGKILL, down for `downMs`, back with whatever the AOF holds. */
  async crash(downMs: number): Promise<void> {
    this.#child?.kill('SIGKILL');
    await this.#waitExit(5000);
    await sleep(downMs);
    await this.#spawn();
  }

  /** Every client's commands wait for `ms` (the server still accepts connections). */
  async pause(ms: number): Promise<void> {
    await this.cli(['CLIENT', 'PAUSE', String(ms), 'ALL'], 5000);
  }

  /** The whole server blocks for `seconds`: no answers, no expiry, no accepts; time still passes for TTLs. */
  async freeze(seconds: number): Promise<void> {
    await this.cli(['DEBUG', 'SLEEP', String(seconds)], seconds * 1000 + 5000);
  }

  /** Synchronous, for exit handlers: kills the server and removes its directory. */
  destroy(): void {
    try {
      this.#child?.kill('SIGKILL');
    } catch {
      // Gone already.
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  async stop(): Promise<void> {
    this.#child?.kill('SIGKILL');
    await this.#waitExit(5000).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
