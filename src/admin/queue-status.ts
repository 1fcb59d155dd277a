/**
 * What the admin route shows per queue: BullMQ's job counts and paused flag, and the state of the
 * Seenn publisher reading the queue (lease, checkpoint, and how far it is behind BullMQ's events
 * stream). A handful of Redis reads per queue, issued together; no scan of BullMQ's lists.
 */
import type { SeennContext } from '../context.js';
import { compareStreamIds, streamIdTime } from '../model/wire.js';
import { readPartitionLeases } from '../store/partitions.js';
import { PUBLISHER_DEFAULTS } from '../publisher/options.js';
import { countStreamEntriesAfter, readStreamFacts, type StreamFacts } from '../store/events-stream-reads.js';

/** Unread events counted one by one at most; past this `entriesCapped` is set. */
export const LAG_COUNT_MAX_ENTRIES = 1_000;

/** How far the publisher is behind BullMQ's events stream. */
export interface PublisherLag {
  /** Newest event time minus checkpoint time (from the stream ids, so Redis's clock); 0 when caught up. */
  ms: number;
  /** Events after the checkpoint; at most {@link LAG_COUNT_MAX_ENTRIES} unless exact by other means. */
  entries: number;
  /** `entries` is a lower bound: more events than that are waiting. */
  entriesCapped: boolean;
  /** BullMQ trimmed events after the checkpoint before they were read: the publisher will re-sync the queue. */
  trimmed: boolean;
}

/** The Seenn publisher of one queue, as seen from Redis. */
export interface PublisherStatus {
  /** Whether every partition of the queue is held by a publisher (the whole queue is being read) now. */
  leaseHeld: boolean;
  /** Who holds partitions (publisher tokens, comma-separated when several processes share the queue); `null` when none is held. */
  leaseHolder: string | null;
  /** Milliseconds left on the soonest-expiring partition lease unless renewed; `null` when none is held. */
  leaseExpiresInMs: number | null;
  /** The queue's partitions: how many there are, and how many a publisher holds now. */
  partitions: { total: number; held: number };
  /** The last events-stream id a publisher handled; `null` when no publisher has read the queue yet. */
  checkpointId: string | null;
  /** The newest entry of BullMQ's events stream; `null` when the stream is empty. */
  newestEventId: string | null;
  lag: PublisherLag;
}

/** One queue in `GET /api/queues`. */
export interface QueueStatus {
  name: string;
  /** BullMQ's paused flag (in BullMQ 6 a paused queue's jobs stay `waiting`). */
  paused: boolean;
  /** BullMQ's job counts: waiting, prioritized, delayed, active, waiting-children, completed, failed. */
  counts: Record<string, number>;
  publisher: PublisherStatus;
}

/** Reads the status of one queue (BullMQ's `Queue` of the context, and the publisher's state). */
export async function readQueueStatus(
  ctx: Pick<SeennContext, 'redis' | 'keys' | 'queue'>,
  name: string,
): Promise<QueueStatus> {
  const queue = ctx.queue(name);
  const [counts, paused, publisher] = await Promise.all([
    queue.getJobCounts(),
    queue.isPaused(),
    readPublisherStatus(ctx, name),
  ]);
  return { name, paused, counts, publisher };
}

export type { StreamFacts };

/** What {@link readPublisherStatus} reads through: the Redis connection and the keys (the Seenn context has both). */
export type PublisherStatusDeps = Pick<SeennContext, 'redis' | 'keys'>;

/** Reads the lease, checkpoint and lag of the publisher of `name`. */
export async function readPublisherStatus(
  { redis, keys }: PublisherStatusDeps,
  name: string,
): Promise<PublisherStatus> {
  const [facts, leases] = await Promise.all([
    readStreamFacts(redis, keys, name),
    readPartitionLeases(redis, keys, name, PUBLISHER_DEFAULTS.partitions),
  ]);
  let lag = lagWithoutCounting(facts);
  if (lag === null) {
    const after = await countStreamEntriesAfter(redis, keys, name, facts.checkpointId, LAG_COUNT_MAX_ENTRIES);
    lag = {
      ms: lagMs(facts),
      entries: Math.min(after, LAG_COUNT_MAX_ENTRIES),
      entriesCapped: after > LAG_COUNT_MAX_ENTRIES,
      trimmed: false,
    };
  }
  const holders = [...new Set(leases.holders.filter((holder): holder is string => holder !== null))];
  const ttls = leases.expiresInMs.filter((ttl): ttl is number => ttl !== null);
  const held = leases.holders.filter((holder) => holder !== null).length;
  return {
    leaseHeld: held === leases.total,
    leaseHolder: holders.length === 0 ? null : holders.join(', '),
    leaseExpiresInMs: ttls.length === 0 ? null : Math.min(...ttls),
    partitions: { total: leases.total, held },
    checkpointId: facts.checkpointId,
    newestEventId: facts.newestId,
    lag,
  };
}

/**
 * The lag when it is known without counting entries one by one (caught up, never read, or trimmed
 * past the checkpoint: then every entry in the stream is unread), else `null`.
 */
export function lagWithoutCounting(facts: StreamFacts): PublisherLag | null {
  const { checkpointId, length, firstId, newestId } = facts;
  if (newestId === null || firstId === null) return { ms: 0, entries: 0, entriesCapped: false, trimmed: false };
  if (checkpointId !== null && compareStreamIds(checkpointId, newestId) >= 0)
    return { ms: 0, entries: 0, entriesCapped: false, trimmed: false };
  // A publisher without a checkpoint reads the stream from its start: every entry is unread.
  if (checkpointId === null) return { ms: lagMs(facts), entries: length, entriesCapped: false, trimmed: false };
  // The checkpoint's own entry is gone: what came between it and the first entry was lost.
  if (compareStreamIds(checkpointId, firstId) < 0)
    return { ms: lagMs(facts), entries: length, entriesCapped: false, trimmed: true };
  return null;
}

/** Newest event time minus the checkpoint's time (or, with no checkpoint, the first entry's time). */
function lagMs(facts: StreamFacts): number {
  if (facts.newestId === null) return 0;
  const from = facts.checkpointId ?? facts.firstId ?? facts.newestId;
  return Math.max(0, streamIdTime(facts.newestId) - streamIdTime(from));
}
