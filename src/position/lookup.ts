/**
 * Where jobs of one BullMQ queue stand, read with one atomic script call (`queuePositions` in
 * `store/lua/position-lookup.ts`; its header documents the algorithm and its cost).
 */
import type { RedisConnection } from '../store/connection.js';
import { SeennError } from '../errors.js';
import type { QueueInfo } from '../model/job.js';
import { runCall } from '../store/scripts.js';
import { queuePositionsCall } from '../store/lua/position-lookup.js';
import { bullQueueKey, rankIndexKeys } from '../store/keys.js';
import { POSITION_DEFAULTS } from './options.js';

/** With at most this many ids left to find in `wait`, the script uses one `LPOS` each instead of one pass. */
export const LPOS_IDS = 8;

/** The `LRANGE` window the script reads the `wait` list with. */
export const SCAN_CHUNK = 1_000;

/** Most active jobs whose start time one lookup reads (for ETAs): O(this) `HGET`s. */
export const MAX_ACTIVE_READ = 256;

/**
 * Most `wait` elements one lookup numbers for the rank index (while it is built, and when more jobs
 * than this arrived at one end since the last lookup); about 2 µs of Redis each.
 */
export const RANK_INDEX_CHUNK = 1_000;

/**
 * What the previous lookup said about a job, passed back to make the next one cheap: its distance
 * from the consumer end of `wait`, or that it was prioritized. A wrong hint costs time, never a wrong
 * answer.
 */
export type PositionHint = { kind: 'wait'; distance: number } | { kind: 'prioritized' };

/** One job to place: its BullMQ id and, optionally, a hint from an earlier lookup. */
export interface PositionRequest {
  bullId: string;
  hint?: PositionHint;
}

/** Where a job stands. Only `waiting` and `prioritized` jobs have a position (1-based). */
export type JobPlace =
  | { state: 'waiting'; position: number; hint: PositionHint }
  | { state: 'prioritized'; position: number; hint: PositionHint }
  | { state: 'delayed'; runAtMs: number }
  | { state: 'waiting-children' }
  | { state: 'active' }
  | { state: 'finished' }
  | { state: 'missing' }
  /** In `wait` but deeper than `scanLimit` from both ends (or in no list at all): no position. */
  | { state: 'unknown' };

/** One queue's state and the places of the jobs asked about, read atomically. */
export interface QueueSnapshot {
  queueName: string;
  /** `LLEN wait`. */
  waiting: number;
  /** `ZCARD prioritized`. */
  prioritized: number;
  /** Jobs a worker may take: `waiting + prioritized`. */
  total: number;
  /** `meta.paused` is set: no worker takes jobs. */
  paused: boolean;
  /** Milliseconds until the queue's rate limit lets workers take jobs again; 0 when not limited. */
  rateLimitedMs: number;
  /** `wait`-list elements the script read with `LRANGE` (its main cost). */
  elementsRead: number;
  /** `LLEN active`: jobs running now. */
  active: number;
  /** When active jobs started (BullMQ `processedOn`), epoch ms; at most {@link MAX_ACTIVE_READ}. */
  activeStartedAtMs: number[];
  /**
   * The queue's rank index after this lookup: `off` (not used), `building` (part of `wait` is
   * numbered), `complete`; `hits` jobs were placed by it (O(log N) each) and `numbered` elements of
   * `wait` were numbered by this call.
   */
  rankIndex: { state: 'off' | 'building' | 'complete'; hits: number; numbered: number };
  /** One place per request, in request order. */
  places: JobPlace[];
}

/** Where the rank index's keys and BullMQ's queue keys are built (re-exported from `store/keys.ts`). */
export { bullQueueKey, rankIndexKeys };

/**
 * Places `requests` in `queueName` with one script call.
 * @param redis - a connection to BullMQ's Redis
 * @param prefix - BullMQ's key prefix
 * @param queueName - the queue
 * @param requests - the jobs to place (their BullMQ ids, with hints when known)
 * @param scanLimit - the script's element budget (see {@link PositionOptions.scanLimit})
 * @param rankIndex - use and keep the queue's rank index (see {@link PositionOptions.rankIndex})
 * @param rankIndexChunk - most `wait` elements this call numbers for the index (tests use small ones)
 */
export async function lookupPositions(
  redis: RedisConnection,
  prefix: string,
  queueName: string,
  requests: readonly PositionRequest[],
  scanLimit: number,
  rankIndex: boolean = POSITION_DEFAULTS.rankIndex,
  rankIndexChunk: number = RANK_INDEX_CHUNK,
): Promise<QueueSnapshot> {
  // The script wants wait hints sorted by distance (cheaper to sort here than in Lua).
  const order = requests.map((_, i) => i);
  const distance = (i: number): number => {
    const hint = requests[i]?.hint;
    return hint?.kind === 'wait' ? hint.distance : Number.POSITIVE_INFINITY;
  };
  order.sort((a, b) => distance(a) - distance(b) || a - b);
  const jobs = order.map((i) => requests[i] as PositionRequest);
  const call = queuePositionsCall({
    prefix,
    queueName,
    scanLimit,
    lposIds: LPOS_IDS,
    chunk: SCAN_CHUNK,
    maxActive: MAX_ACTIVE_READ,
    indexChunk: rankIndex ? rankIndexChunk : 0,
    jobs,
  });
  let answer: unknown;
  try {
    answer = await runCall(redis, call);
  } catch (error) {
    throw lookupError(error, queueName);
  }
  const snapshot = parseAnswer(queueName, answer, requests.length);
  const places: JobPlace[] = new Array<JobPlace>(requests.length);
  order.forEach((requestIndex, sent) => {
    places[requestIndex] = snapshot.places[sent] as JobPlace;
  });
  return { ...snapshot, places };
}

/**
 * A Redis error of the position script as a coded `STORE_ERROR`. A `CROSSSLOT` (Redis Cluster: the
 * queue's BullMQ keys live in several hash slots, i.e. the queue has no hash tag) says so and how to
 * fix it; `details.redisError` is Redis's first word (`CROSSSLOT`, `NOSCRIPT`, …) when there is one.
 */
function lookupError(error: unknown, queueName: string): SeennError {
  if (error instanceof SeennError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const redisError = /^([A-Z][A-Z_]+)\b/.exec(message)?.[1];
  const details: Record<string, unknown> = { queueName };
  if (redisError !== undefined) details['redisError'] = redisError;
  const text =
    redisError === 'CROSSSLOT'
      ? `queue "${queueName}" has keys in several Redis Cluster hash slots: give it a hash tag (e.g. "{${queueName}}") or the prefix one (e.g. "{bull}")`
      : `queue position lookup failed for queue "${queueName}"`;
  return new SeennError('STORE_ERROR', text, { details, cause: error });
}

function parseAnswer(queueName: string, answer: unknown, count: number): QueueSnapshot {
  const bad = (): SeennError =>
    new SeennError('STORE_ERROR', 'unexpected answer from the queue position script', { details: { queueName } });
  const HEAD = 10;
  if (!Array.isArray(answer) || answer.length < HEAD) throw bad();
  const [
    waiting,
    prioritized,
    paused,
    rateLimitedMs,
    elementsRead,
    active,
    indexState,
    indexHits,
    indexNumbered,
    starts,
  ] = (answer.slice(0, HEAD) as unknown[]).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const first = HEAD + starts;
  if (answer.length !== first + 2 * count) throw bad();
  const activeStartedAtMs = (answer.slice(HEAD, first) as unknown[]).map(Number).filter(Number.isFinite);
  const places: JobPlace[] = [];
  for (let i = 0; i < count; i += 1) {
    const kind = String(answer[first + 2 * i]);
    const value = Number(answer[first + 1 + 2 * i]);
    places.push(placeOf(kind, value, waiting));
  }
  const rankIndex = {
    state: indexState === 2 ? ('complete' as const) : indexState === 1 ? ('building' as const) : ('off' as const),
    hits: indexHits,
    numbered: indexNumbered,
  };
  return {
    queueName,
    waiting,
    prioritized,
    total: waiting + prioritized,
    paused: paused === 1,
    rateLimitedMs,
    elementsRead,
    active,
    activeStartedAtMs,
    rankIndex,
    places,
  };
}

function placeOf(kind: string, value: number, waiting: number): JobPlace {
  switch (kind) {
    case 'w':
      return { state: 'waiting', position: value + 1, hint: { kind: 'wait', distance: value } };
    case 'p':
      return { state: 'prioritized', position: waiting + value + 1, hint: { kind: 'prioritized' } };
    case 'd':
      return { state: 'delayed', runAtMs: value };
    case 'c':
      return { state: 'waiting-children' };
    case 'a':
      return { state: 'active' };
    case 'f':
      return { state: 'finished' };
    case 'x':
      return { state: 'missing' };
    default:
      return { state: 'unknown' };
  }
}

/**
 * The Seenn `queue` object of a placed job, or `undefined` when it has no position. `state` (our
 * addition to Seenn's `{ position, total, queueName }`) says why the queue is not moving: `paused`
 * (`queue.pause()`), else `rate-limited` (a used-up global rate limit or `queue.rateLimit(ms)`;
 * a Worker's own `limiter` is not visible in Redis).
 */
export function queueInfoOf(snapshot: QueueSnapshot, place: JobPlace): QueueInfo | undefined {
  if (place.state !== 'waiting' && place.state !== 'prioritized') return undefined;
  const info: QueueInfo = { position: place.position, total: snapshot.total, queueName: snapshot.queueName };
  if (snapshot.paused) info.state = 'paused';
  else if (snapshot.rateLimitedMs > 0) info.state = 'rate-limited';
  return info;
}
