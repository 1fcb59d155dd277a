/**
 * The bridge registry's scripts (`health/bridge-registry.ts` holds the logic around them). Expiry is
 * per entry and judged by Redis's clock (`TIME`), so the clocks of bridge hosts do not matter.
 */
import { luaScript, type ScriptCall } from '../scripts.js';

/**
 * registerBridge: writes one entry and drops expired ones.
 * KEYS[1] registry hash; ARGV[1] bridge id; ARGV[2] entry JSON without `seenAt`; ARGV[3] TTL ms.
 * The stored value is `<expiresAtMs>|<JSON with seenAtMs>`; the key lives as long as its newest entry.
 */
export const registerBridgeScript = luaScript(
  'registerBridge',
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
local entry = string.sub(ARGV[2], 1, -2) .. ',"seenAtMs":' .. now .. '}'
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local expires = tonumber(string.match(all[i + 1], '^(%d+)|'))
  if expires == nil or expires <= now then redis.call('HDEL', KEYS[1], all[i]) end
end
redis.call('HSET', KEYS[1], ARGV[1], (now + ttl) .. '|' .. entry)
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`,
);

/** readBridges: the live entries' JSON (expired ones are dropped). KEYS[1] registry hash. */
export const readBridgesScript = luaScript(
  'readBridges',
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local live = {}
for i = 1, #all, 2 do
  local expires, json = string.match(all[i + 1], '^(%d+)|(.*)$')
  if expires ~= nil and tonumber(expires) > now then table.insert(live, json) end
end
return live
`,
);

/** The named arguments of {@link registerBridgeScript}. */
export interface RegisterBridgeArgs {
  /** KEYS[1]: the registry hash. */
  registry: string;
  /** ARGV[1]: the bridge id. */
  bridgeId: string;
  /** ARGV[2]: the entry JSON without `seenAt` (an object: the script appends `seenAtMs`). */
  entry: string;
  /** ARGV[3]: the entry's TTL in ms. */
  ttlMs: number;
}

/** Encodes {@link RegisterBridgeArgs} as the KEYS/ARGV of {@link registerBridgeScript}. */
export function registerBridgeCall(a: RegisterBridgeArgs): ScriptCall {
  return { script: registerBridgeScript, keys: [a.registry], args: [a.bridgeId, a.entry, a.ttlMs] };
}

/** Encodes the call of {@link readBridgesScript}: KEYS[1] the registry hash, no ARGV. */
export function readBridgesCall(a: { registry: string }): ScriptCall {
  return { script: readBridgesScript, keys: [a.registry], args: [] };
}
