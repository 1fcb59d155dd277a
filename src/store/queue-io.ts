/**
 * The publisher's Redis reads and writes of one queue besides job snapshots: its BullMQ events stream
 * (read, oldest entry, `maxLen` as BullMQ stores it), a BullMQ job's attempt counters and the state a
 * re-sync rebuilds it from, the queue's parked jobs and the bookkeeping written once per read (the set
 * of the queue's unfinished jobs). Every key from `keys.ts`; each function takes only the connection
 * and keys it needs.
 */
import type { ChainableCommander } from 'ioredis';
import type { RedisConnection } from './connection.js';
import type { SeennKeys } from './keys.js';

/** An events-stream entry as Redis answers it: id, then field/value pairs. */
export type EventsStreamEntry = [id: string, fields: string[]];

/** What one read of a queue's events stream found. */
export interface EventsRead {
  /** Up to `count` entries after `from`, oldest first (none when the block timed out). */
  entries: EventsStreamEntry[];
  /**
   * Whether the entry `from` itself still existed right after the read answered. When it did not (and
   * `from` is not `0-0`), BullMQ may have trimmed entries after it that this read never saw.
   */
  fromExists: boolean;
}

/**
 * Reads `queueName`'s BullMQ events stream after `from` on `blocking` (a connection of its own: the
 * XREAD blocks up to `blockMs`), and checks in the same round trip that the entry `from` still exists.
 */
export async function readEventsAfter(
  blocking: RedisConnection,
  keys: SeennKeys,
  queueName: string,
  from: string,
  count: number,
  blockMs: number,
): Promise<EventsRead> {
  if (blocking.status === 'end') await blocking.connect();
  const streamKey = keys.bullEvents(queueName);
  // The XRANGE runs right after the XREAD answers: if the checkpoint's own entry still exists then,
  // nothing after it can have been trimmed before it was read.
  const replies = await blocking
    .pipeline()
    .xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', streamKey, from)
    .xrange(streamKey, from, from)
    .exec();
  const [[readError, read], [rangeError, range]] = replies as [[Error | null, unknown], [Error | null, unknown]];
  if (readError) throw readError;
  if (rangeError) throw rangeError;
  const entries = ((read as [string, EventsStreamEntry[]][] | null)?.[0]?.[1] ?? []) as EventsStreamEntry[];
  return { entries, fromExists: (range as unknown[]).length > 0 };
}

/** The sizing facts of a queue's events stream: BullMQ's stored `maxLen` (or `null`) and its oldest entry id. */
export async function eventsStreamFacts(
  redis: RedisConnection,
  keys: SeennKeys,
  queueName: string,
): Promise<{ maxLenEvents: number | null; oldestId: string | undefined }> {
  const [maxLen, oldest] = await Promise.all([
    redis.hget(keys.bull(queueName).meta, 'opts.maxLenEvents'),
    redis.xrange(keys.bullEvents(queueName), '-', '+', 'COUNT', 1),
  ]);
  return {
    maxLenEvents: maxLen === null || !Number.isFinite(Number(maxLen)) ? null : Number(maxLen),
    oldestId: oldest[0]?.[0],
  };
}

/** A BullMQ job's attempt counters as its hash holds them now. */
export interface BullAttemptFacts {
  /** `atm`: attempts made (failed or finished). */
  attemptsMade: number;
  /** `ats`: attempts started, when BullMQ stored it. */
  attemptsStarted: number | undefined;
  /** Whether a failed attempt left a `failedReason`. */
  failedBefore: boolean;
}

/** The attempt counters of BullMQ job `bullId`, or `null` when its hash has none (gone or never run). */
export async function bullAttemptFacts(
  redis: RedisConnection,
  keys: SeennKeys,
  queueName: string,
  bullId: string,
): Promise<BullAttemptFacts | null> {
  const [made, started, failedReason] = await redis.hmget(
    keys.bullJob(queueName, bullId),
    'atm',
    'ats',
    'failedReason',
  );
  if (made === null) return null;
  return {
    attemptsMade: Number(made),
    attemptsStarted: started === null ? undefined : Number(started),
    failedBefore: failedReason !== null && failedReason !== '',
  };
}

/**
 * What a re-sync needs of a BullMQ job's hash, parsed as BullMQ's own `Job.fromId` parses it (its
 * `rawToJobJson` and `Job.fromJSON`), without the job's `data` and `opts`: a re-sync never needs them,
 * and they are the bulk of a job's hash (the app's payload).
 */
export interface BullJobState {
  /** `progress`, JSON-parsed (`0` when unset, `null` when unreadable). */
  progress: unknown;
  /** When the job was added (epoch ms). */
  timestamp: number;
  /** Its `delay` in ms (0 when unset). */
  delayMs: number;
  /** Attempts made (failed or finished). */
  attemptsMade: number;
  /** Attempts started. */
  attemptsStarted: number;
  /** When its current attempt started (epoch ms). */
  processedOn: number | undefined;
  /** When it finished (epoch ms). */
  finishedOn: number | undefined;
  /** Why its last attempt failed (unset or empty: it did not). */
  failedReason: string | undefined;
  /** What it returned, JSON-parsed (`null` when unset or unreadable). */
  returnvalue: unknown;
}

/** The hash fields {@link readBullJobState} reads, in order. */
const JOB_STATE_FIELDS = [
  'timestamp',
  'name',
  'progress',
  'delay',
  'attemptsMade',
  'atm',
  'ats',
  'processedOn',
  'finishedOn',
  'failedReason',
  'returnvalue',
] as const;

/** BullMQ job `bullId`'s state (see {@link BullJobState}), or `null` when its hash is gone. One HMGET. */
export async function readBullJobState(
  redis: RedisConnection,
  keys: SeennKeys,
  queueName: string,
  bullId: string,
): Promise<BullJobState | null> {
  const answer = await redis.hmget(keys.bullJob(queueName, bullId), ...JOB_STATE_FIELDS);
  const raw = Object.fromEntries(JOB_STATE_FIELDS.map((field, i) => [field, answer[i] ?? null])) as Record<
    (typeof JOB_STATE_FIELDS)[number],
    string | null
  >;
  // Every job BullMQ adds has a name and a timestamp; a hash with neither is gone.
  if (raw.timestamp === null && raw.name === null) return null;
  return {
    progress: raw.progress === null ? 0 : parseJsonOrNull(raw.progress),
    timestamp: Number(raw.timestamp ?? 0),
    delayMs: Number(raw.delay ?? 0) || 0,
    attemptsMade: Number(raw.attemptsMade || raw.atm || 0) || 0,
    attemptsStarted: Number(raw.ats ?? 0) || 0,
    processedOn: raw.processedOn ? Number(raw.processedOn) : undefined,
    finishedOn: raw.finishedOn ? Number(raw.finishedOn) : undefined,
    failedReason: raw.failedReason || undefined,
    returnvalue: raw.returnvalue === null ? null : parseJsonOrNull(raw.returnvalue),
  };
}

/** `JSON.parse(text)`, or `null` when `text` is not JSON (BullMQ logs and skips a corrupt `returnvalue` too). */
function parseJsonOrNull(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** Records a parked job (its JSON description) in the queue's parked-jobs hash, under its BullMQ id. */
export async function recordParkedJob(
  redis: RedisConnection,
  keys: SeennKeys,
  queueName: string,
  bullId: string,
  json: string,
): Promise<void> {
  await redis.hset(keys.parkedJobs(queueName), bullId, json);
}

/** Resolves when Redis answers a PING (rejects while it is away). */
export async function redisAnswers(redis: RedisConnection): Promise<void> {
  await redis.ping();
}

/**
 * Writes the changes to the queue's set of unfinished jobs (what a re-sync revisits) in one pipeline
 * (all keys in the queue's slot), with whatever more of the queue's bookkeeping `extend` adds to it;
 * answers the pipeline's replies (the unfinished-set commands first). Rejects when the round trip fails.
 */
export async function writeQueueBookkeeping(
  redis: RedisConnection,
  keys: SeennKeys,
  queueName: string,
  unfinished: { added: readonly string[]; removed: readonly string[] },
  extend: (pipeline: ChainableCommander) => void,
): Promise<[Error | null, unknown][]> {
  const key = keys.liveJobs(queueName);
  const pipeline = redis.pipeline();
  if (unfinished.added.length > 0) pipeline.sadd(key, ...unfinished.added);
  if (unfinished.removed.length > 0) pipeline.srem(key, ...unfinished.removed);
  extend(pipeline);
  return (await pipeline.exec()) ?? [];
}

/** The id of the newest entry of a queue's events stream, or `undefined` when it is empty. */
export async function newestEventId(
  redis: RedisConnection,
  keys: SeennKeys,
  queueName: string,
): Promise<string | undefined> {
  const newest = await redis.xrevrange(keys.bullEvents(queueName), '+', '-', 'COUNT', 1);
  return newest[0]?.[0];
}

/** The BullMQ job ids of a queue's lists, as a re-sync reads them (a list that could not be read is empty). */
export interface BullQueueMembers {
  /** `wait` and `prioritized`. */
  waiting: string[];
  delayed: string[];
  active: string[];
  waitingChildren: string[];
  /** Finished at or after the `sinceMs` asked for. */
  completed: string[];
  failed: string[];
}

/** Reads the ids in a queue's BullMQ lists in one round trip (see {@link BullQueueMembers}). */
export async function bullQueueMembers(
  redis: RedisConnection,
  keys: SeennKeys,
  queueName: string,
  sinceMs: number,
): Promise<BullQueueMembers> {
  const bull = keys.bull(queueName);
  const replies = (await redis
    .pipeline()
    .lrange(bull.wait, 0, -1)
    .zrange(bull.prioritized, 0, -1)
    .zrange(bull.delayed, 0, -1)
    .lrange(bull.active, 0, -1)
    .zrange(bull.waitingChildren, 0, -1)
    .zrangebyscore(bull.completed, sinceMs, '+inf')
    .zrangebyscore(bull.failed, sinceMs, '+inf')
    .exec()
    .then((answers) => (answers ?? []).map(([error, value]) => (error ? [] : (value as string[]))))) as string[][];
  const [wait = [], prioritized = [], delayed = [], active = [], waitingChildren = [], completed = [], failed = []] =
    replies;
  return { waiting: [...wait, ...prioritized], delayed, active, waitingChildren, completed, failed };
}

/** The Seenn ids in the queue's set of unfinished jobs. */
export function unfinishedJobs(redis: RedisConnection, keys: SeennKeys, queueName: string): Promise<string[]> {
  return redis.smembers(keys.liveJobs(queueName));
}

/** Takes a Seenn id out of the queue's set of unfinished jobs. */
export async function forgetUnfinishedJob(
  redis: RedisConnection,
  keys: SeennKeys,
  queueName: string,
  seennId: string,
): Promise<void> {
  await redis.srem(keys.liveJobs(queueName), seennId);
}
