/**
 * The partition-lease scripts of the publisher (`publisher/lease.ts` holds the logic around them):
 * every key is in the queue's slot (see `store/keys.ts`), so each step is one script, also on Redis
 * Cluster.
 */
import { luaScript, type ScriptCall } from '../scripts.js';
import { LUA_COMPARE_STREAM_IDS } from './stream-ids.js';

/** How {@link syncLeasesScript} treats the partitions: renew only, move toward the fair share, or give all up. */
export type LeaseMode = 'keep' | 'balance' | 'leave';

/**
 * syncLeases: renews the leases this process holds; in `balance` mode (only the reading loop, so a
 * process whose loop is stuck stops counting as a member) also heartbeats its membership and gives
 * up or takes partitions to reach its fair share; in `leave` mode, gives everything up.
 * KEYS[1] membership zset; KEYS[2..] the partitions' lease keys, in partition order.
 * ARGV[1] owner token; ARGV[2] lease ms; ARGV[3] `keep` | `balance` | `leave`.
 * Answers `{ held, owed }`: the partitions the owner holds afterwards, and 1 when it holds fewer than
 * its share while some partition is free or some process holds more than its share (so it should
 * try again soon), else 0.
 */
export const syncLeasesScript = luaScript(
  'syncLeases',
  `
local owner, leaseMs, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if mode == 'leave' then
  redis.call('ZREM', KEYS[1], owner)
  for i = 2, #KEYS do
    if redis.call('GET', KEYS[i]) == owner then redis.call('DEL', KEYS[i]) end
  end
  return {{}, 0}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if mode == 'balance' then redis.call('ZADD', KEYS[1], now + leaseMs, owner) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held, free, counts = {}, {}, {}
for i = 2, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder == owner then held[#held + 1] = i elseif holder == false then free[#free + 1] = i end
  if holder then counts[holder] = (counts[holder] or 0) + 1 end
end
local target = math.ceil((#KEYS - 1) / redis.call('ZCARD', KEYS[1]))
local f = 1
if mode == 'balance' then
  while #held > target do
    redis.call('DEL', KEYS[held[#held]])
    held[#held] = nil
  end
  while #held < target and f <= #free do
    held[#held + 1] = free[f]
    f = f + 1
  end
end
local result = {}
for _, i in ipairs(held) do
  redis.call('SET', KEYS[i], owner, 'PX', leaseMs)
  result[#result + 1] = i - 2
end
local owed = 0
if #held < target then
  if f <= #free then owed = 1 end
  for holder, count in pairs(counts) do
    if holder ~= owner and count > target then owed = 1 end
  end
end
return {result, owed}
`,
);

/**
 * advanceCheckpoints: moves the checkpoints of the given partitions forward to a stream id (never
 * back, and only where `owner` still holds the lease), then the queue's overall checkpoint to the
 * oldest partition checkpoint. A partition never checkpointed counts from the overall checkpoint
 * (where a publisher without partitions left off).
 * KEYS[1] overall checkpoint; KEYS[2] partition checkpoints hash; KEYS[3..] lease keys in partition order.
 * ARGV[1] owner; ARGV[2] stream id; ARGV[3..] partitions. Answers the oldest partition checkpoint.
 */
export const advanceCheckpointsScript = luaScript(
  'advanceCheckpoints',
  `${LUA_COMPARE_STREAM_IDS}
local function before(a, b)
  return compareStreamIds(a, b) < 0
end
local overall = redis.call('GET', KEYS[1]) or '0-0'
for i = 3, #ARGV do
  local p = ARGV[i]
  if redis.call('GET', KEYS[3 + tonumber(p)]) == ARGV[1] then
    local current = redis.call('HGET', KEYS[2], p) or overall
    if before(current, ARGV[2]) then redis.call('HSET', KEYS[2], p, ARGV[2]) end
  end
end
local oldest = nil
for p = 0, #KEYS - 3 do
  local id = redis.call('HGET', KEYS[2], tostring(p)) or overall
  if oldest == nil or before(id, oldest) then oldest = id end
end
if before(overall, oldest) then redis.call('SET', KEYS[1], oldest) end
return oldest
`,
);

/** The named arguments of {@link syncLeasesScript}. */
export interface SyncLeasesArgs {
  /** KEYS[1]: the queue's publisher membership zset. */
  membership: string;
  /** KEYS[2..]: the partitions' lease keys, in partition order. */
  leases: readonly string[];
  /** ARGV[1]: the owner token of this process. */
  owner: string;
  /** ARGV[2]: the lease time in ms. */
  leaseMs: number;
  /** ARGV[3]. */
  mode: LeaseMode;
}

/** Encodes {@link SyncLeasesArgs} as the KEYS/ARGV of {@link syncLeasesScript}. */
export function syncLeasesCall(a: SyncLeasesArgs): ScriptCall {
  return { script: syncLeasesScript, keys: [a.membership, ...a.leases], args: [a.owner, a.leaseMs, a.mode] };
}

/** The named arguments of {@link advanceCheckpointsScript}. */
export interface AdvanceCheckpointsArgs {
  /** KEYS[1]: the queue's overall checkpoint. */
  checkpoint: string;
  /** KEYS[2]: the hash of partition checkpoints. */
  partitionCheckpoints: string;
  /** KEYS[3..]: every partition's lease key, in partition order. */
  leases: readonly string[];
  /** ARGV[1]: the owner that must still hold each partition's lease. */
  owner: string;
  /** ARGV[2]: the events-stream id to move to. */
  id: string;
  /** ARGV[3..]: the partitions to move. */
  partitions: readonly number[];
}

/** Encodes {@link AdvanceCheckpointsArgs} as the KEYS/ARGV of {@link advanceCheckpointsScript}. */
export function advanceCheckpointsCall(a: AdvanceCheckpointsArgs): ScriptCall {
  return {
    script: advanceCheckpointsScript,
    keys: [a.checkpoint, a.partitionCheckpoints, ...a.leases],
    args: [a.owner, a.id, ...a.partitions],
  };
}
