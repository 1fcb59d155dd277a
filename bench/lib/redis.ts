/**
 * The Redis a scenario uses: `REDIS_URL` when set (only the scenario's own prefix is ever deleted
 * there), else a private `redis-server` on a free loopback port, registered for clean-up.
 */
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../examples/lib/redis-server.js';
import { round } from './harness.js';
import { track } from './processes.js';
export { deletePrefix } from '../../examples/lib/redis-keys.js';

/** A Redis for one scenario. */
export interface BenchRedis {
  url: string;
  /** Whether this scenario started the server (and so may do anything to it). */
  own: boolean;
  /** `redis_version` from `INFO server`. */
  version: string;
  /** The server process, when this scenario started it. */
  process: ChildProcess | undefined;
  /** Stops the server if this scenario started it. */
  stop(): Promise<void>;
}

/** Starts (or finds, via `REDIS_URL`) the Redis of a scenario. */
export async function benchRedis(): Promise<BenchRedis> {
  const given = process.env['REDIS_URL'];
  const server = given ? undefined : await startRedisServer();
  if (server) track(server.process);
  const url = given ?? (server as { url: string }).url;
  const probe = new Redis(url, { maxRetriesPerRequest: 1 });
  const version = /redis_version:(\S+)/.exec(await probe.info('server'))?.[1] ?? 'unknown';
  probe.disconnect();
  return { url, own: server !== undefined, version, process: server?.process, stop: async () => server?.stop() };
}

/** Server-side CPU time of Redis so far (`used_cpu_user + used_cpu_sys`), in ms. */
export async function redisCpuMs(redis: Redis): Promise<number> {
  const text = await redis.info('cpu');
  let total = 0;
  for (const match of text.matchAll(/^used_cpu_(?:user|sys):([\d.]+)\r?$/gm)) total += Number(match[1]) * 1000;
  return total;
}

/** Calls and total µs of Redis time by command, as `INFO commandstats` gives them. */
export type CommandStats = Map<string, { calls: number; usec: number }>;

/** `INFO commandstats` as command → calls and total µs of Redis time. */
export async function commandStats(redis: Redis): Promise<CommandStats> {
  const text = await redis.info('commandstats');
  const stats = new Map<string, { calls: number; usec: number }>();
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm))
    stats.set(match[1] as string, { calls: Number(match[2]), usec: Number(match[3]) });
  return stats;
}

/**
 * Calls and Redis µs per job by command between two {@link commandStats}: script calls always, other
 * commands when they ran at least once per ten jobs (`INFO` and `GET`, the benches' own polling, left
 * out). A script's own commands count in the script's µs and again on their own. The µs are Redis's
 * `commandstats`: wall-clock time inside each command, so on a box where Redis shares its cores they
 * include the times the OS preempted it (a cheap command can average several µs); the calls are exact.
 */
export function commandsPerJob(
  before: CommandStats,
  after: CommandStats,
  jobs: number,
): { calls: Record<string, number>; usec: Record<string, number> } {
  const calls: Record<string, number> = {};
  const usec: Record<string, number> = {};
  for (const [name, now] of after) {
    const then = before.get(name) ?? { calls: 0, usec: 0 };
    const delta = now.calls - then.calls;
    const script = name === 'evalsha' || name === 'eval';
    if ((script || delta >= jobs / 10) && name !== 'info' && name !== 'get') {
      calls[name] = round(delta / jobs, 2);
      usec[name] = round((now.usec - then.usec) / jobs, 1);
    }
  }
  return { calls, usec };
}

/**
 * Lua script calls (`EVALSHA` + `EVAL`) and their µs between two {@link commandStats}. The commands a
 * script calls are counted under their own names too (Redis 7), so only the script entries are summed.
 */
export function scriptsBetween(before: CommandStats, after: CommandStats): { calls: number; usec: number } {
  let calls = 0;
  let usec = 0;
  for (const name of ['evalsha', 'eval']) {
    const now = after.get(name) ?? { calls: 0, usec: 0 };
    const then = before.get(name) ?? { calls: 0, usec: 0 };
    calls += now.calls - then.calls;
    usec += now.usec - then.usec;
  }
  return { calls, usec };
}
