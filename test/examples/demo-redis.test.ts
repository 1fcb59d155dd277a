/**
 * How the demo finds its Redis: REDIS_URL, else a local one, else a redis-server it starts, else a
 * clear message on how to get one.
 */
import { describe, expect, it } from 'vitest';
import { NoRedisError, findOrStartRedis } from '../../examples/lib/demo-redis.js';
import { freePort } from '../helpers/redis-server.js';
import { redisUrl } from '../helpers/redis.js';

async function deadUrl(): Promise<string> {
  return `redis://127.0.0.1:${await freePort()}`;
}

describe('findOrStartRedis', () => {
  it('uses REDIS_URL when a Redis answers there', async () => {
    expect(await findOrStartRedis({ REDIS_URL: redisUrl() }, await deadUrl())).toEqual({
      url: redisUrl(),
      origin: 'REDIS_URL',
    });
  });

  it('uses the local Redis when REDIS_URL is not set', async () => {
    expect(await findOrStartRedis({}, redisUrl())).toEqual({ url: redisUrl(), origin: 'localhost:6379' });
  });

  it('refuses a REDIS_URL nobody answers on, naming it', async () => {
    const url = await deadUrl();
    await expect(findOrStartRedis({ REDIS_URL: url }, redisUrl())).rejects.toThrow(
      new NoRedisError(`REDIS_URL is set to ${url}, but no Redis answers there.`),
    );
  });

  it('starts a redis-server when there is no Redis, and stops it on request', async () => {
    const found = await findOrStartRedis({}, await deadUrl());
    try {
      expect(found.origin).toBe('started redis-server');
      expect(found.url).toBe(found.server?.url);
    } finally {
      await found.server?.stop();
    }
    expect(found.server?.process.exitCode ?? found.server?.process.signalCode).not.toBeNull();
  });

  it('says how to get Redis when none can be found or started', async () => {
    const attempt = findOrStartRedis({ REDIS_SERVER_BIN: '/nonexistent/redis-server' }, await deadUrl());
    await expect(attempt).rejects.toBeInstanceOf(NoRedisError);
    await expect(attempt).rejects.toThrow(
      /apt-get install redis-server[\s\S]*docker run --rm -p 6379:6379 redis[\s\S]*REDIS_URL=redis:\/\/host:6379 npm run demo[\s\S]*docker compose up/,
    );
  });
});
