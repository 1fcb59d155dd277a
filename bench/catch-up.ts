/**
 * Catch-up: how fast publishers work off a backlog of BullMQ events that piled up while no
 * publisher ran. The backlog is built once: `seenn.jobs.start` jobs (one queue, 1,000 users) worked
 * by a wrapped processor with three `setProgress` calls each (throttle 0), with BullMQ's events
 * stream sized so nothing is trimmed. The Seenn state the producer wrote before any publisher ran is
 * saved (DUMP) and restored before every run, so each run starts from the same state. Then, per run,
 * 1, 2 and 4 publisher processes (each its own process, started together) work the backlog off; the
 * clock runs from the moment all of them are up until the queue's checkpoint reaches the stream's
 * last entry (and every job shows `completed`).
 *
 * Reported per run: source events/s (entries of the events stream, `added` included), publisher CPU
 * per source event (all processes together), Redis CPU per source event, and Redis command calls per
 * job from `INFO commandstats`.
 *
 *   npx tsx bench/catch-up.ts                  # 20,000 jobs (≈ 140,000 events), 1,000 users; 1, 2, 4 processes
 *   npx tsx bench/catch-up.ts --quick          # 3,000 jobs, 100 users; 1 and 2 processes
 *   BENCH_JOBS=40000 BENCH_PUBLISHERS=1 npx tsx bench/catch-up.ts
 *   BENCH_PUBLISHER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' …   # profile the publisher processes
 *   BENCH_PAYLOAD_BYTES=10000 …   # each job's BullMQ data carries that many bytes more (default 0)
 *   BENCH_RESYNC=1 …   # a re-sync instead: the stream is trimmed to its last entry and the checkpoint
 *                      # set to its first, so the publishers find a gap and rebuild every job from
 *                      # BullMQ's lists and hashes; reported as jobs rebuilt per second
 *
 * Results: a table and `bench/results/catch-up.json`.
 */
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { isQuick, loadAverage, machineInfo, round, writeResult } from './lib/harness.js';
import { stopChild } from './lib/processes.js';
import { processCpuMs } from './lib/proc-stats.js';
import { waitFor } from '../test/helpers/wait.js';
import { openScenario } from './lib/scenario.js';
import { spawnBenchPublisher, type BenchPublisher } from './lib/publisher-process.js';
import { commandStats, commandsPerJob, redisCpuMs } from './lib/redis.js';

const quick = isQuick();
const JOBS = Number(process.env['BENCH_JOBS'] ?? (quick ? 3_000 : 20_000));
const USERS = Number(process.env['BENCH_USERS'] ?? (quick ? 100 : 1_000));
const PUBLISHERS = (process.env['BENCH_PUBLISHERS'] ?? (quick ? '1,2' : '1,2,4')).split(',').map(Number);
const UPDATES_PER_JOB = 3;
const QUEUE = 'catchup';
const CATCH_UP_TIMEOUT_MS = 300_000;
const PAYLOAD_BYTES = Number(process.env['BENCH_PAYLOAD_BYTES'] ?? 0);
const RESYNC = process.env['BENCH_RESYNC'] === '1';

/** Ids in `ms-seq` form, compared numerically. */
function idAtLeast(id: string, target: string): boolean {
  const [ms = 0, seq = 0] = id.split('-').map(Number);
  const [targetMs = 0, targetSeq = 0] = target.split('-').map(Number);
  return ms > targetMs || (ms === targetMs && seq >= targetSeq);
}

/** Every Seenn key of the bench's prefix: the app's keys and the queue's (checkpoints, leases, live set). */
async function seennKeys(redis: Redis, prefix: string): Promise<string[]> {
  return [...(await scanKeys(redis, `${prefix}:seenn:*`)), ...(await scanKeys(redis, `${prefix}:${QUEUE}:seenn:*`))];
}

/** Every key under `pattern`, by SCAN. */
async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, page] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...page);
  } while (cursor !== '0');
  return keys;
}

interface RunResult {
  publishers: number;
  sourceEvents: number;
  seconds: number;
  sourceEventsPerSecond: number;
  publisherCpuUsPerEvent: number;
  redisCpuUsPerEvent: number;
  commandCallsPerJob: Record<string, number>;
  /** Redis time per job by command (µs, `INFO commandstats`; a script's own commands count in it and again on their own). */
  commandUsPerJob: Record<string, number>;
  /** Jobs worked off per second (in re-sync mode: rebuilt). */
  jobsPerSecond: number;
  resyncs: number;
  errors: number;
  loadAverage1m: number;
}

async function main(): Promise<void> {
  const scenario = await openScenario({ name: 'catch-up', deadlineMs: (quick ? 180 : 900) * 1000, prefixTag: 'cu' });
  const { redisServer, prefix, redis, seenn } = scenario;
  // Sized so the backlog is never trimmed (a trimmed backlog would measure a re-sync instead).
  const queue = new Queue(QUEUE, { connection: redis, prefix, streams: { events: { maxLen: JOBS * 20 } } });
  const loadBefore = loadAverage();
  const publishers: BenchPublisher[] = [];
  try {
    await queue.waitUntilReady();
    // 1. The backlog: jobs started through Seenn, worked off with no publisher running.
    const buildStarted = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < JOBS) {
          const i = next++;
          await seenn.jobs.start({
            queue: QUEUE,
            userId: `user-${i % USERS}`,
            jobType: 'bench',
            title: `Job ${i}`,
            data: PAYLOAD_BYTES > 0 ? { i, payload: 'x'.repeat(PAYLOAD_BYTES) } : { i },
          });
        }
      }),
    );
    const storeKeys = await seennKeys(redis, prefix);
    const dumps: [string, Buffer][] = [];
    for (let i = 0; i < storeKeys.length; i += 1000) {
      const pipeline = redis.pipeline();
      const slice = storeKeys.slice(i, i + 1000);
      for (const key of slice) pipeline.dumpBuffer(key);
      const replies = (await pipeline.exec()) ?? [];
      for (const [k, [error, value]] of replies.entries())
        if (!error && value) dumps.push([slice[k] as string, value as Buffer]);
    }
    const workerConnection = redis.duplicate();
    const worker = new Worker(
      QUEUE,
      seenn.processor(
        async (job) => {
          for (let step = 1; step <= UPDATES_PER_JOB; step += 1)
            await job.setProgress((step * 100) / UPDATES_PER_JOB, { message: `step ${step}` });
          return { ok: true };
        },
        { progressThrottleMs: 0 },
      ),
      { connection: workerConnection, prefix, concurrency: 100 },
    );
    let completed = 0;
    await new Promise<void>((resolve) => {
      worker.on('completed', () => {
        completed += 1;
        if (completed === JOBS) resolve();
      });
    });
    await worker.close();
    await workerConnection.quit();
    const streamKey = seenn.context.keys.bullEvents(QUEUE);
    const sourceEvents = await redis.xlen(streamKey);
    const [last] = (await redis.xrevrange(streamKey, '+', '-', 'COUNT', 1)) as [string, string[]][];
    const lastId = (last as [string, string[]])[0];
    const [first] = (await redis.xrange(streamKey, '-', '+', 'COUNT', 1)) as [string, string[]][];
    const firstId = (first as [string, string[]])[0];
    const buildSeconds = (Date.now() - buildStarted) / 1000;
    const streamBytes = Number(await redis.call('MEMORY', 'USAGE', streamKey, 'SAMPLES', '0'));
    const bytesPerEntry = Math.round(streamBytes / sourceEvents);
    console.log(
      `backlog: ${JOBS} jobs, ${USERS} users, ${PAYLOAD_BYTES} bytes of payload each, ${sourceEvents} source events (${round(sourceEvents / JOBS, 2)} per job, ${bytesPerEntry} bytes of Redis memory per entry) in ${round(buildSeconds, 1)} s`,
    );
    // Re-sync mode: every event but the last is gone; the checkpoint (set per run) points before them.
    if (RESYNC) await redis.xtrim(streamKey, 'MAXLEN', 1);

    // 2. Runs: restore the state before any publisher ran, start N publishers, time the catch-up.
    const runs: RunResult[] = [];
    for (const count of PUBLISHERS) {
      const current = await seennKeys(redis, prefix);
      for (let i = 0; i < current.length; i += 1000) await redis.del(...current.slice(i, i + 1000));
      for (let i = 0; i < dumps.length; i += 1000) {
        const pipeline = redis.pipeline();
        for (const [key, value] of dumps.slice(i, i + 1000)) pipeline.restore(key, 0, value, 'REPLACE');
        await pipeline.exec();
      }
      if (RESYNC) await redis.set(seenn.context.keys.checkpoint(QUEUE), firstId);
      const started = await Promise.all(
        Array.from({ length: count }, () =>
          spawnBenchPublisher({ redisUrl: redisServer.url, prefix, queues: [QUEUE] }),
        ),
      );
      publishers.push(...started);
      const cpuBefore = started.map((p) => processCpuMs(p.pid) ?? 0);
      const redisBefore = await redisCpuMs(redis);
      const callsBefore = await commandStats(redis);
      const t0 = performance.now();
      const checkpointKey = seenn.context.keys.checkpoint(QUEUE);
      await waitFor(
        async () => {
          const checkpoint = await redis.get(checkpointKey);
          return checkpoint !== null && idAtLeast(checkpoint, lastId);
        },
        { timeoutMs: CATCH_UP_TIMEOUT_MS, intervalMs: 5, what: `${count} publisher(s) to catch up` },
      );
      const seconds = (performance.now() - t0) / 1000;
      const publisherCpu = started.reduce((sum, p, i) => sum + ((processCpuMs(p.pid) ?? 0) - (cpuBefore[i] ?? 0)), 0);
      const redisCpu = (await redisCpuMs(redis)) - redisBefore;
      const callsAfter = await commandStats(redis);
      const { calls: perJob, usec: usPerJob } = commandsPerJob(callsBefore, callsAfter, JOBS);
      // Every job must show completed: a fast wrong answer is no answer.
      const sample = await seenn.jobs.list('user-0', { limit: 100 });
      const notDone = sample.jobs.filter((job) => job.status !== 'completed').length;
      if (notDone > 0) throw new Error(`${notDone} jobs of user-0 are not completed after the catch-up`);
      await Promise.all(started.map((p) => stopChild(p.child, 'SIGTERM')));
      const result: RunResult = {
        publishers: count,
        sourceEvents,
        seconds: round(seconds, 3),
        sourceEventsPerSecond: Math.round(sourceEvents / seconds),
        publisherCpuUsPerEvent: round((publisherCpu * 1000) / sourceEvents, 1),
        redisCpuUsPerEvent: round((redisCpu * 1000) / sourceEvents, 1),
        commandCallsPerJob: perJob,
        commandUsPerJob: usPerJob,
        jobsPerSecond: Math.round(JOBS / seconds),
        resyncs: started.reduce((sum, p) => sum + p.counters.resyncs, 0),
        errors: started.reduce((sum, p) => sum + p.counters.errors, 0),
        loadAverage1m: loadAverage()[0],
      };
      runs.push(result);
      if (RESYNC)
        console.log(
          `${count} publisher(s): re-synced ${JOBS} jobs in ${result.seconds} s, ${result.jobsPerSecond} jobs/s; publisher CPU ${round((publisherCpu * 1000) / JOBS, 1)} µs/job, Redis CPU ${round((redisCpu * 1000) / JOBS, 1)} µs/job (load ${result.loadAverage1m})`,
        );
      else
        console.log(
          `${count} publisher(s): ${result.sourceEventsPerSecond} source events/s (${result.seconds} s); publisher CPU ${result.publisherCpuUsPerEvent} µs/event, Redis CPU ${result.redisCpuUsPerEvent} µs/event (load ${result.loadAverage1m})`,
        );
    }
    console.table(
      Object.fromEntries(
        runs.map((r) => [
          `${r.publishers} process${r.publishers === 1 ? '' : 'es'}`,
          {
            'events/s': r.sourceEventsPerSecond,
            'jobs/s': r.jobsPerSecond,
            seconds: r.seconds,
            'publisher CPU µs/event': r.publisherCpuUsPerEvent,
            'Redis CPU µs/event': r.redisCpuUsPerEvent,
            resyncs: r.resyncs,
            errors: r.errors,
          },
        ]),
      ),
    );
    console.log('Redis calls per job (last run):', runs[runs.length - 1]?.commandCallsPerJob);
    console.log('Redis µs per job by command (last run):', runs[runs.length - 1]?.commandUsPerJob);
    const path = await writeResult(RESYNC ? 'catch-up-resync' : 'catch-up', {
      scenario: 'catch-up',
      quick,
      date: new Date().toISOString(),
      machine: await machineInfo(redisServer.version),
      loadAverage: { before: loadBefore, after: loadAverage() },
      setup: {
        jobs: JOBS,
        users: USERS,
        progressUpdatesPerJob: UPDATES_PER_JOB,
        payloadBytes: PAYLOAD_BYTES,
        resync: RESYNC,
        sourceEvents,
        eventsStreamBytesPerEntry: bytesPerEntry,
        ownRedis: redisServer.own,
      },
      runs,
      command: `${RESYNC ? 'BENCH_RESYNC=1 ' : ''}${PAYLOAD_BYTES > 0 ? `BENCH_PAYLOAD_BYTES=${PAYLOAD_BYTES} ` : ''}npx tsx bench/catch-up.ts${quick ? ' --quick' : ''}`,
    });
    console.log(`wrote ${path}`);
    // A catch-up must not re-sync; a re-sync run must (once per process at most).
    if (runs.some((r) => r.errors > 0 || (RESYNC ? r.resyncs === 0 : r.resyncs > 0))) process.exitCode = 1;
  } finally {
    await Promise.all(publishers.map((p) => stopChild(p.child, 'SIGTERM')));
    await queue.close();
    await scenario.close();
  }
}

await main();
