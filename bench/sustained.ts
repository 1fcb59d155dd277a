/**
 * Sustained load: how far behind the worker a user sees a job finish, when jobs keep arriving at a
 * steady rate rather than in one burst. First the bare capacity is measured in the same run (plain
 * BullMQ, the same processor as `bench/overhead.ts`: four awaited progress updates per job). Then,
 * for each load level, a producer starts `seenn.jobs.start` jobs at that fraction of the bare
 * capacity for the whole duration, a wrapped worker (its own process, `progressThrottleMs: 0` so the
 * throttle's own wait does not cap throughput) works them, and one publisher process turns their
 * events into Seenn state. Measured per job: completion in the worker → `job.completed` on the live
 * channel (what bridges fan out), p50/p99/max. Also per level: the publisher's re-syncs (BullMQ trimmed
 * events it had not read), the jobs/s it showed completed while the producer ran, and the CPU each
 * process used meanwhile (in cores: the box has two).
 *
 * Before the levels, a warm-up at the first level's rate (`BENCH_WARMUP_SECONDS`: 3 s with `--quick`,
 * else 5) is run and reported apart, as `warmup`: code that has not run yet (the publisher's apply path,
 * the producer's `jobs.start`) is several times slower per event for its first seconds under load,
 * which a 15-second level would otherwise report as its p99.
 *
 * BullMQ's events stream is sized as the README ("Sizing the events stream") says: room for every
 * event of the longest level (10 per job). `BENCH_EVENTS_MAXLEN=10000` runs with BullMQ's default
 * instead, which at these rates holds well under a second of events: the publisher falls that far
 * behind, re-syncs, and the lag jumps.
 *
 *   npx tsx bench/sustained.ts              # 60 s at 60 % and at 90 % of bare capacity
 *   npx tsx bench/sustained.ts --quick      # 15 s per level
 *   BENCH_SECONDS=30 BENCH_LEVELS=0.5,0.8 BENCH_CONCURRENCY=100 npx tsx bench/sustained.ts
 *   BENCH_RATES=1000,2000 npx tsx bench/sustained.ts   # fixed rates in jobs/s instead of levels: runs compare
 *   BENCH_ROLLING=1 BENCH_RATES=2000 npx tsx bench/sustained.ts --quick   # a rolling restart in each level
 *
 * `BENCH_ROLLING=1` restarts the publisher during each level as a rolling deploy would: a second
 * process joins a third of the way in (it takes over half the partitions), the first is stopped
 * (SIGTERM, so it gives its partitions up at once) a third of the level after that (the warm-up is not
 * restarted). Reported apart: the lag of the jobs that completed in the {@link ROLLING_WINDOW_MS} after
 * each of those moments.
 *
 * Results: a table and `bench/results/sustained.json`.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { isQuick, loadAverage, machineInfo, round, summarize, wallNow, writeResult } from './lib/harness.js';
import { spawnOverheadWorker, type OverheadRound } from './lib/overhead-worker.js';
import { request, stopChild } from './lib/processes.js';
import { processCpuMs } from './lib/proc-stats.js';
import { commandStats, commandsPerJob, redisCpuMs } from './lib/redis.js';
import { waitFor } from '../test/helpers/wait.js';
import { openScenario } from './lib/scenario.js';
import { spawnBenchPublisher, type BenchPublisher } from './lib/publisher-process.js';

const quick = isQuick();
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? (quick ? 15 : 60));
const LEVELS = (process.env['BENCH_LEVELS'] ?? '0.6,0.9').split(',').map(Number);
/**
 * Fixed producer rates in jobs/s, instead of {@link LEVELS} of the capacity each run measures (which
 * moves by several per cent between runs, and the lag with it): runs of different code then compare.
 */
const RATES = process.env['BENCH_RATES']?.split(',').map(Number);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 100);
/** A level at the first rate before the measured ones, reported apart (`warmup` in the result). */
const WARMUP_SECONDS = Number(process.env['BENCH_WARMUP_SECONDS'] ?? (quick ? 3 : 5));
const CAPACITY_JOBS = quick ? 2_000 : 5_000;
const USERS = 100;
const BARE_QUEUE = 'sus-bare';
const SEENN_QUEUE = 'sus-seenn';
const TICK_MS = 10;
/** Whether each level restarts the publisher on the way, as a rolling deploy does (see the header). */
const ROLLING = process.env['BENCH_ROLLING'] === '1';
/** How long after a publisher joins or leaves a completed job's lag counts as the rolling restart's. */
const ROLLING_WINDOW_MS = 3_000;
/** Events stream room per job (a job here makes 8 source events). */
const MAXLEN_EVENTS_PER_JOB = 10;

interface LevelResult {
  level: number;
  targetJobsPerSecond: number;
  jobs: number;
  /** Jobs per second the producer achieved. */
  producedJobsPerSecond: number;
  /** Per job: completion in the worker → `job.completed` on the live channel, ms. */
  lagMs: ReturnType<typeof summarize>;
  missing: number;
  /** Jobs/s shown `completed` on the live channel while the producer ran (the publisher's pace under load). */
  shownWhileProducingJobsPerSecond: number;
  /** Re-syncs the publisher made during the level (events trimmed before it read them). */
  resyncs: number;
  /** The jobs those re-syncs rebuilt, and the ms they took in all (reading stopped meanwhile). */
  resyncJobs: number;
  resyncMs: number;
  /** CPU used while the producer ran, in cores (CPU seconds per second), per process. */
  cpuCoresWhileProducing: Record<'producer' | 'worker' | 'publisher' | 'redis' | 'total', number>;
  /** Redis calls per job by command while the level ran, producer, worker and publisher together (`INFO commandstats`). */
  redisCallsPerJob: Record<string, number>;
  /** Redis µs per job by command (a script's own commands count in it and again on their own). */
  redisUsPerJob: Record<string, number>;
  publisherCpuMsPerJob: number;
  /** With `BENCH_ROLLING=1`: when the second publisher joined and the first left (ms after the level started), and the lag of jobs completed in the window after each. */
  rolling?: {
    joinedAtMs: number;
    leftAtMs: number;
    lagAfterJoinMs: ReturnType<typeof summarize>;
    lagAfterLeaveMs: ReturnType<typeof summarize>;
  };
  loadAverage1m: number;
}

async function main(): Promise<void> {
  const scenario = await openScenario({
    name: 'sustained',
    deadlineMs: (SECONDS * (RATES ?? LEVELS).length + WARMUP_SECONDS + 300) * 1000,
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
    const spawnPublisher = (): Promise<BenchPublisher> =>
      spawnBenchPublisher({ redisUrl: redisServer.url, prefix, queues: [SEENN_QUEUE] });
    // The publisher processes running, and what those stopped (BENCH_ROLLING) used and counted.
    const publishers: BenchPublisher[] = [await spawnPublisher()];
    const retired = { cpuMs: 0, resyncs: 0, resyncJobs: 0, resyncMs: 0 };
    const publisherCpuMs = (): number =>
      publishers.reduce((sum, { pid }) => sum + (processCpuMs(pid) ?? Number.NaN), retired.cpuMs);
    const publisherCounters = (): { resyncs: number; resyncJobs: number; resyncMs: number } => {
      const sum = { resyncs: retired.resyncs, resyncJobs: retired.resyncJobs, resyncMs: retired.resyncMs };
      for (const { counters } of publishers) {
        sum.resyncs += counters.resyncs;
        sum.resyncJobs += counters.resyncJobs;
        sum.resyncMs += counters.resyncMs;
      }
      return sum;
    };
    /** A rolling restart during a level of `seconds` that started at `startedAt` (wall-clock ms). */
    const rollPublisher = async (startedAt: number, seconds: number): Promise<{ joinedAt: number; leftAt: number }> => {
      await delay(Math.max(0, startedAt + (seconds * 1000) / 3 - wallNow()));
      publishers.push(await spawnPublisher());
      const joinedAt = wallNow();
      // A third of the level after it joined (starting a process can take seconds on a loaded box).
      await delay(Math.max(0, joinedAt + (seconds * 1000) / 3 - wallNow()));
      const leaving = publishers.shift() as BenchPublisher;
      retired.cpuMs += processCpuMs(leaving.pid) ?? Number.NaN;
      const leftAt = wallNow();
      await stopChild(leaving.child, 'SIGTERM');
      retired.resyncs += leaving.counters.resyncs;
      retired.resyncJobs += leaving.counters.resyncJobs;
      retired.resyncMs += leaving.counters.resyncMs;
      return { joinedAt, leftAt };
    };
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
    const rates = RATES ?? LEVELS.map((level) => capacity * level);
    const eventsMaxLen = Number(
      process.env['BENCH_EVENTS_MAXLEN'] ?? Math.ceil(Math.max(...rates) * SECONDS * MAXLEN_EVENTS_PER_JOB),
    );
    // The app's own Queue sets the events stream's maxLen in the queue's meta (Seenn's Queue leaves it be).
    const seennQueue = new Queue(SEENN_QUEUE, {
      connection: redis,
      prefix,
      streams: { events: { maxLen: eventsMaxLen } },
    });
    await seennQueue.waitUntilReady();
    await seennQueue.close();
    console.log(`${SEENN_QUEUE}: streams.events.maxLen ${eventsMaxLen}`);
    const cpuNow = async (): Promise<Record<'producer' | 'worker' | 'publisher' | 'redis', number>> => ({
      producer: processCpuMs(process.pid) ?? Number.NaN,
      worker: processCpuMs(worker.pid as number) ?? Number.NaN,
      publisher: publisherCpuMs(),
      redis: await redisCpuMs(redis),
    });

    /** One level: a steady producer at `rate` for `seconds` while the wrapped worker and the publisher keep up. */
    const runLevel = async (rate: number, seconds: number, label: string, roll: boolean): Promise<LevelResult> => {
      const level = round(rate / capacity, 3);
      const jobs = Math.round(rate * seconds);
      const completion = request<OverheadRound>(
        worker,
        { type: 'run', arm: 'wrapped-t0', queue: SEENN_QUEUE, jobs, concurrency: CONCURRENCY },
        'done',
        (seconds + 240) * 1000,
      );
      const resyncsBefore = publisherCounters();
      const cpuBefore = await cpuNow();
      const statsBefore = await commandStats(redis);
      const started = Date.now();
      const rolling = roll ? rollPublisher(wallNow(), seconds) : undefined;
      // Awaited once the level is over; a failure must not count as unhandled before that.
      rolling?.catch(() => undefined);
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
      const producedAt = Date.now();
      const producedSeconds = (producedAt - started) / 1000;
      const cpuAfter = await cpuNow();
      const cores = (key: keyof typeof cpuAfter): number =>
        round((cpuAfter[key] - cpuBefore[key]) / 1000 / producedSeconds, 2);
      const perProcess = {
        producer: cores('producer'),
        worker: cores('worker'),
        publisher: cores('publisher'),
        redis: cores('redis'),
      };
      const cpuCoresWhileProducing = {
        ...perProcess,
        total: round(
          Object.values(perProcess).reduce((sum, value) => sum + value, 0),
          2,
        ),
      };
      const shownWhileProducing = [...completedSeen.values()].filter((at) => at >= started && at <= producedAt).length;
      const done = await completion;
      const rolled = await rolling;
      const completedAt = new Map(done.completedAt);
      // Jobs that never show completed are counted below (`missing`), not thrown.
      await waitFor(() => [...completedAt.keys()].every((id) => completedSeen.has(id)), {
        timeoutMs: 120_000,
        intervalMs: 20,
      }).catch(() => undefined);
      const commands = commandsPerJob(statsBefore, await commandStats(redis), jobs);
      const lagsCompletedIn = (from: number, to: number): number[] =>
        [...completedAt]
          .filter(([id, at]) => completedSeen.has(id) && at >= from && at < to)
          .map(([id, at]) => (completedSeen.get(id) as number) - at);
      const lags = lagsCompletedIn(-Infinity, Infinity);
      const resyncsAfter = publisherCounters();
      const result: LevelResult = {
        level,
        targetJobsPerSecond: Math.round(rate),
        jobs,
        producedJobsPerSecond: Math.round(jobs / producedSeconds),
        lagMs: summarize(lags),
        missing: jobs - lags.length,
        shownWhileProducingJobsPerSecond: Math.round(shownWhileProducing / producedSeconds),
        resyncs: resyncsAfter.resyncs - resyncsBefore.resyncs,
        resyncJobs: resyncsAfter.resyncJobs - resyncsBefore.resyncJobs,
        resyncMs: resyncsAfter.resyncMs - resyncsBefore.resyncMs,
        cpuCoresWhileProducing,
        redisCallsPerJob: commands.calls,
        redisUsPerJob: commands.usec,
        publisherCpuMsPerJob: round((publisherCpuMs() - cpuBefore.publisher) / jobs, 4),
        ...(rolled === undefined
          ? {}
          : {
              rolling: {
                joinedAtMs: Math.round(rolled.joinedAt - started),
                leftAtMs: Math.round(rolled.leftAt - started),
                lagAfterJoinMs: summarize(lagsCompletedIn(rolled.joinedAt, rolled.joinedAt + ROLLING_WINDOW_MS)),
                lagAfterLeaveMs: summarize(lagsCompletedIn(rolled.leftAt, rolled.leftAt + ROLLING_WINDOW_MS)),
              },
            }),
        loadAverage1m: loadAverage()[0],
      };
      console.log(
        `${label}${Math.round(level * 100)} % (${result.targetJobsPerSecond} jobs/s for ${seconds} s): lag p50 ${result.lagMs.p50} / p99 ${result.lagMs.p99} / max ${result.lagMs.max} ms; produced ${result.producedJobsPerSecond} jobs/s, shown completed meanwhile ${result.shownWhileProducingJobsPerSecond} jobs/s; re-syncs ${result.resyncs} (${result.resyncJobs} jobs, ${result.resyncMs} ms); missing ${result.missing}; load ${result.loadAverage1m}`,
      );
      console.log(
        `   CPU while producing (cores of 2): producer ${cpuCoresWhileProducing.producer}, worker ${cpuCoresWhileProducing.worker}, publisher ${cpuCoresWhileProducing.publisher}, Redis ${cpuCoresWhileProducing.redis}, total ${cpuCoresWhileProducing.total}`,
      );
      if (result.rolling !== undefined) {
        const { joinedAtMs, leftAtMs, lagAfterJoinMs, lagAfterLeaveMs } = result.rolling;
        console.log(
          `   rolling restart: joined at ${joinedAtMs} ms, lag of the next ${ROLLING_WINDOW_MS / 1000} s p50 ${lagAfterJoinMs.p50} / p99 ${lagAfterJoinMs.p99} / max ${lagAfterJoinMs.max} ms; ` +
            `left at ${leftAtMs} ms, p50 ${lagAfterLeaveMs.p50} / p99 ${lagAfterLeaveMs.p99} / max ${lagAfterLeaveMs.max} ms`,
        );
      }
      console.log('   Redis calls per job:', result.redisCallsPerJob);
      console.log('   Redis µs per job:', result.redisUsPerJob);
      return result;
    };

    // 2. A warm-up at the first level's rate, not counted: the publisher's and the producer's code start
    // cold (JIT, caches), and their first seconds under load are several times slower per event. Then
    // each level.
    const warmup =
      WARMUP_SECONDS > 0 ? await runLevel(rates[0] as number, WARMUP_SECONDS, 'warm-up (not counted): ', false) : null;
    const levels: LevelResult[] = [];
    for (const rate of rates) levels.push(await runLevel(rate, SECONDS, '', ROLLING));
    const result = {
      scenario: 'sustained',
      quick,
      date: new Date().toISOString(),
      machine: await machineInfo(redisServer.version),
      loadAverage: { before: loadBefore, after: loadAverage() },
      setup: {
        seconds: SECONDS,
        warmupSeconds: WARMUP_SECONDS,
        levels: RATES === undefined ? LEVELS : null,
        rates: RATES ?? null,
        concurrency: CONCURRENCY,
        users: USERS,
        capacityJobs: CAPACITY_JOBS,
        eventsMaxLen,
        wrappedArm: 'progressThrottleMs 0',
        publisher: ROLLING ? 'one process, restarted in each level (BENCH_ROLLING)' : 'one process',
        ownRedis: redisServer.own,
      },
      bareJobsPerSecond: Math.round(capacity),
      warmup,
      levels,
      command: `${RATES === undefined ? '' : `BENCH_RATES=${RATES.join(',')} `}npx tsx bench/sustained.ts${quick ? ' --quick' : ''}`,
    };
    const path = await writeResult('sustained', result);
    console.log(`wrote ${path}`);
    if (levels.some((level) => level.missing > 0)) {
      console.error('some jobs never showed completed on the live channel');
      process.exitCode = 1;
    }
    for (const { child } of publishers) await stopChild(child, 'SIGTERM');
    await stopChild(worker, 'SIGTERM');
  } finally {
    await bareQueue.close();
    subscriber.disconnect();
    await scenario.close();
  }
}

await main();
