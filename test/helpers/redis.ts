/**
 * Per-test Redis helpers: the harness's URL, connections that are closed after the test, unique
 * prefixes, and clean-up of one prefix's keys (never a FLUSHALL).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';

/** The URL of the Redis the global set-up chose for this run. */
export function redisUrl(): string {
  return inject('redisUrl');
}

/** A new ioredis connection to the test Redis, suitable for BullMQ (`maxRetriesPerRequest: null`). */
export function connect(url = redisUrl()): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

/** A prefix no other test uses, so tests can share one Redis. */
export function uniquePrefix(label = 't'): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

/** Deletes every key under `prefix:` with SCAN + UNLINK. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}
