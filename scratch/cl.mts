import { startOwnCluster } from '../test/support/redis-cluster.ts';
const t = Date.now();
const c = await startOwnCluster();
console.log('up in', Date.now() - t, c.nodes);
const client = c.client();
await client.set('{ji}:a', '1'); console.log(await client.get('{ji}:a'));
await client.quit();
await c.destroy();
console.log('done', Date.now() - t);
