/**
 * Clean-up of one run's keys, shared by the demo, the benchmarks and the tests: they never flush a
 * Redis, they delete only the keys under their own prefix.
 */
import type { Redis } from 'ioredis';

/** Deletes every key under `prefix:` with SCAN + UNLINK. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}
