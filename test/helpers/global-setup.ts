/**
 * Vitest global set-up: gives every test file a Redis it may use.
 * - `REDIS_URL` set: use that Redis (never flushed; tests isolate themselves by prefix).
 * - else: start our own `redis-server` on a free port and stop it afterwards.
 * The URL reaches tests through `inject('redisUrl')` and child processes through `SEENN_TEST_REDIS_URL`.
 */
import type { TestProject } from 'vitest/node';
import { startRedisServer, type RedisServer } from './redis-server.js';

let server: RedisServer | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let url = process.env['REDIS_URL'];
  if (!url) {
    try {
      server = await startRedisServer();
    } catch (error) {
      throw new Error(
        'The tests need Redis: install redis-server (apt-get install -y redis-server) or set REDIS_URL. ' +
          (error instanceof Error ? error.message : String(error)),
        { cause: error },
      );
    }
    url = server.url;
  }
  process.env['SEENN_TEST_REDIS_URL'] = url;
  project.provide('redisUrl', url);
  return async () => {
    await server?.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
