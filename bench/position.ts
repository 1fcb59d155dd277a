/**
 * Queue position benchmark: the Redis cost of one position lookup, and the Redis time per second the
 * live PositionWatcher spends, with 1,000 / 10,000 / 100,000 waiting jobs and 1,000 watched ones.
 *
 *   npx tsx bench/position.ts            # starts its own redis-server on a free loopback port
 *   REDIS_URL=redis://127.0.0.1:6379 npx tsx bench/position.ts   # uses that Redis; only deletes its own keys
 *
 * Redis time is read from `INFO commandstats` (server-side µs, so client and network time are not in
 * it): `cmdstat_evalsha` (+ `cmdstat_eval`) is the position script. The live phase also reports the
 * server's whole CPU time (`used_cpu_user + used_cpu_sys`: the script, the watcher's history reads,
 * the simulated consumer and the INFO calls, so an upper bound). During the live phase a simulated
 * consumer moves jobs exactly as BullMQ's scripts do (`RPOPLPUSH wait active`, then `LREM active` +
 * `ZADD completed`) and producers `LPUSH` new ones, with plain commands, so that EVALSHA time is the
 * position script's alone. Results go to bench/results/position.json.
 *
 * The single lookups (one job, cold: no hint) are timed twice on the same list in the same run:
 * without the rank index (`rankIndex: false`, the scan of store/lua/position-lookup.ts steps 3–5) and with it,
 * after the lookups have built it (its build cost is reported too); the ratio is printed side by side.
 * Per call, `redisCpuUsec` is the server's CPU time (not inflated when other processes share the
 * machine's cores), `redisUsec` the script's time as Redis counts it (`INFO commandstats`).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createRecord } from '../src/model/reducer.js';
import { lookupPositions, type PositionRequest } from '../src/position/lookup.js';
import { POSITION_DEFAULTS } from '../src/position/options.js';
import { PositionWatcher, type PositionTick } from '../src/position/watcher.js';
import { Seenn } from '../src/seenn.js';
import { startRedisServer, type RedisServer } from '../test/helpers/redis-server.js';
import { deletePrefix } from '../examples/lib/redis-keys.js';
import { commandStats, redisCpuMs, scriptsBetween, type CommandStats } from './lib/redis.js';

const SIZES = [1_000, 10_000, 100_000];
const WATCHED = 1_000;
const LIVE_SECONDS = 5;
const INTERVAL_MS = 1_000;
/** Jobs per second the simulated consumer takes (and producers add) during the live phase. */
const FLOW_PER_SECOND = 50;
const QUEUE = 'bench';

type Stats = { commands: CommandStats; cpuMs: number };

/** `INFO commandstats` plus the server's CPU time (user + sys). */
async function serverStats(redis: Redis): Promise<Stats> {
  return { commands: await commandStats(redis), cpuMs: await redisCpuMs(redis) };
}

/** The position script's server time between two snapshots ({@link scriptsBetween}), and the server's whole CPU time. */
function delta(before: Stats, after: Stats): { scriptCalls: number; scriptUsec: number; cpuMs: number } {
  const scripts = scriptsBetween(before.commands, after.commands);
  return { scriptCalls: scripts.calls, scriptUsec: scripts.usec, cpuMs: after.cpuMs - before.cpuMs };
}

/** What one call costs: `redisUsec` the script's server time (commandstats), `redisCpuUsec` the server's CPU time, `wallUsec` the client's. */
type Cost = { redisUsec: number; redisCpuUsec: number; wallUsec: number };

/**
 * Server (script) and client cost of `fn` (run `reps` times), per call. `redisUsec` is wall time
 * inside the server, so on a busy machine it also counts time the server was not scheduled;
 * `redisCpuUsec` (the server's whole CPU time ÷ calls, with two INFO calls spread over `reps`) does not.
 */
async function measure(redis: Redis, reps: number, fn: () => Promise<unknown>): Promise<Cost> {
  await fn();
  const before = await serverStats(redis);
  const start = process.hrtime.bigint();
  for (let i = 0; i < reps; i += 1) await fn();
  const wallUsec = Number(process.hrtime.bigint() - start) / 1_000 / reps;
  const cost = delta(before, await serverStats(redis));
  return {
    redisUsec: Math.round(cost.scriptUsec / Math.max(1, cost.scriptCalls)),
    redisCpuUsec: Math.round((cost.cpuMs * 1_000) / reps),
    wallUsec: Math.round(wallUsec),
  };
}

async function runSize(url: string, size: number): Promise<Record<string, unknown>> {
  const prefix = `bench-pos-${randomUUID().slice(0, 8)}`;
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const seenn = new Seenn({ connection: redis, prefix });
  const queue = new Queue(QUEUE, { connection: redis, prefix });
  try {
    console.error(`[${size}] filling the queue`);
    const fillStart = Date.now();
    for (let i = 0; i < size; i += 1_000) {
      await queue.addBulk(
        Array.from({ length: Math.min(1_000, size - i) }, (_, k) => ({
          name: 'job',
          data: {},
          opts: { jobId: `n${i + k}` },
        })),
      );
    }
    const fillMs = Date.now() - fillStart;

    // 1,000 watched jobs spread evenly through the list (the worst case for depth): job n0 runs first.
    const watched = Array.from({ length: WATCHED }, (_, k) => `n${Math.floor((k * size) / WATCHED)}`);
    const middle = `n${Math.floor(size / 2)}`;
    const cold: PositionRequest[] = watched.map((bullId) => ({ bullId }));
    const first = await lookupPositions(redis, prefix, QUEUE, cold, POSITION_DEFAULTS.scanLimit, false);
    const hinted: PositionRequest[] = watched.map((bullId, i) => {
      const place = first.places[i];
      return place !== undefined && (place.state === 'waiting' || place.state === 'prioritized')
        ? { bullId, hint: place.hint }
        : { bullId };
    });
    const unknown = first.places.filter((place) => place.state === 'unknown').length;
    console.error(`[${size}] single lookups, without the rank index`);
    const reps = 200;
    const manyReps = 10;
    const lookupWith = (requests: PositionRequest[], rankIndex: boolean) => () =>
      lookupPositions(redis, prefix, QUEUE, requests, POSITION_DEFAULTS.scanLimit, rankIndex);
    const scan = {
      oneJobFirstInLine: await measure(redis, reps, lookupWith([{ bullId: 'n0' }], false)),
      oneJobMiddle: await measure(redis, reps, lookupWith([{ bullId: middle }], false)),
      oneJobLast: await measure(redis, reps, lookupWith([{ bullId: `n${size - 1}` }], false)),
      watchedColdNoHints: await measure(redis, manyReps, lookupWith(cold, false)),
      watchedWithHints: await measure(redis, manyReps, lookupWith(hinted, false)),
    };
    // The rank index, built by lookups (RANK_INDEX_CHUNK elements each) before the cold lookups are timed.
    console.error(`[${size}] building the rank index`);
    const buildBefore = await serverStats(redis);
    let buildCalls = 0;
    let built = await lookupPositions(redis, prefix, QUEUE, [], POSITION_DEFAULTS.scanLimit, true);
    buildCalls += 1;
    while (built.rankIndex.state !== 'complete') {
      built = await lookupPositions(redis, prefix, QUEUE, [], POSITION_DEFAULTS.scanLimit, true);
      buildCalls += 1;
    }
    const build = delta(buildBefore, await serverStats(redis));
    const probe = await lookupPositions(redis, prefix, QUEUE, [{ bullId: middle }], POSITION_DEFAULTS.scanLimit, true);
    if (probe.rankIndex.hits !== 1 || probe.elementsRead !== 0)
      throw new Error(`the middle job was not placed by the rank index: ${JSON.stringify(probe.rankIndex)}`);
    console.error(`[${size}] single lookups, with the rank index`);
    const indexed = {
      oneJobFirstInLine: await measure(redis, reps, lookupWith([{ bullId: 'n0' }], true)),
      oneJobMiddle: await measure(redis, reps, lookupWith([{ bullId: middle }], true)),
      oneJobLast: await measure(redis, reps, lookupWith([{ bullId: `n${size - 1}` }], true)),
      watchedColdNoHints: await measure(redis, manyReps, lookupWith(cold, true)),
      watchedWithHints: await measure(redis, manyReps, lookupWith(hinted, true)),
    };
    const rankIndexBuild = {
      calls: buildCalls,
      redisMs: Math.round(build.scriptUsec / 100) / 10,
      redisCpuMs: Math.round(build.cpuMs * 10) / 10,
      redisCpuUsecPerElement: Math.round(((build.cpuMs * 1_000) / size) * 100) / 100,
    };

    console.error(`[${size}] live ticker`);
    // The live ticker: 1,000 watched jobs of 100 users, with jobs flowing through the queue.
    for (const [k, id] of watched.entries()) {
      const userId = `user${k % 100}`;
      const record = createRecord(
        id,
        'default',
        { userId, jobType: 'job', title: id },
        { queueName: QUEUE, bullId: id, createdAtMs: Date.now(), maxAttempts: 1, state: 'waiting' },
      );
      await seenn.context.store.claimOwner(id, userId);
      await seenn.context.store.commit(userId, [{ expectedVersion: 0, record, index: true }]);
    }
    const watcher = new PositionWatcher(seenn.context, { positionIntervalMs: INTERVAL_MS });
    const ticks: PositionTick[] = [];
    let updates = 0;
    watcher.on('tick', (tick) => ticks.push(tick));
    watcher.on('position', () => {
      updates += 1;
    });
    watcher.on('error', (error) => console.error('watcher error', error));
    for (const [k, id] of watched.entries()) watcher.watch(`user${k % 100}`, id);
    const deadline = Date.now() + 60_000;
    while (!ticks.some((tick) => tick.jobs >= WATCHED - 1)) {
      if (Date.now() > deadline) throw new Error('the watcher did not compute the watched jobs within 60 s');
      await delay(10);
    }
    const coldTick = ticks.find((tick) => tick.jobs >= WATCHED - 1);

    const flow = redis.duplicate();
    const wait = `${prefix}:${QUEUE}:wait`;
    const active = `${prefix}:${QUEUE}:active`;
    const completed = `${prefix}:${QUEUE}:completed`;
    let running = true;
    let added = 0;
    const consumer = (async () => {
      let previous: string[] = [];
      while (running) {
        const batch = FLOW_PER_SECOND / 10;
        const pipeline = flow.pipeline();
        for (const id of previous) pipeline.lrem(active, -1, id).zadd(completed, Date.now(), id);
        for (let i = 0; i < batch; i += 1) pipeline.rpoplpush(wait, active);
        for (let i = 0; i < batch; i += 1) pipeline.lpush(wait, `new${added++}`);
        const replies = (await pipeline.exec()) ?? [];
        previous = replies
          .filter(
            ([, value], i) => i >= previous.length * 2 && i < previous.length * 2 + batch && typeof value === 'string',
          )
          .map(([, value]) => value as string);
        await delay(100);
      }
    })();
    const liveStart = ticks.length;
    const before = await serverStats(redis);
    const startedAt = Date.now();
    const updatesBefore = updates;
    await delay(LIVE_SECONDS * 1_000);
    const after = await serverStats(redis);
    const seconds = (Date.now() - startedAt) / 1_000;
    running = false;
    await consumer;
    await watcher.close();
    flow.disconnect();
    const live = delta(before, after);
    const liveTicks = ticks.slice(liveStart);
    const result = {
      waiting: size,
      watched: WATCHED,
      fillMs,
      unknownPositions: unknown,
      lookupCostPerCall: { scan, indexed },
      rankIndexBuild,
      coldTick,
      ticker: {
        intervalMs: INTERVAL_MS,
        seconds: Math.round(seconds * 100) / 100,
        ticks: liveTicks.length,
        jobsPerTick: Math.round(liveTicks.reduce((sum, tick) => sum + tick.jobs, 0) / Math.max(1, liveTicks.length)),
        updatesPerSecond: Math.round((updates - updatesBefore) / seconds),
        scriptCalls: live.scriptCalls,
        scriptUsecPerCall: Math.round(live.scriptUsec / Math.max(1, live.scriptCalls)),
        redisMsPerSecondScript: Math.round((live.scriptUsec / 1_000 / seconds) * 100) / 100,
        redisCpuMsPerSecondAll: Math.round((live.cpuMs / seconds) * 100) / 100,
        elementsReadPerTick: Math.round(
          liveTicks.reduce((sum, tick) => sum + tick.elementsRead, 0) / Math.max(1, liveTicks.length),
        ),
      },
    };
    return result;
  } finally {
    await queue.close();
    await deletePrefix(redis, prefix);
    await seenn.close();
    await redis.quit();
  }
}

async function main(): Promise<void> {
  let server: RedisServer | undefined;
  let url = process.env['REDIS_URL'];
  if (!url) {
    server = await startRedisServer();
    url = server.url;
  }
  const probe = new Redis(url);
  const version = /redis_version:(\S+)/.exec(await probe.info('server'))?.[1] ?? 'unknown';
  probe.disconnect();
  const results: Record<string, unknown>[] = [];
  try {
    for (const size of SIZES) {
      const result = await runSize(url, size);
      results.push(result);
      const { scan, indexed } = result['lookupCostPerCall'] as Record<'scan' | 'indexed', Record<string, Cost>>;
      const ticker = result['ticker'] as Record<string, number>;
      console.log(
        `\n${size.toLocaleString('en')} waiting, ${WATCHED} watched (filled in ${String(result['fillMs'])} ms; ${String(result['unknownPositions'])} beyond the scan budget)`,
      );
      console.log(`  rank index built by ${JSON.stringify(result['rankIndexBuild'])}`);
      console.log(
        `  lookup, µs per call: Redis CPU scan only / rank index = ratio | script time scan / index | wall scan / index`,
      );
      for (const [name, cost] of Object.entries(scan)) {
        const withIndex = indexed[name] as Cost;
        const ratio = Math.round((cost.redisCpuUsec / Math.max(1, withIndex.redisCpuUsec)) * 10) / 10;
        console.log(
          `  ${name.padEnd(20)} ${String(cost.redisCpuUsec).padStart(8)} / ${String(withIndex.redisCpuUsec).padStart(6)} = ${String(ratio).padStart(6)}× | ${cost.redisUsec} / ${withIndex.redisUsec} | ${cost.wallUsec} / ${withIndex.wallUsec}`,
        );
      }
      console.log(`  cold first tick: ${JSON.stringify(result['coldTick'])}`);
      console.log(
        `  live ticker (${ticker['intervalMs']} ms, ${FLOW_PER_SECOND} jobs/s flowing): ${ticker['ticks']} ticks in ${ticker['seconds']} s, ${ticker['jobsPerTick']} jobs/tick, ` +
          `${ticker['updatesPerSecond']} updates/s; script ${ticker['scriptUsecPerCall']} µs/call = ${ticker['redisMsPerSecondScript']} ms Redis per second, ` +
          `whole server CPU ${ticker['redisCpuMsPerSecondAll']} ms/s; ${ticker['elementsReadPerTick']} list elements read per tick`,
      );
    }
  } finally {
    await server?.stop();
  }
  const output = {
    bench: 'position',
    at: new Date().toISOString(),
    redisVersion: version,
    node: process.version,
    ownRedis: server !== undefined,
    flowPerSecond: FLOW_PER_SECOND,
    results,
  };
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  const file = new URL('./results/position.json', import.meta.url);
  await writeFile(file, `${JSON.stringify(output, null, 2)}\n`);
  console.log(`\nwrote ${file.pathname}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
