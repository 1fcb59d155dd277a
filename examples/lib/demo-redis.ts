/**
 * Finds a Redis for the demo: `REDIS_URL` when set, else one already listening on localhost:6379,
 * else a `redis-server` binary started here (stopped when the demo stops). Without any of them it
 * throws a {@link NoRedisError} whose message says how to get one.
 */
import { Redis } from 'ioredis';
import { startRedisServer, type RedisServer } from './redis-server.js';

/** The Redis the demo uses, and whether the demo started it. */
export interface DemoRedis {
  url: string;
  /** How it was found, for the start-up banner. */
  origin: 'REDIS_URL' | 'localhost:6379' | 'started redis-server';
  /** Set when the demo started the server itself (and so must stop it). */
  server?: RedisServer;
}

/** No Redis could be found or started. */
export class NoRedisError extends Error {
  override readonly name = 'NoRedisError';
}

/** Whether a Redis at `url` answers PING within `timeoutMs`. */
async function answers(url: string, timeoutMs: number): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * Picks the Redis as described above. `env` supplies `REDIS_URL` and `REDIS_SERVER_BIN` (the binary
 * to start, default `redis-server`); `localUrl` is where a local Redis is looked for.
 */
export async function findOrStartRedis(
  env: NodeJS.ProcessEnv = process.env,
  localUrl = 'redis://127.0.0.1:6379',
): Promise<DemoRedis> {
  const fromEnv = env['REDIS_URL'];
  if (fromEnv) {
    if (!(await answers(fromEnv, 3_000)))
      throw new NoRedisError(`REDIS_URL is set to ${fromEnv}, but no Redis answers there.`);
    return { url: fromEnv, origin: 'REDIS_URL' };
  }
  if (await answers(localUrl, 500)) return { url: localUrl, origin: 'localhost:6379' };
  try {
    const binary = env['REDIS_SERVER_BIN'];
    const server = await startRedisServer(binary ? { binary } : {});
    return { url: server.url, origin: 'started redis-server', server };
  } catch (error) {
    throw new NoRedisError(
      [
        'The demo needs Redis, and found none:',
        '  - REDIS_URL is not set,',
        '  - nothing answers on localhost:6379,',
        `  - and a redis-server binary could not be started (${error instanceof Error ? error.message : String(error)}).`,
        'Get one of these:',
        '  - install Redis (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis), or',
        '  - run one in Docker: docker run --rm -p 6379:6379 redis:7-alpine, or',
        '  - point REDIS_URL at yours: REDIS_URL=redis://host:6379 npm run demo,',
        '  - or run everything with Docker: docker compose up',
      ].join('\n'),
      { cause: error },
    );
  }
}
