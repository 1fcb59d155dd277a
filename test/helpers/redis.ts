/**
 * Per-test Redis helpers: the harness's URL, connections that are closed after the test, unique
 * prefixes, and clean-up of one prefix's keys (never a FLUSHALL).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
export { deletePrefix } from '../../examples/lib/redis-keys.js';

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

