/**
 * Sustained load: how far behind the worker a user sees a job finish, when jobs keep arriving at a
 * steady rate rather than in one burst. First the bare capacity is measured in the same run (plain
 * BullMQ, the same processor as `bench/overhead.ts`: four awaited progress updates per job). Then,
 * for each load level, a producer starts `seenn.jobs.start` jobs at that fraction of the bare
 * capacity for the whole duration, a wrapped worker (its own process, `progressThrottleMs: 0` so the
 * throttle's own wait does not cap throughput) works them, and one publisher process turns their
 * events into Seenn state. Measured per job: completion in the worker → `job.completed` on the live
 * channel (what bridges fan out), p50/p99/max.
 *
 *   npx tsx bench/sustained.ts              # 60 s at 60 % and at 90 % of bare capacity
 *   npx tsx bench/sustained.ts --quick      # 15 s per level
 *   BENCH_SECONDS=30 BENCH_LEVELS=0.5,0.8 BENCH_CONCURRENCY=100 npx tsx bench/sustained.ts
 *
 * Results: a table and `bench/results/sustained.json`.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { isQuick, loadAverage, machineInfo, round, summarize, wallNow, writeResult } from './lib/harness.js';
import { spawnOverheadWorker, type OverheadRound } from './lib/overhead-worker.js';
import { request, stopChild } from './lib/processes.js';
import { processCpuMs } from './lib/proc-stats.js';
import { waitFor } from '../test/helpers/wait.js';
import { openScenario } from './lib/scenario.js';
import { spawnBenchPublisher } from './lib/publisher-process.js';

const quick = isQuick();
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? (quick ? 15 : 60));
const LEVELS = (process.env['BENCH_LEVELS'] ?? '0.6,0.9').split(',').map(Number);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 100);
const CAPACITY_JOBS = quick ? 2_000 : 5_000;
const USERS = 100;
const BARE_QUEUE = 'sus-bare';
const SEENN_QUEUE = 'sus-seenn';
const TICK_MS = 10;

interface LevelResult {
  level: number;
  targetJobsPerSecond: number;
  jobs: number;
  /** Jobs per second the producer achieved. */
  producedJobsPerSecond: number;
  /** Per job: completion in the worker → `job.completed` on the live channel, ms. */
  lagMs: ReturnType<typeof summarize>;
  missing: number;
  publisherCpuMsPerJob: number;
  loadAverage1m: number;
}

async function main(): Promise<void> {
  const scenario = await openScenario({
    name: 'sustained',
    deadlineMs: (SECONDS * LEVELS.length + 300) * 1000,
    prefixTag: 'sus',
  });
  const { redisServer, prefix, redis, seenn } = scenario;
  const bareQueue = new Queue(BARE_QUEUE, { connection: redis, prefix });
  const subscriber = redis.duplicate();
  const loadBefore = loadAverage();
  const completedSeen = new Map<string, number>();
  try {
    await subscriber.subscribe(seenn.context.keys.liveChannel());
    subscriber.on('message', (_channel: string, text: string) => {
      const at = wallNow();
      // One message per commit: the user, then entry id, event name and payload of each event.
      const lines = text.split('\n');
      for (let i = 1; i + 2 < lines.length; i += 3) {
        if (lines[i + 1] !== 'job.completed') continue;
        const id = (JSON.parse(lines[i + 2] as string) as { id: string }).id;
        if (!completedSeen.has(id)) completedSeen.set(id, at);
      }
    });
    const publisher = await spawnBenchPublisher({ redisUrl: redisServer.url, prefix, queues: [SEENN_QUEUE] });
    const worker = await spawnOverheadWorker(redisServer.url, prefix);

    // 1. Bare capacity: a filled queue worked off by plain BullMQ.
    for (let i = 0; i < CAPACITY_JOBS; i += 1_000)
      await bareQueue.addBulk(
        Array.from({ length: Math.min(1_000, CAPACITY_JOBS - i) }, (_, k) => ({ name: 'bench', data: { i: i + k } })),
      );
    const bare = await request<OverheadRound>(
      worker,
      { type: 'run', arm: 'bare', queue: BARE_QUEUE, jobs: CAPACITY_JOBS, concurrency: CONCURRENCY },
      'done',
      300_000,
    );
    const capacity = CAPACITY_JOBS / ((bare.lastCompletedAt - bare.startedAt) / 1000);
    console.log(
      `bare capacity: ${Math.round(capacity)} jobs/s (${CAPACITY_JOBS} jobs, concurrency ${CONCURRENCY}; load ${loadAverage()[0]})`,
    );

    // 2. Each level: a steady producer for SECONDS while the wrapped worker and the publisher keep up.
    const levels: LevelResult[] = [];
    for (const level of LEVELS) {
      const rate = capacity * level;
      const jobs = Math.round(rate * SECONDS);
      const completion = request<OverheadRound>(
        worker,
        { type: 'run', arm: 'wrapped-t0', queue: SEENN_QUEUE, jobs, concurrency: CONCURRENCY },
        'done',
        (SECONDS + 240) * 1000,
      );
      const publisherCpuBefore = processCpuMs(publisher.pid) ?? 0;
      const started = Date.now();
      let produced = 0;
      let inFlight = 0;
      while (produced < jobs) {
        const due = Math.min(jobs, Math.floor(((Date.now() - started) / 1000) * rate));
        while (produced < due) {
          const i = produced;
          produced += 1;
          inFlight += 1;
          void seenn.jobs
            .start({
              queue: SEENN_QUEUE,
              userId: `user-${i % USERS}`,
              jobType: 'bench',
              title: `Job ${i}`,
              data: { i },
            })
            .finally(() => (inFlight -= 1));
        }
        await delay(TICK_MS);
      }
      while (inFlight > 0) await delay(TICK_MS);
      const producedSeconds = (Date.now() - started) / 1000;
      const done = await completion;
      const completedAt = new Map(done.completedAt);
      // Jobs that never show completed are counted below (`missing`), not thrown.
      await waitFor(() => [...completedAt.keys()].every((id) => completedSeen.has(id)), {
        timeoutMs: 120_000,
        intervalMs: 20,
      }).catch(() => undefined);
      const lags = [...completedAt]
        .filter(([id]) => completedSeen.has(id))
        .map(([id, at]) => (completedSeen.get(id) as number) - at);
      const result: LevelResult = {
        level,
        targetJobsPerSecond: Math.round(rate),
        jobs,
        producedJobsPerSecond: Math.round(jobs / producedSeconds),
        lagMs: summarize(lags),
        missing: jobs - lags.length,
        publisherCpuMsPerJob: round(((processCpuMs(publisher.pid) ?? 0) - publisherCpuBefore) / jobs, 4),
        loadAverage1m: loadAverage()[0],
      };
      levels.push(result);
      console.log(
        `${Math.round(level * 100)} % (${result.targetJobsPerSecond} jobs/s for ${SECONDS} s): lag p50 ${result.lagMs.p50} / p99 ${result.lagMs.p99} / max ${result.lagMs.max} ms; produced ${result.producedJobsPerSecond} jobs/s; missing ${result.missing}; load ${result.loadAverage1m}`,
      );
    }
    const result = {
      scenario: 'sustained',
      quick,
      date: new Date().toISOString(),
      machine: await machineInfo(redisServer.version),
      loadAverage: { before: loadBefore, after: loadAverage() },
      setup: {
        seconds: SECONDS,
        levels: LEVELS,
        concurrency: CONCURRENCY,
        users: USERS,
        capacityJobs: CAPACITY_JOBS,
        wrappedArm: 'progressThrottleMs 0',
        publisher: 'one process',
        ownRedis: redisServer.own,
      },
      bareJobsPerSecond: Math.round(capacity),
      levels,
      command: `npx tsx bench/sustained.ts${quick ? ' --quick' : ''}`,
    };
    const path = await writeResult('sustained', result);
    console.log(`wrote ${path}`);
    if (levels.some((level) => level.missing > 0)) {
      console.error('some jobs never showed completed on the live channel');
      process.exitCode = 1;
    }
    await stopChild(publisher.child, 'SIGTERM');
    await stopChild(worker, 'SIGTERM');
  } finally {
    await bareQueue.close();
    subscriber.disconnect();
    await scenario.close();
  }
}

await main();
