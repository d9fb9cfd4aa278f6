import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidRedisUrlError } from '../../src/process/errors.js';
import { redisTarget } from '../../src/process/redis-url.js';

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
