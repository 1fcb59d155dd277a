/**
 * Redis Cluster against one Redis, in one run: the same workload on a throw-away 3-master cluster
 * (three queues tagged onto three different masters) and on one standalone `redis-server`, both
 * started here from the same binary.
 *
 * - Burst: `--jobs` `seenn.jobs.start` jobs spread over the three queues, worked by wrapped BullMQ
 *   workers (three `setProgress` calls each, throttle 0, concurrency 50 per queue) while one
 *   publisher follows. The jobs are started first; then the clock runs from the workers' start: worker
 *   jobs/s until the last job completes in the worker, visible jobs/s until the publisher's checkpoint
 *   of every queue covers the last event (every job shows completed in Seenn).
 * - Catch-up: the same number of jobs worked while no publisher runs; then one publisher starts:
 *   source events/s until every queue's checkpoint reaches its stream's last entry.
 *
 * Worker, publisher and producer share this process (alike in both arms); Redis has its own
 * process(es). Run: `npx tsx bench/cluster-vs-standalone.ts [--jobs 6000]` (`--quick`: 1,500 jobs).
 * Results: a table and `bench/results/cluster-vs-standalone.json`.
 */
import { Queue, Worker } from 'bullmq';
import { Redis, type Cluster } from 'ioredis';
import { startRedisCluster } from '../examples/lib/redis-cluster.js';
import { startRedisServer } from '../examples/lib/redis-server.js';
import { compareStreamIds } from '../src/model/wire.js';
import { Seenn } from '../src/seenn.js';
import { isQuick, loadAverage, machineInfo, round, writeResult } from './lib/harness.js';
import { installCleanup } from './lib/processes.js';

const quick = isQuick();
const jobsArg = process.argv.indexOf('--jobs');
const JOBS = jobsArg > 0 ? Number(process.argv[jobsArg + 1]) : quick ? 1_500 : 6_000;
const USERS = 100;
const PREFIX = 'bench';
const UPDATES_PER_JOB = 3;
const TIMEOUT_MS = 300_000;

interface ArmResult {
  burstWorkerJobsPerSecond: number;
  burstVisibleJobsPerSecond: number;
  catchUpSourceEvents: number;
  catchUpEventsPerSecond: number;
}

/** Three queue names whose hash tags fall on three different masters (or any three on one Redis). */
async function spreadQueues(redis: Redis | Cluster): Promise<string[]> {
  if (!('nodes' in redis) || typeof redis.nodes !== 'function') return ['{q0}', '{q1}', '{q2}'];
  const byRange = new Map<number, string>();
  for (let i = 0; byRange.size < 3 && i < 1_000; i += 1) {
    const slot = Number(await redis.call('CLUSTER', 'KEYSLOT', `q${i}`));
    const range = Math.floor(slot / (16_384 / 3));
    if (!byRange.has(range)) byRange.set(range, `{q${i}}`);
  }
  return [...byRange.values()];
}

async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Whether the publisher's checkpoint of every queue is at or past `lastIds`. */
async function caughtUp(seenn: Seenn, queues: readonly string[], lastIds: readonly string[]): Promise<boolean> {
  for (const [i, queue] of queues.entries()) {
    const checkpoint = await seenn.context.redis.get(seenn.context.keys.checkpoint(queue));
    if (checkpoint === null || compareStreamIds(checkpoint, lastIds[i] as string) < 0) return false;
  }
  return true;
}

async function lastIdsOf(redis: Redis | Cluster, queues: readonly string[]): Promise<string[]> {
  return Promise.all(
    queues.map(
      async (queue) =>
        ((await redis.xrevrange(`${PREFIX}:${queue}:events`, '+', '-', 'COUNT', 1)) as [string, string[]][])[0]?.[0] ??
        '0-0',
    ),
  );
}

/** Starts `jobs` jobs over the queues, then works them off; resolves with when the workers started and their wall time. */
async function startAndWork(
  seenn: Seenn,
  redis: Redis | Cluster,
  queues: readonly string[],
  offset: number,
): Promise<{ startedAtMs: number; seconds: number }> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < JOBS) {
        const i = next++;
        await seenn.jobs.start({
          queue: queues[i % queues.length] as string,
          userId: `user-${(offset + i) % USERS}`,
          jobType: 'bench',
          title: `Job ${offset + i}`,
        });
      }
    }),
  );
  let completed = 0;
  const started = Date.now();
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const workers = queues.map((queue) => {
    const worker = new Worker(
      queue,
      seenn.processor(
        async (job) => {
          for (let step = 1; step <= UPDATES_PER_JOB; step += 1)
            await job.setProgress((step * 100) / (UPDATES_PER_JOB + 1));
          return { ok: true };
        },
        { progressThrottleMs: 0 },
      ),
      { connection: redis, prefix: PREFIX, concurrency: 50 },
    );
    worker.on('completed', () => {
      completed += 1;
      if (completed === JOBS) resolveDone();
    });
    return worker;
  });
  await done;
  const seconds = (Date.now() - started) / 1000;
  await Promise.all(workers.map((worker) => worker.close()));
  return { startedAtMs: started, seconds };
}

async function runArm(redis: Redis | Cluster): Promise<ArmResult> {
  const seenn = new Seenn({ connection: redis, prefix: PREFIX });
  const queues = await spreadQueues(redis);
  // Streams long enough that nothing is trimmed (and the meta of each queue set once).
  const setups = queues.map(
    (queue) => new Queue(queue, { connection: redis, prefix: PREFIX, streams: { events: { maxLen: JOBS * 20 } } }),
  );
  await Promise.all(setups.map((queue) => queue.waitUntilReady()));
  await Promise.all(setups.map((queue) => queue.close()));

  // Burst: the publisher follows while the workers run.
  let publisher = seenn.publisher({ queues, blockMs: 100 });
  await publisher.start();
  const burst = await startAndWork(seenn, redis, queues, 0);
  const burstLast = await lastIdsOf(redis, queues);
  await waitUntil(() => caughtUp(seenn, queues, burstLast), 'the publisher to catch up with the burst');
  const visibleSeconds = (Date.now() - burst.startedAtMs) / 1000;
  await publisher.close();

  // Catch-up: the same work with no publisher, then one publisher works the backlog off.
  const lengthsBefore = await Promise.all(queues.map((queue) => redis.xlen(`${PREFIX}:${queue}:events`)));
  await startAndWork(seenn, redis, queues, JOBS);
  const lengthsAfter = await Promise.all(queues.map((queue) => redis.xlen(`${PREFIX}:${queue}:events`)));
  const backlog = lengthsAfter.reduce((sum, n, i) => sum + n - (lengthsBefore[i] as number), 0);
  const catchUpLast = await lastIdsOf(redis, queues);
  publisher = seenn.publisher({ queues, blockMs: 100 });
  const catchUpStarted = Date.now();
  await publisher.start();
  await waitUntil(() => caughtUp(seenn, queues, catchUpLast), 'the publisher to work the backlog off');
  const catchUpSeconds = (Date.now() - catchUpStarted) / 1000;
  await publisher.close();
  await seenn.close();
  return {
    burstWorkerJobsPerSecond: Math.round(JOBS / burst.seconds),
    burstVisibleJobsPerSecond: Math.round(JOBS / visibleSeconds),
    catchUpSourceEvents: backlog,
    catchUpEventsPerSecond: Math.round(backlog / catchUpSeconds),
  };
}

async function main(): Promise<void> {
  const cancelDeadline = installCleanup('cluster-vs-standalone', 900_000);
  const loadBefore = loadAverage();
  const server = await startRedisServer();
  const standaloneRedis = new Redis(server.url, { maxRetriesPerRequest: null });
  const cluster = await startRedisCluster({ masters: 3 });
  const clusterRedis = cluster.connect();
  try {
    const version = /redis_version:(\S+)/.exec(await standaloneRedis.info('server'))?.[1] ?? 'unknown';
    const standalone = await runArm(standaloneRedis);
    console.log('standalone', standalone);
    const clustered = await runArm(clusterRedis);
    console.log('cluster', clustered);
    const ratios = {
      burstWorker: round(clustered.burstWorkerJobsPerSecond / standalone.burstWorkerJobsPerSecond, 2),
      burstVisible: round(clustered.burstVisibleJobsPerSecond / standalone.burstVisibleJobsPerSecond, 2),
      catchUp: round(clustered.catchUpEventsPerSecond / standalone.catchUpEventsPerSecond, 2),
    };
    console.table({ standalone, '3-master cluster': clustered });
    console.log(
      `cluster / standalone: burst worker ×${ratios.burstWorker}, burst visible ×${ratios.burstVisible}, catch-up ×${ratios.catchUp}`,
    );
    const path = await writeResult('cluster-vs-standalone', {
      scenario: 'cluster-vs-standalone',
      quick,
      date: new Date().toISOString(),
      machine: await machineInfo(version),
      loadAverage: { before: loadBefore, after: loadAverage() },
      setup: {
        jobs: JOBS,
        users: USERS,
        progressUpdatesPerJob: UPDATES_PER_JOB,
        queues: 3,
        workerConcurrencyPerQueue: 50,
        inProcess: 'worker, publisher and producer share the bench process',
      },
      standalone,
      cluster: clustered,
      ratios,
      command: `npx tsx bench/cluster-vs-standalone.ts${quick ? ' --quick' : ''}`,
    });
    console.log(`wrote ${path}`);
  } finally {
    await standaloneRedis.quit();
    await clusterRedis.quit();
    await cluster.stop();
    await server.stop();
    cancelDeadline();
  }
}

await main();
