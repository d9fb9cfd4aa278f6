import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CONTROL_FIELD, RedisJobStore, STALLED_COUNTER_FIELD, STATE_FIELD } from '../../src/store/redis-store.js';
import { TEST_TIMEOUT_MS } from '../support/process.js';
import { freshQueue } from '../support/queue.js';

describe('RedisJobStore', { timeout: TEST_TIMEOUT_MS }, () => {
  test('a checkpoint is written only by the lock holder: the state alone, the stall counter reset, progress published', async (ctx) => {
    const t = await freshQueue('store-checkpoint', ctx);
    const store = new RedisJobStore(t.queue);
    const job = await t.queue.add('x', { params: { big: 'p'.repeat(1000) } });
    const key = t.queue.toKey(job.id!);
    await t.redis.set(`${key}:lock`, 'token-a');
    await t.redis.hset(key, STALLED_COUNTER_FIELD, '2');
    const dataBefore = await t.redis.hget(key, 'data');

    const refused = await store.checkpoint(job.id!, 'token-b', { state: '{"iterations":1}', progress: '{"iterations":1}', clearControl: false });
    assert.equal(refused.owned, false);
    assert.equal(await t.redis.hget(key, STATE_FIELD), null, 'nothing written without the lock');
    assert.equal(await t.redis.hget(key, STALLED_COUNTER_FIELD), '2');

    const written = await store.checkpoint(job.id!, 'token-a', { state: '{"iterations":2}', progress: '{"iterations":2}', clearControl: false });
    assert.equal(written.owned, true);
    assert.equal(await t.redis.hget(key, STATE_FIELD), '{"iterations":2}');
    assert.equal(await t.redis.hget(key, 'data'), dataBefore, 'data is never rewritten');
    assert.equal(await t.redis.hget(key, STALLED_COUNTER_FIELD), '0');
    assert.equal(await t.redis.hget(key, 'progress'), '{"iterations":2}');
    const events = await t.redis.xrange(t.queue.toKey('events'), '-', '+');
    assert.ok(events.some(([, fields]) => fields.includes('progress') && fields.includes('{"iterations":2}')), 'a progress event on the queue stream');
    assert.equal(await store.holdsLock(job.id!, 'token-a'), true);
    assert.equal(await store.holdsLock(job.id!, 'token-b'), false);
  });

  test('a checkpoint returns the pending request and clears it when asked', async (ctx) => {
    const t = await freshQueue('store-control', ctx);
    const store = new RedisJobStore(t.queue);
    const job = await t.queue.add('x', { params: {} });
    await t.redis.set(`${t.queue.toKey(job.id!)}:lock`, 'tok');
    await store.setControl(job.id!, 'pause');
    const seen = await store.checkpoint(job.id!, 'tok', { state: '{}', progress: '', clearControl: false });
    assert.equal(seen.control, 'pause');
    const cleared = await store.checkpoint(job.id!, 'tok', { state: '{}', progress: '', clearControl: true });
    assert.equal(cleared.control, undefined);
    assert.deepEqual(await store.read([job.id!]), [{ control: undefined, state: '{}' }]);
  });

  test('pause never replaces a cancel and resume never clears one, atomically; requests for a missing job create nothing', async (ctx) => {
    const t = await freshQueue('store-pause', ctx);
    const store = new RedisJobStore(t.queue);
    const job = await t.queue.add('x', { params: {} });
    const key = t.queue.toKey(job.id!);

    assert.deepEqual(await store.requestPause(job.id!), { exists: true, previous: undefined });
    assert.equal(await t.redis.hget(key, CONTROL_FIELD), 'pause');
    assert.deepEqual(await store.withdrawPause(job.id!), { exists: true, previous: 'pause' });
    assert.equal(await t.redis.hget(key, CONTROL_FIELD), null);

    await store.setControl(job.id!, 'cancel');
    assert.deepEqual(await store.requestPause(job.id!), { exists: true, previous: 'cancel' });
    assert.equal(await t.redis.hget(key, CONTROL_FIELD), 'cancel', 'the cancel stands');
    assert.deepEqual(await store.withdrawPause(job.id!), { exists: true, previous: 'cancel' });
    assert.equal(await t.redis.hget(key, CONTROL_FIELD), 'cancel', 'still standing');

    assert.deepEqual(await store.setControl('no-such-job', 'cancel'), { exists: false, previous: undefined });
    assert.equal(await t.redis.exists(t.queue.toKey('no-such-job')), 0, 'no stray hash');
  });

  test('read answers for many jobs in one round trip, and readRaw shows every field as stored', async (ctx) => {
    const t = await freshQueue('store-read', ctx);
    const store = new RedisJobStore(t.queue);
    const a = await t.queue.add('x', { params: 1 });
    const b = await t.queue.add('x', { params: 2 });
    await t.redis.hset(t.queue.toKey(a.id!), STATE_FIELD, '{"a":1}', CONTROL_FIELD, 'cancel');
    assert.deepEqual(await store.read([a.id!, b.id!]), [
      { control: 'cancel', state: '{"a":1}' },
      { control: undefined, state: undefined },
    ]);
    assert.deepEqual(await store.read([]), []);
    assert.equal((await store.readRaw(b.id!)).data, '{"params":2}');
  });
});
