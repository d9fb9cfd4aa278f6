import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { waitFor } from './process.js';
import { freePort } from './redis-server.js';

const run = promisify(execFile);

export interface OwnCluster {
  /** The masters' addresses, for `new Cluster(nodes)`. */
  nodes: Array<{ host: string; port: number }>;
  /** A client for the cluster, made as BullMQ needs it (`maxRetriesPerRequest: null`). The caller closes it. */
  client(): Cluster;
  /** Stops every node and removes their files. For `after()`. */
  destroy(): Promise<void>;
}

/**
 * A Redis Cluster of the test's own: `masters` nodes (three by default, the fewest `redis-cli --cluster create`
 * accepts) on free ports, with no replicas and nothing kept on disk. The shared server is never touched.
 */
export async function startOwnCluster(masters = 3): Promise<OwnCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'ji-cluster-'));
  const children: ChildProcess[] = [];
  const nodes: Array<{ host: string; port: number }> = [];
  const destroy = async () => {
    await Promise.all(
      children.map((child) =>
        child.exitCode !== null || child.signalCode !== null ? undefined : new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGKILL'))),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      nodes.push({ host: '127.0.0.1', port });
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`];
      children.push(spawn('redis-server', [...args, '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }));
    }
    await Promise.all(nodes.map(({ port }) => waitFor(`cluster node on port ${port}`, () => ping(port), 10_000, 50)));
    await run('redis-cli', ['--cluster', 'create', ...nodes.map(({ host, port }) => `${host}:${port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    await Promise.all(nodes.map(({ port }) => waitFor(`cluster state ok on port ${port}`, () => clusterOk(port), 20_000, 100)));
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    nodes,
    client: () => new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: null } }),
    destroy,
  };
}

async function withNode<T>(port: number, use: (node: Redis) => Promise<T>): Promise<T | false> {
  const node = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 500 });
  node.on('error', () => undefined);
  try {
    await node.connect();
    return await use(node);
  } catch {
    return false;
  } finally {
    node.disconnect();
  }
}

const ping = (port: number) => withNode(port, async (node) => (await node.ping()) === 'PONG');
const clusterOk = (port: number) => withNode(port, async (node) => /cluster_state:ok/.test(String(await node.cluster('INFO'))));
