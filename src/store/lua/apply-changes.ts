/** The applyChanges script (see its header); run by `store/job-store.ts`. */
import { luaScript, type ScriptCall } from '../scripts.js';
import { LUA_COMPARE_STREAM_IDS } from './stream-ids.js';

/**
 * applyChanges: commits one or more job snapshots of ONE user and appends their events, atomically.
 *
 * KEYS[1]        the user's replay stream
 * KEYS[2]        the user's job index (sorted set)
 * KEYS[3]        the user's unfinished-job index (sorted set, a subset of KEYS[2])
 * KEYS[4]        the user's finished-job index (sorted set: job ids scored by the time they finished,
 *                and the member '' scored by the instant since which the index holds every job that
 *                finished — see below)
 * KEYS[5..4+n]   one snapshot hash per change (n = number of changes)
 * KEYS[5+n..]    children indexes (sorted sets): those changes name by position, and those whose
 *                parent this commit writes (each gets the TTL ARGV[5] gives it)
 * ARGV[1]        Pub/Sub channel for live fan-out ('' = none)
 * ARGV[2]        userId (first line of the published message)
 * ARGV[3]        replay stream MAXLEN (approximate trim)
 * ARGV[4]        replay stream and job index TTL in ms (the finished-job index lives 1.25 times it
 *                after its last trim, and at first until its first trim)
 * ARGV[5]        the TTLs in ms of the children indexes KEYS[5+n..], in order, joined by commas
 * ARGV[6]        the publish command: PUBLISH, or SPUBLISH for a shard channel in the user's slot
 * ARGV[7]        n, the number of changes
 * ARGV[8]        how long an unfinished job's snapshot lives after its last write, in ms
 * then per change 11 ARGV and 2 per event (each change starts where the one before ends):
 *   expectedVersion  the `v` the caller read ('0' when the snapshot did not exist)
 *   src              the source events-stream id applied ('' = none; the stored `s` is kept)
 *   record           the new record JSON, or '+' and the record's `x` JSON when the record's `job` is
 *                    the change's last event payload (the script joins them: the job is sent once)
 *   ttlMs            the snapshot's time to live
 *   indexScore       '' or a creation time to add the job to the user's index with (member = jobId)
 *   jobId            the job id (index member)
 *   childrenKey      '' or the KEYS position of the parent's children index this job belongs to
 *   childIndex       the job's 0-based index among its parent's children (its score there)
 *   openScore        '' when the job is finished, else its creation time: the job's score in the
 *                    unfinished-job index. The snapshot's `o` field says whether the index holds the
 *                    job ('1'); the index is written only when that changes (a job's first write,
 *                    its end, or a snapshot written before `o` existed).
 *   doneScore        '' while the job is unfinished, else the time it finished (epoch ms): its score in
 *                    the finished-job index, which it joins when it stops being unfinished and leaves
 *                    when it starts again (a retry).
 *   eventCount       the number of SSE events to append (0 = the change is not visible)
 *   then eventCount pairs: the SSE event name and its single-line JSON payload, in order
 *
 * The finished-job index holds only jobs this script ended, so its member '' says since when a reader
 * may trust both indexes: it is added when a commit first writes either index of a user whose
 * finished-job index lacks it — at 0 when the user's job index does not exist yet (no job of theirs
 * was ever written without these indexes), else at the server's current time plus ARGV[8] (jobs that
 * finished before may be missing from this index, and jobs still unfinished then from the other
 * until their next change, at the latest when their snapshot expires) — and raised to the trim
 * horizon when entries that finished more than ARGV[4] before the job ending now are trimmed (when
 * that horizon is an eighth of ARGV[4] past ''). A reader trusts the indexes for jobs that finished
 * from that instant on, and reads the job index for anything older.
 *
 * Answers: {'conflict'} when a snapshot's version moved (nothing written; read again and retry);
 * {'stale'} when a snapshot already applied `src` or a later source event (nothing written);
 * {'duplicate', jobId} when another job already holds that job's `childIndex` (nothing written);
 * {'ok', id1, id2, …} with the replay stream ids of the events appended, in order.
 * Publishes ONE message per call (with ARGV[6]) when it appended events: `userId` and then, for each
 * event in order, `entryId`, `eventName` and `eventData`, all joined by newlines (a message of one
 * event is `userId\nentryId\neventName\neventData`; `store/live-fanout.ts` splits them).
 */
export const applyChangesScript = luaScript(
  'applyChanges',
  `${LUA_COMPARE_STREAM_IDS}
local n = tonumber(ARGV[7])
-- Where each change's arguments start (the one before the first of its 11).
local bases = {}
local at = 8
for i = 1, n do
  bases[i] = at
  at = at + 11 + 2 * tonumber(ARGV[at + 11])
end
-- Whether the unfinished-job index holds each job ('1'), as its snapshot says, whether it should
-- ('1' unless it is finished), and whether any job moves between the unfinished and finished indexes.
local listed = {}
local opens = {}
local moves = false
for i = 1, n do
  local base = bases[i]
  local current = redis.call('HMGET', KEYS[4 + i], 'v', 's', 'o')
  listed[i] = current[3]
  opens[i] = ARGV[base + 9] ~= '' and '1' or '0'
  if opens[i] ~= listed[i] then moves = true end
  if (current[1] or '0') ~= ARGV[base + 1] then return {'conflict'} end
  local src = ARGV[base + 2]
  if src ~= '' and current[2] and compareStreamIds(current[2], src) >= 0 then return {'stale'} end
  if ARGV[base + 7] ~= '' then
    local holders = redis.call('ZRANGEBYSCORE', KEYS[tonumber(ARGV[base + 7])], ARGV[base + 8], ARGV[base + 8])
    for _, holder in ipairs(holders) do
      if holder ~= ARGV[base + 6] then return {'duplicate', ARGV[base + 6]} end
    end
  end
end
-- Since when a reader may trust the job indexes (the header tells why 0, or now plus ARGV[8]).
local since = nil
if moves then
  local stored = redis.call('ZSCORE', KEYS[4], '')
  if stored then
    since = tonumber(stored)
  else
    since = 0
    -- It lives until its first trim at least (that trim renews it).
    local ttl = math.floor(tonumber(ARGV[4]) * 1.25)
    if redis.call('EXISTS', KEYS[2]) == 1 then
      local now = redis.call('TIME')
      since = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[8])
      ttl = ttl + tonumber(ARGV[8])
    end
    redis.call('ZADD', KEYS[4], since, '')
    redis.call('PEXPIRE', KEYS[4], ttl)
  end
end
local answer = {'ok'}
-- The live message: the user, then id, name and payload of each event appended.
local message = {ARGV[2]}
local publish = ARGV[1] ~= ''
for i = 1, n do
  local key = KEYS[4 + i]
  local base = bases[i]
  local events = tonumber(ARGV[base + 11])
  local version = tonumber(ARGV[base + 1]) + 1
  local record = ARGV[base + 3]
  if string.byte(record, 1) == 43 then
    record = '{"job":' .. ARGV[base + 11 + 2 * events] .. ',"x":' .. string.sub(record, 2) .. '}'
  end
  local open = opens[i]
  if open == listed[i] then
    if ARGV[base + 2] ~= '' then
      redis.call('HSET', key, 'v', version, 's', ARGV[base + 2], 'r', record)
    else
      redis.call('HSET', key, 'v', version, 'r', record)
    end
  else
    if ARGV[base + 2] ~= '' then
      redis.call('HSET', key, 'v', version, 's', ARGV[base + 2], 'r', record, 'o', open)
    else
      redis.call('HSET', key, 'v', version, 'r', record, 'o', open)
    end
    if open == '1' then
      redis.call('ZADD', KEYS[3], ARGV[base + 9], ARGV[base + 6])
      redis.call('PEXPIRE', KEYS[3], ARGV[base + 4])
      if listed[i] == '0' then redis.call('ZREM', KEYS[4], ARGV[base + 6]) end
    else
      redis.call('ZREM', KEYS[3], ARGV[base + 6])
      local done = tonumber(ARGV[base + 10])
      redis.call('ZADD', KEYS[4], done, ARGV[base + 6])
      -- Now and then (when the horizon has moved an eighth of the TTL on), the entries older than
      -- the TTL go, '' rises to the horizon and the index's TTL is renewed (with a quarter to spare,
      -- so it outlives the next trim): not a PEXPIRE per job.
      local ttl = tonumber(ARGV[4])
      local horizon = done - ttl
      if since < horizon - ttl / 8 then
        redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. horizon)
        redis.call('ZADD', KEYS[4], horizon, '')
        redis.call('PEXPIRE', KEYS[4], math.floor(ttl * 1.25))
        since = horizon
      end
    end
  end
  redis.call('PEXPIRE', key, ARGV[base + 4])
  if ARGV[base + 5] ~= '' then
    redis.call('ZADD', KEYS[2], ARGV[base + 5], ARGV[base + 6])
    redis.call('PEXPIRE', KEYS[2], ARGV[4])
  end
  if ARGV[base + 7] ~= '' then
    redis.call('ZADD', KEYS[tonumber(ARGV[base + 7])], ARGV[base + 8], ARGV[base + 6])
  end
  for k = 1, events do
    local event = ARGV[base + 10 + 2 * k]
    local data = ARGV[base + 11 + 2 * k]
    local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', event, 'd', data)
    answer[#answer + 1] = id
    if publish then
      local m = #message
      message[m + 1] = id
      message[m + 2] = event
      message[m + 3] = data
    end
  end
end
if #answer > 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  if publish then redis.call(ARGV[6], ARGV[1], table.concat(message, '\\n')) end
end
local c = 4 + n
for ttl in string.gmatch(ARGV[5], '[^,]+') do
  c = c + 1
  redis.call('PEXPIRE', KEYS[c], ttl)
end
return answer
`,
);

/** One change of {@link ApplyChangesArgs}: one snapshot, its events and its index entries. */
export interface ApplyChange {
  /** KEYS[4+i]: the snapshot hash. */
  snapshot: string;
  /** The `v` the caller read (0 when the snapshot did not exist). */
  expectedVersion: number;
  /** The source events-stream id applied; undefined = none (the stored `s` is kept). */
  src: string | undefined;
  /** The new record JSON, or `+` and the record's `x` JSON (the script joins the last event's payload in as `job`). */
  record: string;
  /** The snapshot's time to live in ms. */
  ttlMs: number;
  /** The SSE events to append, in order (none: the change is not visible); each `data` is single-line JSON. */
  events: readonly { name: string; data: string }[];
  /** A creation time (epoch ms) to add the job to the user's index with; undefined = not indexed. */
  indexScore: number | undefined;
  /** The job's creation time (epoch ms) while it is unfinished (its unfinished-job index score); undefined once finished. */
  openScore: number | undefined;
  /** When the job finished (epoch ms; its finished-job index score); undefined while it is unfinished. */
  doneScore: number | undefined;
  /** The job id (index member). */
  jobId: string;
  /** The parent's children index this job belongs to (one of {@link ApplyChangesArgs.childrenIndexes}), with the job's index among its parent's children. */
  child: { index: string; childIndex: number } | undefined;
}

/** The named arguments of {@link applyChangesScript}. */
export interface ApplyChangesArgs {
  /** KEYS[1]: the user's replay stream. */
  stream: string;
  /** KEYS[2]: the user's job index. */
  userJobs: string;
  /** KEYS[3]: the user's unfinished-job index. */
  openJobs: string;
  /** KEYS[4]: the user's finished-job index. */
  finishedJobs: string;
  /** ARGV[1]: the Pub/Sub channel for live fan-out ('' = none). */
  channel: string;
  /** ARGV[2]. */
  userId: string;
  /** ARGV[3]: the replay stream's MAXLEN. */
  replayMaxEntries: number;
  /** ARGV[4]: the replay stream and index TTL in ms. */
  replayTtlMs: number;
  /** ARGV[6]. */
  publishCommand: 'PUBLISH' | 'SPUBLISH';
  /** ARGV[8]: how long an unfinished job's snapshot lives after its last write, in ms. */
  activeJobTtlMs: number;
  /** KEYS[5..4+n] and 11 ARGV each, plus 2 per event. */
  changes: readonly ApplyChange[];
  /** KEYS[5+n..] and ARGV[5]: the children indexes the changes name, and those of parents this commit writes, each with its TTL in ms. */
  childrenIndexes: readonly { key: string; ttlMs: number }[];
}

/** Encodes {@link ApplyChangesArgs} as the KEYS/ARGV of {@link applyChangesScript}. */
export function applyChangesCall(a: ApplyChangesArgs): ScriptCall {
  const n = a.changes.length;
  // KEYS positions are 1-based and the children indexes follow the 4 + n fixed and snapshot keys.
  const position = new Map(a.childrenIndexes.map(({ key }, at) => [key, 5 + n + at]));
  const keys = [a.stream, a.userJobs, a.openJobs, a.finishedJobs];
  const args: (string | number)[] = [
    a.channel,
    a.userId,
    a.replayMaxEntries,
    a.replayTtlMs,
    a.childrenIndexes.map(({ ttlMs }) => ttlMs).join(','),
    a.publishCommand,
    n,
    a.activeJobTtlMs,
  ];
  for (const change of a.changes) {
    keys.push(change.snapshot);
    let childrenKey: number | '' = '';
    if (change.child !== undefined) {
      const at = position.get(change.child.index);
      if (at === undefined)
        throw new Error(`applyChanges: children index ${change.child.index} is not in childrenIndexes`);
      childrenKey = at;
    }
    args.push(
      change.expectedVersion,
      change.src ?? '',
      change.record,
      change.ttlMs,
      change.indexScore ?? '',
      change.jobId,
      childrenKey,
      change.child?.childIndex ?? '',
      change.openScore ?? '',
      change.doneScore ?? '',
      change.events.length,
    );
    for (const event of change.events) args.push(event.name, event.data);
  }
  for (const { key } of a.childrenIndexes) keys.push(key);
  return { script: applyChangesScript, keys, args };
}
