/**
 * How Lua scripts run: EVALSHA first, EVAL once when Redis does not know the script yet.
 * Every script of the package lives in `store/lua/` (one module per script or family), with a header
 * that lists its KEYS, ARGV and answers, BullMQ-style, and a typed encoder that turns named arguments
 * into the positional KEYS/ARGV of a {@link ScriptCall}; callers run it with {@link runCall}, never
 * building those arrays by hand. `test/store/layout.test.ts` keeps Lua and key names inside `store/`.
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
export async function runScript(
  redis: RedisConnection,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
      return redis.eval(script.source, keys.length, ...keys, ...args);
    }
    throw error;
  }
}

/** One script call: the script with its KEYS and ARGV in order, as an encoder in `store/lua/` builds them. */
export interface ScriptCall {
  readonly script: LuaScript;
  readonly keys: readonly string[];
  readonly args: readonly (string | number)[];
}

/** Runs one encoded {@link ScriptCall}. */
export function runCall(redis: RedisConnection, call: ScriptCall): Promise<unknown> {
  return runScript(redis, call.script, call.keys, call.args);
}
