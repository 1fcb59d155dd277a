/**
 * Lua scripts and how they run: EVALSHA first, EVAL once when Redis does not know the script yet.
 * Each script's header lists its KEYS, ARGV and answers, BullMQ-style.
 */
import { createHash } from 'node:crypto';
import type { RedisConnection } from './connection.js';

/** A Lua script with its SHA-1. */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

/** Wraps Lua source as a {@link LuaScript}. */
export function luaScript(name: string, source: string): LuaScript {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

/** Runs `script` with `keys` and `args`, loading it into Redis when needed. */
export async function runScript(redis: RedisConnection, script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
      return redis.eval(script.source, keys.length, ...keys, ...args);
    }
    throw error;
  }
}

/**
 * applyChanges: commits one or more job snapshots of ONE user and appends their events, atomically.
 *
 * KEYS[1]        the user's replay stream
 * KEYS[2]        the user's job index (sorted set)
 * KEYS[3..2+n]   one snapshot hash per change (n = number of changes)
 * KEYS[3+n..]    children indexes (sorted sets): those changes name by position, and those whose
 *                parent this commit writes (each gets the TTL ARGV[5] gives it)
 * ARGV[1]        Pub/Sub channel for live fan-out ('' = none)
 * ARGV[2]        userId (first line of the published message)
 * ARGV[3]        replay stream MAXLEN (approximate trim)
 * ARGV[4]        replay stream and index TTL in ms
 * ARGV[5]        the TTLs in ms of the children indexes KEYS[3+n..], in order, joined by commas
 * ARGV[6]        the publish command: PUBLISH, or SPUBLISH for a shard channel in the user's slot
 * then 10 ARGV per change:
 *   expectedVersion  the `v` the caller read ('0' when the snapshot did not exist)
 *   src              the source events-stream id applied ('' = none; the stored `s` is kept)
 *   record           the new record JSON, or '+' and the record's `x` JSON when the record's `job` is
 *                    the change's last event payload (the script joins them: the job is sent once)
 *   ttlMs            the snapshot's time to live
 *   eventNames       the SSE events to append, joined by newlines ('' = the change is not visible)
 *   eventData        their single-line JSON payloads, joined by newlines, in the same order
 *   indexScore       '' or a creation time to add the job to the user's index with (member = jobId)
 *   jobId            the job id (index member)
 *   childrenKey      '' or the KEYS position of the parent's children index this job belongs to
 *   childIndex       the job's 0-based index among its parent's children (its score there)
 *
 * Answers: {'conflict'} when a snapshot's version moved (nothing written; read again and retry);
 * {'stale'} when a snapshot already applied `src` or a later source event (nothing written);
 * {'duplicate', jobId} when another job already holds that job's `childIndex` (nothing written);
 * {'ok', id1, id2, …} with the replay stream ids of the events appended, in order.
 * Publishes `userId\nentryId\neventName\neventData` on the channel (with ARGV[6]) for every event appended.
 */
export const applyChangesScript = luaScript(
  'applyChanges',
  `
local function parseId(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function compareIds(a, b)
  local ams, aseq = parseId(a)
  local bms, bseq = parseId(b)
  if ams ~= bms then return ams < bms and -1 or 1 end
  if aseq ~= bseq then return aseq < bseq and -1 or 1 end
  return 0
end
local FIXED = 6
local PER = 10
local n = (#ARGV - FIXED) / PER
for i = 1, n do
  local base = FIXED + (i - 1) * PER
  local current = redis.call('HMGET', KEYS[2 + i], 'v', 's')
  if (current[1] or '0') ~= ARGV[base + 1] then return {'conflict'} end
  local src = ARGV[base + 2]
  if src ~= '' and current[2] and compareIds(current[2], src) >= 0 then return {'stale'} end
  if ARGV[base + 9] ~= '' then
    local holders = redis.call('ZRANGEBYSCORE', KEYS[tonumber(ARGV[base + 9])], ARGV[base + 10], ARGV[base + 10])
    for _, holder in ipairs(holders) do
      if holder ~= ARGV[base + 8] then return {'duplicate', ARGV[base + 8]} end
    end
  end
end
local answer = {'ok'}
for i = 1, n do
  local key = KEYS[2 + i]
  local base = FIXED + (i - 1) * PER
  local version = tonumber(ARGV[base + 1]) + 1
  -- One or more events, names and payloads each joined by newlines (JSON never holds a raw one).
  local payloads = {}
  if ARGV[base + 5] ~= '' then
    for data in string.gmatch(ARGV[base + 6], '[^\\n]+') do payloads[#payloads + 1] = data end
  end
  local record = ARGV[base + 3]
  if string.byte(record, 1) == 43 then
    record = '{"job":' .. payloads[#payloads] .. ',"x":' .. string.sub(record, 2) .. '}'
  end
  if ARGV[base + 2] ~= '' then
    redis.call('HSET', key, 'v', version, 's', ARGV[base + 2], 'r', record)
  else
    redis.call('HSET', key, 'v', version, 'r', record)
  end
  redis.call('PEXPIRE', key, ARGV[base + 4])
  if ARGV[base + 7] ~= '' then
    redis.call('ZADD', KEYS[2], ARGV[base + 7], ARGV[base + 8])
    redis.call('PEXPIRE', KEYS[2], ARGV[4])
  end
  if ARGV[base + 9] ~= '' then
    redis.call('ZADD', KEYS[tonumber(ARGV[base + 9])], ARGV[base + 10], ARGV[base + 8])
  end
  if ARGV[base + 5] ~= '' then
    local k = 0
    for event in string.gmatch(ARGV[base + 5], '[^\\n]+') do
      k = k + 1
      local data = payloads[k]
      local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', event, 'd', data)
      answer[#answer + 1] = id
      if ARGV[1] ~= '' then
        redis.call(ARGV[6], ARGV[1], ARGV[2] .. '\\n' .. id .. '\\n' .. event .. '\\n' .. data)
      end
    end
  end
end
if #answer > 1 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
local c = 2 + n
for ttl in string.gmatch(ARGV[5], '[^,]+') do
  c = c + 1
  redis.call('PEXPIRE', KEYS[c], ttl)
end
return answer
`,
);


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
