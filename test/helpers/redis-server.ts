/** Throw-away `redis-server` processes for tests: the helper is shared with the demo, see `examples/lib/redis-server.ts`. */
export { startRedisServer, waitForRedis, freePort, type RedisServer } from '../../examples/lib/redis-server.js';
