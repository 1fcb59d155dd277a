/**
 * Partitions, their leases and their checkpoints. A queue's jobs are split into a fixed number of
 * partitions by a hash of the BullMQ job id; each partition has a lease (one publisher process reads
 * it at a time) and a checkpoint (where the next holder resumes). Publisher processes of a queue
 * register in a membership set, and each takes its fair share of the partitions (`ceil(partitions /
 * processes)`), so work spreads when a process joins and is taken over when one dies or leaves. Every
 * key is in the queue's slot: each step is one script (`store/lua/lease.ts`), also on Redis Cluster.
 * The publisher's reading loop (`publisher/queue-reader.ts`) is what takes and keeps them.
 */
import type { SeennKeys } from './keys.js';
import { fnv1a32 } from './keys.js';
import type { RedisConnection } from './connection.js';
import { runCall } from './scripts.js';
import { advanceCheckpointsCall, syncLeasesCall, type LeaseMode } from './lua/lease.js';

/** The partition (0 … `count` − 1) a BullMQ job id falls into. */
export function partitionOf(bullId: string, count: number): number {
  return fnv1a32(bullId) % count;
}

/** The lease keys of every partition of a queue, in partition order. */
function leaseKeys(keys: SeennKeys, queueName: string, count: number): string[] {
  return Array.from({ length: count }, (_, partition) => keys.lease(queueName, partition));
}

/**
 * The number of partitions of a queue: the first publisher to read it sets `wanted`; every later one
 * gets that stored number whatever it asked for (partitions cannot change while checkpoints exist).
 */
export async function partitionCount(
  redis: RedisConnection,
  keys: SeennKeys,
  queueName: string,
  wanted: number,
): Promise<number> {
  const key = keys.partitionCount(queueName);
  await redis.set(key, String(wanted), 'NX');
  return storedCount(await redis.get(key), wanted);
}

/** A partition count as stored, or `fallback` when none (or no valid one) is stored. */
function storedCount(stored: string | null, fallback: number): number {
  const count = Number(stored);
  return Number.isInteger(count) && count > 0 ? count : fallback;
}

export type { LeaseMode };

/** What {@link syncLeases} answers. */
export interface LeaseSync {
  /** The partitions held afterwards, ascending. */
  held: number[];
  /** Fewer than a fair share is held while a partition is free or another process holds more than its share: try again soon. */
  owed: boolean;
}

/** Renews the partition leases held; heartbeats membership and balances them (`balance`), or gives them all up (`leave`). */
export async function syncLeases(
  redis: RedisConnection,
  keys: SeennKeys,
  queueName: string,
  count: number,
  owner: string,
  leaseMs: number,
  mode: LeaseMode,
): Promise<LeaseSync> {
  const call = syncLeasesCall({
    membership: keys.publishers(queueName),
    leases: leaseKeys(keys, queueName, count),
    owner,
    leaseMs,
    mode,
  });
  const [held, owed] = (await runCall(redis, call)) as [number[], number];
  return { held: held.map(Number).sort((a, b) => a - b), owed: owed === 1 };
}

/** Moves the checkpoints of `partitions` (held by `owner`) forward to `id`, and the queue's overall one after them. */
export async function advanceCheckpoints(
  redis: RedisConnection,
  keys: SeennKeys,
  queueName: string,
  count: number,
  owner: string,
  id: string,
  partitions: readonly number[],
): Promise<void> {
  await runCall(
    redis,
    advanceCheckpointsCall({
      checkpoint: keys.checkpoint(queueName),
      partitionCheckpoints: keys.partitionCheckpoints(queueName),
      leases: leaseKeys(keys, queueName, count),
      owner,
      id,
      partitions,
    }),
  );
}

/** Every partition's checkpoint (`null`: never read), counting a partition never checkpointed from the overall checkpoint. */
export async function readCheckpoints(
  redis: RedisConnection,
  keys: SeennKeys,
  queueName: string,
  count: number,
): Promise<(string | null)[]> {
  const [overall, byPartition] = await Promise.all([
    redis.get(keys.checkpoint(queueName)),
    redis.hgetall(keys.partitionCheckpoints(queueName)),
  ]);
  const valid = (id: string | null | undefined): string | null =>
    id !== null && id !== undefined && /^\d+-\d+$/.test(id) ? id : null;
  return Array.from({ length: count }, (_, partition) => valid(byPartition[String(partition)]) ?? valid(overall));
}

/** Who holds each partition of a queue, as Redis has it now. */
export interface PartitionLeases {
  /** The queue's partition count (the default when no publisher has read the queue yet). */
  total: number;
  /** Per partition, the holder's token, or `null` when it is free. */
  holders: (string | null)[];
  /** Per partition, milliseconds left on its lease, or `null` when it is free. */
  expiresInMs: (number | null)[];
}

/** Reads who holds each partition of `queueName` (for the admin route); `defaultCount` when the count is not set yet. */
export async function readPartitionLeases(
  redis: RedisConnection,
  keys: SeennKeys,
  queueName: string,
  defaultCount: number,
): Promise<PartitionLeases> {
  const total = storedCount(await redis.get(keys.partitionCount(queueName)), defaultCount);
  const lease = leaseKeys(keys, queueName, total);
  const [holders, ttls] = await Promise.all([
    Promise.all(lease.map((key) => redis.get(key))),
    Promise.all(lease.map((key) => redis.pttl(key))),
  ]);
  return { total, holders, expiresInMs: ttls.map((ttl, i) => (holders[i] === null || ttl < 0 ? null : ttl)) };
}
