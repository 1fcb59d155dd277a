/**
 * What the JobStore tests share: a JobStore on a fresh prefix (its keys deleted when closed), a queued
 * job record to commit, and a sorted set read back as [member, score] pairs.
 */
import type { Redis } from 'ioredis';
import { createRecord } from '../../src/model/reducer.js';
import type { JobRecord } from '../../src/model/record.js';
import { JobStore, RETENTION_DEFAULTS } from '../../src/store/job-store.js';
import { SeennKeys } from '../../src/store/keys.js';
import { connect, deletePrefix, uniquePrefix } from './redis.js';

/** A JobStore over its own connection and a prefix no other test uses. */
export interface StoreBed {
  prefix: string;
  redis: Redis;
  keys: SeennKeys;
  store: JobStore;
  /** Deletes the prefix's keys and closes the connection. */
  close(): Promise<void>;
}

/** Opens a {@link StoreBed} on a fresh prefix named after `label`, with the default retention. */
export function openStoreBed(label: string): StoreBed {
  const prefix = uniquePrefix(label);
  const redis = connect();
  const keys = new SeennKeys(prefix, 'default');
  return {
    prefix,
    redis,
    keys,
    store: new JobStore(redis, keys, RETENTION_DEFAULTS),
    async close() {
      await deletePrefix(redis, prefix);
      await redis.quit();
    },
  };
}

/** The record of a new job of `userId` waiting in queue `q`, created at `createdAtMs`. */
export function queuedRecord(id: string, createdAtMs: number, userId: string): JobRecord {
  return createRecord(
    id,
    'default',
    { userId, jobType: 'video', title: `Job ${id}` },
    { queueName: 'q', bullId: id, createdAtMs, maxAttempts: 1, state: 'waiting' },
  );
}

/** A sorted set as [member, score] pairs, highest score first (`'desc'`) or lowest first (`'asc'`). */
export async function sortedSetPairs(redis: Redis, key: string, order: 'asc' | 'desc'): Promise<[string, number][]> {
  const flat =
    order === 'desc' ? await redis.zrevrange(key, 0, -1, 'WITHSCORES') : await redis.zrange(key, 0, -1, 'WITHSCORES');
  const pairs: [string, number][] = [];
  for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i] as string, Number(flat[i + 1])]);
  return pairs;
}
