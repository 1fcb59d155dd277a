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

/** The part of an ioredis pipeline {@link addCall} uses. */
export interface ScriptPipeline {
  evalsha(sha: string, numKeys: number, ...keysAndArgs: (string | number)[]): unknown;
  readonly length: number;
}

/**
 * Given the replies of the pipeline a call was added to, answers the call's error (`null` when none),
 * having re-run it once with EVAL when Redis did not know the script (`NOSCRIPT`).
 */
export type CallCheck = (replies: readonly [Error | null, unknown][]) => Promise<Error | null>;

/**
 * Adds one encoded {@link ScriptCall} to `pipeline` as an EVALSHA (no extra round trip) and answers
 * its {@link CallCheck}, which must be called with the pipeline's replies.
 */
export function addCall(pipeline: ScriptPipeline, redis: RedisConnection, call: ScriptCall): CallCheck {
  const index = pipeline.length;
  pipeline.evalsha(call.script.sha, call.keys.length, ...call.keys, ...call.args);
  return async (replies) => {
    const error = replies[index]?.[0] ?? null;
    if (error === null || !error.message.startsWith('NOSCRIPT')) return error;
    try {
      await redis.eval(call.script.source, call.keys.length, ...call.keys, ...call.args);
      return null;
    } catch (retryError) {
      return retryError instanceof Error ? retryError : new Error(String(retryError));
    }
  };
}
