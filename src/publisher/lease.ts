/**
 * The per-queue lease (one active publisher per queue) and the checkpoint that lets a publisher
 * resume where the last one stopped. Both are single keys, so they work on Redis Cluster.
 */
import type { RedisConnection } from '../store/connection.js';
import { luaScript, runScript } from '../store/scripts.js';

/**
 * takeLease: takes the lease when it is free, or renews it when `owner` holds it.
 * KEYS[1] lease key; ARGV[1] owner token; ARGV[2] lease ms. Answers 1 when `owner` holds it now, else 0.
 */
const takeLeaseScript = luaScript(
  'takeLease',
  `
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`,
);

/** releaseLease: deletes the lease if `owner` holds it. KEYS[1] lease key; ARGV[1] owner token. */
const releaseLeaseScript = luaScript(
  'releaseLease',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
);

/**
 * advanceCheckpoint: stores a stream id unless a later one is stored already (a publisher that lost
 * its lease can never move the checkpoint back). KEYS[1] checkpoint key; ARGV[1] stream id.
 */
const advanceCheckpointScript = luaScript(
  'advanceCheckpoint',
  `
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local current = redis.call('GET', KEYS[1])
if current then
  local cms, cseq = parse(current)
  local nms, nseq = parse(ARGV[1])
  if cms > nms or (cms == nms and cseq >= nseq) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`,
);

/** Takes or renews a lease; `true` when `owner` holds it afterwards. */
export async function takeLease(redis: RedisConnection, key: string, owner: string, leaseMs: number): Promise<boolean> {
  return (await runScript(redis, takeLeaseScript, [key], [owner, leaseMs])) === 1;
}

/** Gives a lease up if `owner` holds it. */
export async function releaseLease(redis: RedisConnection, key: string, owner: string): Promise<void> {
  await runScript(redis, releaseLeaseScript, [key], [owner]);
}

/** Moves a checkpoint forward to `id` (never back). */
export async function advanceCheckpoint(redis: RedisConnection, key: string, id: string): Promise<void> {
  await runScript(redis, advanceCheckpointScript, [key], [id]);
}

/** Reads a checkpoint, or `null` when the queue was never read. */
export async function readCheckpoint(redis: RedisConnection, key: string): Promise<string | null> {
  const id = await redis.get(key);
  return id !== null && /^\d+-\d+$/.test(id) ? id : null;
}
