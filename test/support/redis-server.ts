import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from './process.js';

/** A port nothing listens on right now, found by asking the kernel for one. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface OwnRedis {
  port: number;
  url: string;
  /** Kills the server with SIGKILL (its append-only file keeps every acknowledged write) and waits for the exit. */
  kill(): Promise<void>;
  /** Starts the server again on the same port with the same data. */
  start(): Promise<void>;
  /** Kills the server for good and removes its data. For `after()`. */
  destroy(): Promise<void>;
}

/**
 * A `redis-server` of the test's own on a free port, for tests that kill, restart or pause Redis: the shared server
 * is never touched. Every write is fsynced to its append-only file, so a restart after a kill loses nothing.
 */
export async function startOwnRedis(extraArgs: string[] = []): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ji-redis-'));
  let child: ChildProcess | undefined;
  const url = `redis://127.0.0.1:${port}`;
  const ping = async () => {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 500 });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  };
  const own: OwnRedis = {
    port,
    url,
    async start() {
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', ...extraArgs];
      child = spawn('redis-server', args, { stdio: 'ignore' });
      const exited = new Promise<never>((_, reject) => child!.once('exit', (code) => reject(new Error(`redis-server on port ${port} exited with ${code}`))));
      exited.catch(() => undefined);
      await Promise.race([waitFor(`redis-server on port ${port}`, ping, 10_000, 50), exited]);
    },
    async kill() {
      const running = child;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const gone = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGKILL');
      await gone;
    },
    async destroy() {
      await own.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await own.start();
  return own;
}
