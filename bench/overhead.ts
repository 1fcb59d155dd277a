/**
 * Overhead: jobs/s of the same BullMQ processor — four progress updates per job, awaited, no other
 * work — in five arms, run in ALTERNATING rounds (bare, wrapped, wrapped-t0, alone, alone-t0, bare, …) with the same
 * job count and worker concurrency, after one small warm-up round of each:
 * - `bare`: `job.updateProgress(pct)`, jobs from plain `queue.addBulk`, nothing else running;
 * - `wrapped`: `seenn.processor` + `job.setProgress(pct)` with the DEFAULT throttle (100 ms), jobs
 *   from `seenn.jobs.start`, a Seenn publisher running in its own process;
 * - `wrapped-t0`: the same with `progressThrottleMs: 0`, which separates the wrapper's and the
 *   publisher's cost from the throttle (an awaited `setProgress` inside the throttle window resolves
 *   only when the window's write is done, so a job that awaits four quick updates takes ≥ 300 ms).
 * - `alone` / `alone-t0`: the wrapped processor (default throttle / throttle 0) on a queue no publisher
 *   reads — the worker side alone, as when the publisher runs on another machine (issue 10, item 3).
 * Only processing is timed: each round fills its queue first (and, wrapped, waits until the
 * publisher has caught up with the fill), then starts the worker and stops the clock at the last
 * job's `completed`. Reported per round, with medians and the ratios to bare.
 *
 * Also measured per wrapped round: how far the publisher lags — from each job's completion in the
 * worker to its `job.completed` notification on the store's live channel (what bridges fan out), and
 * from the last job's completion until every job's Seenn state is `completed` — plus progress writes
 * per job (`job.updateProgress` calls), Lua script calls per job (worker and publisher together), and
 * the CPU time of the worker process, the publisher process and Redis.
 *
 *   npx tsx bench/overhead.ts               # 3 rounds per arm of 5,000 jobs, concurrency 100
 *   npx tsx bench/overhead.ts --quick       # 2 rounds per arm of 1,000 jobs
 *   BENCH_JOBS=20000 BENCH_ROUNDS=5 BENCH_CONCURRENCY=50 npx tsx bench/overhead.ts
 *   REDIS_URL=redis://127.0.0.1:6379 npx tsx bench/overhead.ts   # that Redis; only its own keys are deleted
 *   BENCH_WORKER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' …   # profile the worker process
 *   BENCH_PUBLISHER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' …   # profile the publisher process
 *
 * Results: a table and `bench/results/overhead.json`.
 */
import { Queue } from 'bullmq';
import { isQuick, loadAverage, machineInfo, median, round, summarize, wallNow, writeResult } from './lib/harness.js';
import { spawnOverheadWorker, UPDATES_PER_JOB, type OverheadArm, type OverheadRound } from './lib/overhead-worker.js';
import { request, stopChild } from './lib/processes.js';
import { processCpuMs } from './lib/proc-stats.js';
import { waitFor } from '../test/helpers/wait.js';
import { openScenario } from './lib/scenario.js';
import { spawnBenchPublisher, type BenchPublisher } from './lib/publisher-process.js';
import { commandStats, commandsPerJob, redisCpuMs, scriptsBetween } from './lib/redis.js';

const quick = isQuick();
const JOBS = Number(process.env['BENCH_JOBS'] ?? (quick ? 1_000 : 5_000));
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? (quick ? 2 : 3));
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 100);
const WARMUP_JOBS = Math.max(200, Math.round(JOBS / 5));
const USERS = 100;
const BARE_QUEUE = 'ovh-bare';
const SEENN_QUEUE = 'ovh-seenn';
/** The `alone` arms' queue: no publisher reads it (the wrapped processor's own cost, publisher elsewhere). */
const ALONE_QUEUE = 'ovh-alone';
const LAG_TIMEOUT_MS = 180_000;
const ARMS: readonly OverheadArm[] = ['bare', 'wrapped', 'wrapped-t0', 'alone', 'alone-t0'];
type Arm = OverheadArm;

/** The queue an arm's jobs go to. */
function queueOf(arm: Arm): string {
  if (arm === 'bare') return BARE_QUEUE;
  return arm.startsWith('alone') ? ALONE_QUEUE : SEENN_QUEUE;
}

/** Ids in `ms-seq` form, compared numerically. */
function idAtLeast(id: string, target: string): boolean {
  const [ms = 0, seq = 0] = id.split('-').map(Number);
  const [targetMs = 0, targetSeq = 0] = target.split('-').map(Number);
  return ms > targetMs || (ms === targetMs && seq >= targetSeq);
}

interface RoundResult {
  arm: Arm;
  round: number;
  jobs: number;
  seconds: number;
  jobsPerSecond: number;
  progressWritesPerJob: number;
  scriptCallsPerJob: number;
  workerCpuMsPerJob: number;
  redisCpuMsPerJob: number;
  /** Redis calls per job by command (scripts always, others run at least once per ten jobs). */
  redisCallsPerJob: Record<string, number>;
  /** Redis µs per job by command, as {@link RoundResult.redisCallsPerJob} counts them. */
  redisUsPerJob: Record<string, number>;
  publisherCpuMsPerJob?: number;
  publisherLag?: {
    /** From the last job's completion in the worker until every job's Seenn state is `completed`. */
    lastJobMs: number;
    /** Per job: completion in the worker → `job.completed` on the live channel. */
    perJobMs: ReturnType<typeof summarize>;
    /** Jobs per second counted until the last Seenn state is `completed`. */
    visibleJobsPerSecond: number;
    missing: number;
  };
  loadAverage1m: number;
}

async function main(): Promise<void> {
  const scenario = await openScenario({ name: 'overhead', deadlineMs: (quick ? 100 : 600) * 1000, prefixTag: 'ovh' });
  const { redisServer, prefix, redis, seenn } = scenario;
  const bareQueue = new Queue(BARE_QUEUE, { connection: redis, prefix });
  const subscriber = redis.duplicate();
  const loadBefore = loadAverage();
  let publisher: BenchPublisher | undefined;
  // job.completed notifications of the current wrapped round: job id → arrival time.
  let completedSeen = new Map<string, number>();
  let watching = new Set<string>();
  try {
    await subscriber.subscribe(seenn.context.keys.liveChannel());
    subscriber.on('message', (_channel: string, text: string) => {
      const at = wallNow();
      // One message per commit: the user, then entry id, event name and payload of each event.
      const lines = text.split('\n');
      for (let i = 1; i + 2 < lines.length; i += 3) {
        if (lines[i + 1] !== 'job.completed') continue;
        const id = (JSON.parse(lines[i + 2] as string) as { id: string }).id;
        if (watching.has(id) && !completedSeen.has(id)) completedSeen.set(id, at);
      }
    });
    publisher = await spawnBenchPublisher({ redisUrl: redisServer.url, prefix, queues: [SEENN_QUEUE] });
    const worker = await spawnOverheadWorker(redisServer.url, prefix);

    const publisherCaughtUp = async (): Promise<void> => {
      await waitFor(
        async () => {
          const [last] = (await redis.xrevrange(seenn.context.keys.bullEvents(SEENN_QUEUE), '+', '-', 'COUNT', 1)) as [
            string,
            string[],
          ][];
          const checkpoint = await redis.get(seenn.context.keys.checkpoint(SEENN_QUEUE));
          return last === undefined || (checkpoint !== null && idAtLeast(checkpoint, last[0]));
        },
        { timeoutMs: LAG_TIMEOUT_MS, intervalMs: 20, what: 'the publisher to catch up with the fill' },
      );
    };

    const fill = async (arm: Arm, jobs: number): Promise<string[]> => {
      if (arm === 'bare') {
        const ids: string[] = [];
        for (let i = 0; i < jobs; i += 1_000) {
          const added = await bareQueue.addBulk(
            Array.from({ length: Math.min(1_000, jobs - i) }, (_, k) => ({ name: 'bench', data: { i: i + k } })),
          );
          ids.push(...added.map((job) => job.id as string));
        }
        return ids;
      }
      const ids: string[] = new Array<string>(jobs);
      let next = 0;
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          while (next < jobs) {
            const i = next++;
            const job = await seenn.jobs.start({
              queue: arm.startsWith('alone') ? ALONE_QUEUE : SEENN_QUEUE,
              userId: `user-${i % USERS}`,
              jobType: 'bench',
              title: `Job ${i}`,
              data: { i },
            });
            ids[i] = job.id;
          }
        }),
      );
      if (!arm.startsWith('alone')) await publisherCaughtUp();
      return ids;
    };

    const runRound = async (arm: Arm, roundNumber: number, jobs: number): Promise<RoundResult> => {
      const ids = await fill(arm, jobs);
      watching = new Set(ids);
      completedSeen = new Map();
      const redisCpuBefore = await redisCpuMs(redis);
      const commandsBefore = await commandStats(redis);
      const publisherCpuBefore = processCpuMs(publisher?.pid ?? 0) ?? 0;
      const done = await request<OverheadRound>(
        worker,
        { type: 'run', arm, queue: queueOf(arm), jobs, concurrency: CONCURRENCY },
        'done',
        LAG_TIMEOUT_MS,
      );
      const seconds = (done.lastCompletedAt - done.startedAt) / 1000;
      let publisherLag: RoundResult['publisherLag'];
      if (arm === 'wrapped' || arm === 'wrapped-t0') {
        // Jobs that never show completed are counted below, not thrown.
        await waitFor(() => completedSeen.size >= jobs, { timeoutMs: LAG_TIMEOUT_MS, intervalMs: 5 }).catch(
          () => undefined,
        );
        const completedAt = new Map(done.completedAt);
        const lastSeen = Math.max(...completedSeen.values());
        const perJob = [...completedSeen].map(([id, at]) => at - (completedAt.get(id) ?? at));
        publisherLag = {
          lastJobMs: round(lastSeen - done.lastCompletedAt),
          perJobMs: summarize(perJob),
          visibleJobsPerSecond: Math.round(jobs / ((lastSeen - done.startedAt) / 1000)),
          missing: jobs - completedSeen.size,
        };
      }
      const redisCpu = (await redisCpuMs(redis)) - redisCpuBefore;
      const commandsAfter = await commandStats(redis);
      const commands = commandsPerJob(commandsBefore, commandsAfter, jobs);
      const scripts = scriptsBetween(commandsBefore, commandsAfter).calls;
      const publisherCpu = (processCpuMs(publisher?.pid ?? 0) ?? 0) - publisherCpuBefore;
      return {
        arm,
        round: roundNumber,
        jobs,
        seconds: round(seconds, 3),
        jobsPerSecond: Math.round(jobs / seconds),
        progressWritesPerJob: round(done.writes / jobs, 2),
        scriptCallsPerJob: round(scripts / jobs, 2),
        workerCpuMsPerJob: round(done.cpuUs / 1000 / jobs, 4),
        redisCpuMsPerJob: round(redisCpu / jobs, 4),
        redisCallsPerJob: commands.calls,
        redisUsPerJob: commands.usec,
        ...(arm === 'wrapped' || arm === 'wrapped-t0' ? { publisherCpuMsPerJob: round(publisherCpu / jobs, 4) } : {}),
        ...(publisherLag === undefined ? {} : { publisherLag }),
        loadAverage1m: loadAverage()[0],
      };
    };

    // Warm-up (not reported), then alternating rounds.
    for (const arm of ARMS) await runRound(arm, 0, WARMUP_JOBS);
    const rounds: RoundResult[] = [];
    for (let n = 1; n <= ROUNDS; n += 1) {
      for (const arm of ARMS) {
        const result = await runRound(arm, n, JOBS);
        rounds.push(result);
        console.log(
          `round ${n} ${arm.padEnd(10)} ${String(result.jobsPerSecond).padStart(6)} jobs/s` +
            (result.publisherLag
              ? `  publisher lag: last job ${result.publisherLag.lastJobMs} ms, per job p50 ${result.publisherLag.perJobMs.p50} / p99 ${result.publisherLag.perJobMs.p99} ms`
              : '') +
            `  (load ${result.loadAverage1m})`,
        );
      }
    }
    const bare = rounds.filter((r) => r.arm === 'bare');
    const wrapped = rounds.filter((r) => r.arm === 'wrapped');
    const unthrottled = rounds.filter((r) => r.arm === 'wrapped-t0');
    const alone = rounds.filter((r) => r.arm === 'alone');
    const aloneUnthrottled = rounds.filter((r) => r.arm === 'alone-t0');
    const medianOf = (list: RoundResult[], pick: (r: RoundResult) => number) => round(median(list.map(pick)), 2);
    const bareMedian = medianOf(bare, (r) => r.jobsPerSecond);
    const wrappedMedian = medianOf(wrapped, (r) => r.jobsPerSecond);
    const visibleMedian = medianOf(wrapped, (r) => r.publisherLag?.visibleJobsPerSecond ?? Number.NaN);
    const unthrottledMedian = medianOf(unthrottled, (r) => r.jobsPerSecond);
    const aloneMedian = medianOf(alone, (r) => r.jobsPerSecond);
    const aloneUnthrottledMedian = medianOf(aloneUnthrottled, (r) => r.jobsPerSecond);
    const summary = {
      bareJobsPerSecondMedian: bareMedian,
      wrappedJobsPerSecondMedian: wrappedMedian,
      ratioWrappedToBare: round(wrappedMedian / bareMedian, 3),
      wrappedVisibleJobsPerSecondMedian: visibleMedian,
      ratioVisibleToBare: round(visibleMedian / bareMedian, 3),
      wrappedThrottle0JobsPerSecondMedian: unthrottledMedian,
      ratioWrappedThrottle0ToBare: round(unthrottledMedian / bareMedian, 3),
      aloneJobsPerSecondMedian: aloneMedian,
      ratioAloneToBare: round(aloneMedian / bareMedian, 3),
      aloneThrottle0JobsPerSecondMedian: aloneUnthrottledMedian,
      ratioAloneThrottle0ToBare: round(aloneUnthrottledMedian / bareMedian, 3),
      workerCpuMsPerJobMedian: {
        bare: medianOf(bare, (r) => r.workerCpuMsPerJob),
        alone: medianOf(alone, (r) => r.workerCpuMsPerJob),
        aloneThrottle0: medianOf(aloneUnthrottled, (r) => r.workerCpuMsPerJob),
      },
      publisherLagLastJobMsMedianThrottle0: medianOf(unthrottled, (r) => r.publisherLag?.lastJobMs ?? Number.NaN),
      publisherLagLastJobMsMedian: medianOf(wrapped, (r) => r.publisherLag?.lastJobMs ?? Number.NaN),
      publisherLagPerJobP50MsMedian: medianOf(wrapped, (r) => r.publisherLag?.perJobMs.p50 ?? Number.NaN),
      publisherLagPerJobP99MsMedian: medianOf(wrapped, (r) => r.publisherLag?.perJobMs.p99 ?? Number.NaN),
      progressWritesPerJob: {
        bare: medianOf(bare, (r) => r.progressWritesPerJob),
        wrapped: medianOf(wrapped, (r) => r.progressWritesPerJob),
        wrappedThrottle0: medianOf(unthrottled, (r) => r.progressWritesPerJob),
      },
      publisherResyncs: publisher.counters.resyncs,
      publisherErrors: publisher.counters.errors,
      missingCompletedStates: [...wrapped, ...unthrottled].reduce((sum, r) => sum + (r.publisherLag?.missing ?? 0), 0),
    };
    const result = {
      scenario: 'overhead',
      quick,
      date: new Date().toISOString(),
      machine: await machineInfo(redisServer.version),
      loadAverage: { before: loadBefore, after: loadAverage() },
      setup: {
        jobsPerRound: JOBS,
        roundsPerArm: ROUNDS,
        warmupJobs: WARMUP_JOBS,
        concurrency: CONCURRENCY,
        progressUpdatesPerJob: UPDATES_PER_JOB,
        users: USERS,
        progressThrottleMs: 'default (100)',
        publisher: 'own process',
        ownRedis: redisServer.own,
      },
      rounds,
      summary,
      command: `npx tsx bench/overhead.ts${quick ? ' --quick' : ''}`,
    };
    console.log(
      `\nOverhead: ${JOBS} jobs per round, concurrency ${CONCURRENCY}, ${UPDATES_PER_JOB} progress updates per job; load ${loadBefore.join(' ')}`,
    );
    console.table(
      Object.fromEntries(
        rounds.map((r) => [
          `${r.round} ${r.arm}`,
          {
            'jobs/s': r.jobsPerSecond,
            'writes/job': r.progressWritesPerJob,
            'scripts/job': r.scriptCallsPerJob,
            'worker CPU ms/job': r.workerCpuMsPerJob,
            'publisher CPU ms/job': r.publisherCpuMsPerJob ?? '',
            'Redis CPU ms/job': r.redisCpuMsPerJob,
            'lag last job ms': r.publisherLag?.lastJobMs ?? '',
            'lag p50/p99 ms': r.publisherLag ? `${r.publisherLag.perJobMs.p50} / ${r.publisherLag.perJobMs.p99}` : '',
          },
        ]),
      ),
    );
    console.log(
      `median jobs/s: bare ${bareMedian}, wrapped ${wrappedMedian} → ratio ${summary.ratioWrappedToBare}; ` +
        `visible (until Seenn shows completed) ${visibleMedian} → ${summary.ratioVisibleToBare}; publisher lag after the last job ${summary.publisherLagLastJobMsMedian} ms (median of rounds); ` +
        `wrapped with progressThrottleMs 0: ${unthrottledMedian} → ratio ${summary.ratioWrappedThrottle0ToBare}; ` +
        `wrapped alone (no publisher on the box's queue): ${aloneMedian} → ${summary.ratioAloneToBare}, with throttle 0 ${aloneUnthrottledMedian} → ${summary.ratioAloneThrottle0ToBare}; ` +
        `worker CPU ms/job bare ${summary.workerCpuMsPerJobMedian.bare}, alone ${summary.workerCpuMsPerJobMedian.alone}, alone-t0 ${summary.workerCpuMsPerJobMedian.aloneThrottle0}`,
    );
    const path = await writeResult('overhead', result);
    console.log(`wrote ${path}`);
    if (summary.missingCompletedStates > 0) {
      console.error(`${summary.missingCompletedStates} jobs never reached completed in Seenn`);
      process.exitCode = 1;
    }
    await stopChild(publisher.child, 'SIGTERM');
    // Its IPC channel closing ends it normally (a `BENCH_WORKER_NODE_ARGS='--cpu-prof …'` is written).
    await stopChild(worker, 'disconnect', 10_000);
  } finally {
    await bareQueue.close();
    subscriber.disconnect();
    await scenario.close();
  }
}

await main();
