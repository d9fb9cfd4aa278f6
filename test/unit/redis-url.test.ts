import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidConnectionUrlError, InvalidRedisUrlError } from '../../src/process/errors.js';
import { connectionTarget, redisTarget } from '../../src/process/redis-url.js';

test('redisTarget: the explicit URL, else REDIS_URL, else the default, each named as the source', (t) => {
  const saved = process.env.REDIS_URL;
  t.after(() => (saved === undefined ? delete process.env.REDIS_URL : (process.env.REDIS_URL = saved)));
  process.env.REDIS_URL = 'redis://env-host:6380';
  assert.deepEqual(redisTarget('redis://flag-host'), { url: 'redis://flag-host', source: '--redis' });
  assert.deepEqual(redisTarget(undefined), { url: 'redis://env-host:6380', source: 'REDIS_URL' });
  delete process.env.REDIS_URL;
  assert.equal(redisTarget(undefined).source, 'the default URL');
});

test('redisTarget refuses a URL that is not redis:// with a named error that hides the password', () => {
  assert.throws(
    () => redisTarget('http://user:s3cret@host'),
    (error: unknown) =>
      error instanceof InvalidRedisUrlError &&
      error.code === 'ERR_INVALID_REDIS_URL' &&
      !error.message.includes('s3cret') &&
      error.url === 'http://user:***@host',
  );
});

test('connectionTarget: --connection or its alias --redis names Redis or PostgreSQL; REDIS_URL only ever Redis', (t) => {
  const saved = process.env.REDIS_URL;
  t.after(() => (saved === undefined ? delete process.env.REDIS_URL : (process.env.REDIS_URL = saved)));
  process.env.REDIS_URL = 'redis://env-host:6380';
  assert.deepEqual(connectionTarget({}), { kind: 'redis', url: 'redis://env-host:6380', source: 'REDIS_URL' });
  assert.deepEqual(connectionTarget({ connection: 'postgres://app@db/app?schema=jobs' }), { kind: 'postgres', url: 'postgres://app@db/app?schema=jobs', source: '--connection' });
  assert.deepEqual(connectionTarget({ redis: 'postgresql://app@db/app' }), { kind: 'postgres', url: 'postgresql://app@db/app', source: '--redis' });
  assert.deepEqual(connectionTarget({ connection: 'rediss://h:6390', redis: 'rediss://h:6390' }), { kind: 'redis', url: 'rediss://h:6390', source: '--connection' });
  process.env.REDIS_URL = 'postgres://app@db/app';
  assert.throws(() => connectionTarget({}), InvalidRedisUrlError);
});

test('connectionTarget refuses other schemes, a bad ?schema= and two different flags, the password hidden', () => {
  for (const values of [{ connection: 'mysql://u:s3cret@h/db' }, { connection: 'postgres://u:s3cret@h/db?schema=a-b' }, { connection: 'postgres://u:s3cret@h/db', redis: 'redis://h' }]) {
    assert.throws(
      () => connectionTarget(values),
      (error: unknown) => error instanceof InvalidConnectionUrlError && error.code === 'ERR_INVALID_CONNECTION_URL' && !error.message.includes('s3cret'),
    );
  }
});
