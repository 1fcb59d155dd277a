/** The output scripts (see their headers) and their argument encoders; run by `store/output-store.ts`. */
import { luaScript, type ScriptCall } from '../scripts.js';

/**
 * appendOutput: appends chunks to one output stream of one job, within the job's bounds, atomically.
 *
 * KEYS[1]   the job's output totals (hash: `b` bytes, `c` chunks, `s:<stream>` each stream's length)
 * KEYS[2]   the output stream (list of chunk JSON; a chunk's `seq` is its index)
 * KEYS[3]   the job's snapshot (only its TTL is read)
 * ARGV[1]   Pub/Sub channel for live fan-out ('' = none): the one job changes go to (applyChanges)
 * ARGV[2]   userId, ARGV[3] jobId, ARGV[4] stream name (the published message's first lines)
 * ARGV[5]   maxOutputBytes, ARGV[6] maxOutputChunks (over all the job's streams)
 * ARGV[7]   TTL in ms when the snapshot has none (it does not exist yet, or never expires)
 * ARGV[8]   the publish command: PUBLISH, or SPUBLISH for a shard channel in the user's slot
 * ARGV[9..] the chunks' JSON, in order
 *
 * Chunks are taken in order until the next one would pass a bound; the rest are refused (none is
 * skipped over). The totals and stream take the snapshot's remaining TTL.
 * Answers {firstSeq, accepted, bytes, chunks}: the seq of the first chunk taken (the stream's length
 * before), how many were taken, and the job's totals after.
 * Publishes `userId\n>output\njobId\nstream\nfirstSeq\nchunk1\nchunk2…` on the channel when any was
 * taken (`>output` where a job change has its entry id, so bridges tell the two apart).
 */
export const appendOutputScript = luaScript(
  'appendOutput',
  `
local totals = redis.call('HMGET', KEYS[1], 'b', 'c')
local bytes = tonumber(totals[1] or '0')
local count = tonumber(totals[2] or '0')
local maxBytes = tonumber(ARGV[5])
local maxChunks = tonumber(ARGV[6])
local first = redis.call('LLEN', KEYS[2])
local taken = {}
for i = 9, #ARGV do
  local size = string.len(ARGV[i])
  if bytes + size > maxBytes or count + 1 > maxChunks then break end
  bytes = bytes + size
  count = count + 1
  taken[#taken + 1] = ARGV[i]
end
if #taken > 0 then
  redis.call('RPUSH', KEYS[2], unpack(taken))
  redis.call('HSET', KEYS[1], 'b', bytes, 'c', count, 's:' .. ARGV[4], first + #taken)
  local ttl = redis.call('PTTL', KEYS[3])
  if ttl <= 0 then ttl = tonumber(ARGV[7]) end
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  if ARGV[1] ~= '' then
    redis.call(ARGV[8], ARGV[1], ARGV[2] .. '\\n>output\\n' .. ARGV[3] .. '\\n' .. ARGV[4] .. '\\n' .. first .. '\\n' .. table.concat(taken, '\\n'))
  end
end
return {first, #taken, bytes, count}
`,
);

/**
 * expireOutput: gives a job's output keys the TTL of its snapshot (when the job has ended, its
 * snapshot's TTL shrinks to `finishedJobSeconds`: its output follows), or a given TTL.
 *
 * KEYS[1]   the job's snapshot
 * KEYS[2..] the job's output keys (totals hash and stream lists)
 * ARGV[1]   the TTL in ms to set, or '' for the snapshot's remaining TTL
 *
 * With '' and no snapshot (expired, or never written), the output keys are deleted. Answers the TTL
 * set in ms (0 when deleted, -1 when the snapshot never expires: nothing changed).
 */
export const expireOutputScript = luaScript(
  'expireOutput',
  `
local ttl
if ARGV[1] ~= '' then
  ttl = tonumber(ARGV[1])
else
  ttl = redis.call('PTTL', KEYS[1])
  if ttl == -1 then return -1 end
end
for i = 2, #KEYS do
  if ttl <= 0 then redis.call('DEL', KEYS[i]) else redis.call('PEXPIRE', KEYS[i], ttl) end
end
return math.max(ttl, 0)
`,
);

/** The named arguments of {@link appendOutputScript}. */
export interface AppendOutputArgs {
  /** KEYS[1]: the job's output totals hash. */
  totals: string;
  /** KEYS[2]: the output stream list. */
  stream: string;
  /** KEYS[3]: the job's snapshot (only its TTL is read). */
  snapshot: string;
  /** ARGV[1]: the Pub/Sub channel ('' = none). */
  channel: string;
  /** ARGV[2]. */
  userId: string;
  /** ARGV[3]. */
  jobId: string;
  /** ARGV[4]: the stream's name. */
  streamName: string;
  /** ARGV[5]. */
  maxOutputBytes: number;
  /** ARGV[6]. */
  maxOutputChunks: number;
  /** ARGV[7]: TTL in ms when the snapshot has none. */
  fallbackTtlMs: number;
  /** ARGV[8]. */
  publishCommand: 'PUBLISH' | 'SPUBLISH';
  /** ARGV[9..]: the chunks' JSON, in order. */
  chunks: readonly string[];
}

/** Encodes {@link AppendOutputArgs} as the KEYS/ARGV of {@link appendOutputScript}. */
export function appendOutputCall(a: AppendOutputArgs): ScriptCall {
  return {
    script: appendOutputScript,
    keys: [a.totals, a.stream, a.snapshot],
    args: [
      a.channel,
      a.userId,
      a.jobId,
      a.streamName,
      a.maxOutputBytes,
      a.maxOutputChunks,
      a.fallbackTtlMs,
      a.publishCommand,
      ...a.chunks,
    ],
  };
}

/** The named arguments of {@link expireOutputScript}. */
export interface ExpireOutputArgs {
  /** KEYS[1]: the job's snapshot. */
  snapshot: string;
  /** KEYS[2..]: the job's output keys (totals hash and stream lists). */
  outputKeys: readonly string[];
  /** ARGV[1]: the TTL in ms to set; undefined for the snapshot's remaining TTL. */
  ttlMs: number | undefined;
}

/** Encodes {@link ExpireOutputArgs} as the KEYS/ARGV of {@link expireOutputScript}. */
export function expireOutputCall(a: ExpireOutputArgs): ScriptCall {
  return { script: expireOutputScript, keys: [a.snapshot, ...a.outputKeys], args: [a.ttlMs ?? ''] };
}
