/**
 * Job output in Redis: per job, one list per stream (a chunk's `seq` is its index) and one hash of
 * totals, all in the job's user's slot beside the snapshot, living as long as the snapshot did when
 * the last chunk came. Appends go through one Lua script (`appendOutput`, `store/lua/output.ts`) that enforces
 * the bounds and publishes the chunks for live fan-out; reads are plain commands. Nothing here
 * touches the user's replay stream.
 */
import { SeennError } from '../errors.js';
import type { ResolvedOutputOptions } from '../model/output.js';
import type { RedisConnection } from './connection.js';
import type { SeennKeys } from './keys.js';
import { liveFanout } from './live-fanout.js';
import { runCall } from './scripts.js';
import { appendOutputCall, expireOutputCall } from './lua/output.js';

/** What one {@link OutputStore.append} did. */
export interface AppendResult {
  /** The seq of the first chunk taken (the stream's length before the call). */
  firstSeq: number;
  /** How many chunks were taken, from the first; the rest passed a bound and were refused. */
  accepted: number;
  /** The job's output bytes after the call, over all its streams. */
  bytes: number;
  /** The job's output chunks after the call, over all its streams. */
  chunks: number;
}

/** A page of one stream: chunk JSON from `firstSeq` on, and how many the stream holds. */
export interface OutputPage {
  firstSeq: number;
  /** Chunk JSON, in seq order. */
  chunks: string[];
  /** The stream's length (the next seq to be written). */
  length: number;
}

/** A live output notification (one appendOutput script's chunks). */
export interface OutputNotification {
  userId: string;
  jobId: string;
  stream: string;
  firstSeq: number;
  /** Chunk JSON, in seq order. */
  chunks: string[];
}

/** The most chunks sent to Redis in one script call (Lua's `unpack` has a stack limit). */
export const OUTPUT_APPEND_BATCH = 1_000;

/** Reads and writes job output. Holds no state of its own. */
export class OutputStore {
  /**
   * @param redis - a connection this store may use (never closed by it)
   * @param keys - the key builder
   * @param limits - the bounds per job
   * @param fallbackTtlSeconds - how long output lives when the job's snapshot has no TTL yet
   */
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: SeennKeys,
    private readonly limits: Pick<ResolvedOutputOptions, 'maxOutputBytes' | 'maxOutputChunks'>,
    private readonly fallbackTtlSeconds: number,
  ) {}

  /** Appends chunk JSON (at most {@link OUTPUT_APPEND_BATCH}) to a stream of a job, in order, within the bounds. */
  async append(userId: string, jobId: string, stream: string, chunks: readonly string[]): Promise<AppendResult> {
    if (chunks.length === 0 || chunks.length > OUTPUT_APPEND_BATCH)
      throw new SeennError('INTERNAL_ERROR', `append takes 1 to ${OUTPUT_APPEND_BATCH} chunks`, {
        details: { chunks: chunks.length },
      });
    // Chunks go out where the user's job changes go (see `live-fanout.ts`), so bridges need no other subscription.
    const sharded = (await liveFanout(this.redis)) === 'sharded';
    const channel = sharded ? this.keys.liveShardChannel(userId) : this.keys.liveChannel();
    const answer = (await runCall(
      this.redis,
      appendOutputCall({
        totals: this.keys.output(userId, jobId),
        stream: this.keys.outputStream(userId, jobId, stream),
        snapshot: this.keys.job(userId, jobId),
        channel,
        userId,
        jobId,
        streamName: stream,
        maxOutputBytes: this.limits.maxOutputBytes,
        maxOutputChunks: this.limits.maxOutputChunks,
        fallbackTtlMs: this.fallbackTtlSeconds * 1000,
        publishCommand: sharded ? 'SPUBLISH' : 'PUBLISH',
        chunks,
      }),
    )) as unknown[];
    const [firstSeq, accepted, bytes, total] = answer.map(Number);
    if (![firstSeq, accepted, bytes, total].every((value) => Number.isInteger(value)))
      throw new SeennError('STORE_ERROR', 'unexpected answer from appendOutput', { details: { answer } });
    return {
      firstSeq: firstSeq as number,
      accepted: accepted as number,
      bytes: bytes as number,
      chunks: total as number,
    };
  }

  /**
   * Gives a job's output keys the TTL of its snapshot as it is now (deleting them when the snapshot is
   * gone), or `ttlMs` when given: called when the job ends, so its output lives as long as it does.
   * Returns the TTL set in ms (0: deleted; -1: the snapshot never expires, nothing changed).
   */
  async expire(userId: string, jobId: string, ttlMs?: number): Promise<number> {
    const totals = this.keys.output(userId, jobId);
    const fields = await this.redis.hkeys(totals);
    const streams = fields
      .filter((field) => field.startsWith('s:'))
      .map((field) => this.keys.outputStream(userId, jobId, field.slice(2)));
    if (fields.length === 0) return 0;
    return Number(
      await runCall(
        this.redis,
        expireOutputCall({ snapshot: this.keys.job(userId, jobId), outputKeys: [totals, ...streams], ttlMs }),
      ),
    );
  }

  /** Up to `limit` chunks of a stream with seq > `after` (`-1`: from the start), and the stream's length. */
  async read(userId: string, jobId: string, stream: string, after: number, limit: number): Promise<OutputPage> {
    const key = this.keys.outputStream(userId, jobId, stream);
    const firstSeq = after + 1;
    const replies = await this.redis
      .pipeline()
      .lrange(key, firstSeq, firstSeq + limit - 1)
      .llen(key)
      .exec();
    if (replies === null) throw new SeennError('STORE_ERROR', 'could not read job output');
    const [[rangeError, chunks], [lengthError, length]] = replies as [[Error | null, string[]], [Error | null, number]];
    if (rangeError !== null || lengthError !== null)
      throw new SeennError('STORE_ERROR', 'could not read job output', { cause: rangeError ?? lengthError });
    return { firstSeq, chunks, length };
  }
}

/** The second line of an output notification, where a job change's has its entry id. */
export const OUTPUT_NOTIFICATION_MARK = '>output';

/** Whether a live notification carries output (`userId\n>output\n…`) rather than a job change. */
export function isOutputNotification(message: string): boolean {
  const newline = message.indexOf('\n');
  return newline >= 0 && message.startsWith(`${OUTPUT_NOTIFICATION_MARK}\n`, newline + 1);
}

/** Parses an output notification (see `appendOutput` in `store/lua/output.ts`), or returns `null` when it is malformed. */
export function parseOutputNotification(message: string): OutputNotification | null {
  const lines = message.split('\n');
  if (lines.length < 6 || lines[1] !== OUTPUT_NOTIFICATION_MARK) return null;
  const [userId, , jobId, stream, seqText] = lines as [string, string, string, string, string];
  const firstSeq = Number(seqText);
  if (userId === '' || jobId === '' || stream === '' || !/^\d+$/.test(seqText)) return null;
  return { userId, jobId, stream, firstSeq, chunks: lines.slice(5) };
}
