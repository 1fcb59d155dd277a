/**
 * Reads of a queue's BullMQ events stream and of its publisher checkpoint, as the admin route shows
 * them (`admin/queue-status.ts`): no writes, a handful of commands per queue.
 */
import type { RedisConnection } from './connection.js';
import type { SeennKeys } from './keys.js';

/** What is known about a queue's events stream before counting. */
export interface StreamFacts {
  /** The publisher's checkpoint (a stream id), or `null` when it has none or it is not a stream id. */
  checkpointId: string | null;
  length: number;
  firstId: string | null;
  newestId: string | null;
}

/** The checkpoint, length, first and newest id of `queueName`'s events stream. */
export async function readStreamFacts(
  redis: RedisConnection,
  keys: SeennKeys,
  queueName: string,
): Promise<StreamFacts> {
  const stream = keys.bullEvents(queueName);
  // Separate commands, not one pipeline: the keys live in different Redis Cluster slots.
  const [checkpoint, length, first, newest] = await Promise.all([
    redis.get(keys.checkpoint(queueName)),
    redis.xlen(stream),
    redis.xrange(stream, '-', '+', 'COUNT', 1),
    redis.xrevrange(stream, '+', '-', 'COUNT', 1),
  ]);
  return {
    checkpointId: checkpoint !== null && /^\d+-\d+$/.test(checkpoint) ? checkpoint : null,
    length,
    firstId: first[0]?.[0] ?? null,
    newestId: newest[0]?.[0] ?? null,
  };
}

/** How many entries of `queueName`'s events stream come after `afterId` (`null`: all), counting at most `max + 1`. */
export async function countStreamEntriesAfter(
  redis: RedisConnection,
  keys: SeennKeys,
  queueName: string,
  afterId: string | null,
  max: number,
): Promise<number> {
  const after = await redis.xrange(keys.bullEvents(queueName), `(${afterId ?? '0-0'}`, '+', 'COUNT', max + 1);
  return after.length;
}
