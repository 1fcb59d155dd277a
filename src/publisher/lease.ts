/**
 * Partitions, their leases and their checkpoints. A queue's jobs are split into a fixed number of
 * partitions by a hash of the BullMQ job id; each partition has a lease (one publisher process reads
 * it at a time) and a checkpoint (where the next holder resumes). Publisher processes of a queue
 * register in a membership set, and each takes its fair share of the partitions (`ceil(partitions /
 * processes)`), so work spreads when a process joins and is taken over when one dies or leaves. Every
 * key is in the queue's slot: each step is one script, also on Redis Cluster.
 */
import type { SeennKeys } from '../store/keys.js';
import { fnv1a32 } from '../store/keys.js';
import type { RedisConnection } from '../store/connection.js';
import { luaScript, runScript } from '../store/scripts.js';

/** The partition (0 … `count` − 1) a BullMQ job id falls into. */
export function partitionOf(bullId: string, count: number): number {
  return fnv1a32(bullId) % count;
}

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
const syncLeasesScript = luaScript(
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
const advanceCheckpointsScript = luaScript(
  'advanceCheckpoints',
  `
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function before(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
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

/** The lease keys of every partition of a queue, in partition order. */
function leaseKeys(keys: SeennKeys, queueName: string, count: number): string[] {
  return Array.from({ length: count }, (_, partition) => keys.lease(queueName, partition));
}

/**
 * The number of partitions of a queue: the first publisher to read it sets `wanted`; every later one
 * gets that stored number whatever it asked for (partitions cannot change while checkpoints exist).
 */
export async function partitionCount(redis: RedisConnection, keys: SeennKeys, queueName: string, wanted: number): Promise<number> {
  const key = keys.partitionCount(queueName);
  await redis.set(key, String(wanted), 'NX');
  return storedCount(await redis.get(key), wanted);
}

/** A partition count as stored, or `fallback` when none (or no valid one) is stored. */
function storedCount(stored: string | null, fallback: number): number {
  const count = Number(stored);
  return Number.isInteger(count) && count > 0 ? count : fallback;
}

/** How {@link syncLeases} treats the partitions: renew only, move toward the fair share, or give all up. */
export type LeaseMode = 'keep' | 'balance' | 'leave';

/** What {@link syncLeases} answers. */
export interface LeaseSync {
  /** The partitions held afterwards, ascending. */
  held: number[];
  /** Fewer than a fair share is held while a partition is free or another process holds more than its share: try again soon. */
  owed: boolean;
}

/** Renews the partition leases held; heartbeats membership and balances them (`balance`), or gives them all up (`leave`). */
export async function syncLeases(redis: RedisConnection, keys: SeennKeys, queueName: string, count: number, owner: string, leaseMs: number, mode: LeaseMode): Promise<LeaseSync> {
  const [held, owed] = (await runScript(redis, syncLeasesScript, [keys.publishers(queueName), ...leaseKeys(keys, queueName, count)], [owner, leaseMs, mode])) as [number[], number];
  return { held: held.map(Number).sort((a, b) => a - b), owed: owed === 1 };
}

/** Moves the checkpoints of `partitions` (held by `owner`) forward to `id`, and the queue's overall one after them. */
export async function advanceCheckpoints(redis: RedisConnection, keys: SeennKeys, queueName: string, count: number, owner: string, id: string, partitions: readonly number[]): Promise<void> {
  const scriptKeys = [keys.checkpoint(queueName), keys.partitionCheckpoints(queueName), ...leaseKeys(keys, queueName, count)];
  await runScript(redis, advanceCheckpointsScript, scriptKeys, [owner, id, ...partitions]);
}

/** Every partition's checkpoint (`null`: never read), counting a partition never checkpointed from the overall checkpoint. */
export async function readCheckpoints(redis: RedisConnection, keys: SeennKeys, queueName: string, count: number): Promise<(string | null)[]> {
  const [overall, byPartition] = await Promise.all([redis.get(keys.checkpoint(queueName)), redis.hgetall(keys.partitionCheckpoints(queueName))]);
  const valid = (id: string | null | undefined): string | null => (id !== null && id !== undefined && /^\d+-\d+$/.test(id) ? id : null);
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
export async function readPartitionLeases(redis: RedisConnection, keys: SeennKeys, queueName: string, defaultCount: number): Promise<PartitionLeases> {
  const total = storedCount(await redis.get(keys.partitionCount(queueName)), defaultCount);
  const lease = leaseKeys(keys, queueName, total);
  const [holders, ttls] = await Promise.all([Promise.all(lease.map((key) => redis.get(key))), Promise.all(lease.map((key) => redis.pttl(key)))]);
  return { total, holders, expiresInMs: ttls.map((ttl, i) => (holders[i] === null || ttl < 0 ? null : ttl)) };
}
