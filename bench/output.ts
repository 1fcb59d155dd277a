/**
 * Job output streams under load (issue 16): JOBS concurrent BullMQ jobs, each appending RATE chunks
 * per second with `job.appendOutput` in a `seenn.processor`, watched by JOBS SSE clients (one user
 * each, `/sse?jobId=…&output=output`) in another process, through a bridge process. Measures chunks
 * delivered per second, end-to-end latency (the writer stamps `Date.now()` in the chunk just before
 * `appendOutput`; the client parses the event) p50/p99, that every stream saw seq 0, 1, 2, … with no
 * gap or duplicate, and Redis memory per 1,000 chunks (`MEMORY USAGE` of the output keys).
 *
 * Then the worker-side cost of one call, against BullMQ's own `job.log` as the bare baseline:
 * OVERHEAD_JOBS jobs each make OVERHEAD_CALLS calls in a loop, with `job.log(line)`,
 * `job.appendOutput(line)` (default `outputFlushMs` 50) and `appendOutput` with `outputFlushMs: 0`
 * (one Redis call per chunk): wall time per call, this process's CPU and Redis's CPU per call.
 *
 *   npx tsx bench/output.ts
 *   BENCH_JOBS=1000 BENCH_RATE=20 BENCH_SECONDS=20 npx tsx bench/output.ts
 *   BENCH_FLUSH_MS=200 BENCH_OVERHEAD_JOBS=0 npx tsx bench/output.ts   # writers' outputFlushMs; skip the overhead phase
 *   REDIS_URL=redis://127.0.0.1:6379 npx tsx bench/output.ts   # use that Redis; only its own keys are deleted
 *
 * Results: tables on stdout and `bench/results/output.json`.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { Seenn, type SeennWorkerJob } from '../src/index.js';
import { spawnBridge, type BridgeProcess } from '../test/bridge/process.js';
import { loadAverage, machineInfo, round, summarize, wallNow, writeResult } from './lib/harness.js';
import { processCpuMs } from './lib/proc-stats.js';
import { forkTs, installCleanup, request, stopChild } from './lib/processes.js';
import { benchRedis, deletePrefix, redisCpuMs } from './lib/redis.js';

const JOBS = Number(process.env['BENCH_JOBS'] ?? 200);
const RATE = Number(process.env['BENCH_RATE'] ?? 20);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const WARMUP_SECONDS = 2;
/** `outputFlushMs` of the writers in the streaming phase. */
const FLUSH_MS = Number(process.env['BENCH_FLUSH_MS'] ?? 50);
const OVERHEAD_JOBS = Number(process.env['BENCH_OVERHEAD_JOBS'] ?? 50);
const OVERHEAD_CALLS = Number(process.env['BENCH_OVERHEAD_CALLS'] ?? 200);
const SECRET = randomUUID() + randomUUID();

interface ClientReport {
  type: 'report';
  latenciesMs: number[];
  received: number;
  receivedTotal: number;
  outOfOrder: number;
  connected: number;
}

/** Runs the streaming phase; returns its figures. */
async function streaming(url: string): Promise<Record<string, unknown>> {
  const prefix = `bench-output-${randomUUID().slice(0, 8)}`;
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const seenn = new Seenn({ connection: redis, prefix, tokenSecret: SECRET, output: { outputFlushMs: FLUSH_MS } });
  let bridge: BridgeProcess | undefined;
  let worker: Worker | undefined;
  const clients = forkTs(new URL('./lib/output-clients.ts', import.meta.url));
  try {
    bridge = await spawnBridge(url, prefix, SECRET, {
      rateLimit: null,
      connectRateLimit: null,
      maxBufferedBytes: 8 * 1024 * 1024,
      heartbeatMs: 5_000,
    });
    const queue = 'bench-output';
    const jobs = [];
    for (let i = 0; i < JOBS; i += 1)
      jobs.push(
        await seenn.jobs.start({ queue, userId: `bench-output-user-${i}`, jobType: 'bench', title: 'Output probe' }),
      );
    const targets = [];
    for (const job of jobs)
      targets.push({
        url: `http://127.0.0.1:${bridge.port}/v1/sse?jobId=${job.id}&output=output`,
        token: await seenn.tokens.issue({ userId: job.userId, ttlSeconds: 3_600 }),
        jobId: job.id,
      });
    await request(clients, { type: 'open', targets }, 'ready', 120_000);

    let running = true;
    let active = 0;
    let sentWhileRecording = 0;
    let sentTotal = 0;
    let recordingSince = Number.POSITIVE_INFINITY;
    const intervalMs = 1000 / RATE;
    worker = new Worker(
      queue,
      seenn.processor(async (job) => {
        active += 1;
        const start = wallNow() + Math.random() * intervalMs;
        for (let n = 1; running; n += 1) {
          const wait = start + n * intervalMs - wallNow();
          if (wait > 0) await delay(wait);
          const sentAt = wallNow();
          await job.appendOutput(`${sentAt}|${n}`);
          sentTotal += 1;
          if (sentAt >= recordingSince) sentWhileRecording += 1;
        }
        return {};
      }),
      { connection: redis, prefix, concurrency: JOBS },
    );
    // BullMQ takes a while to move 1,000 jobs to active: the warm-up starts once every job runs.
    const rampStartedAt = performance.now();
    while (active < JOBS && performance.now() - rampStartedAt < 120_000) await delay(50);
    const rampSeconds = round((performance.now() - rampStartedAt) / 1000);
    await delay(WARMUP_SECONDS * 1000);
    clients.send({ type: 'record' });
    recordingSince = wallNow();
    const pids = { writer: process.pid, bridge: bridge.child.pid ?? 0, clients: clients.pid ?? 0 };
    const cpuOf = (): Record<string, number> =>
      Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuMs(pid) ?? Number.NaN]));
    const cpuBefore = cpuOf();
    const redisCpuBefore = await redisCpuMs(redis);
    await delay(SECONDS * 1000);
    const redisCpu = (await redisCpuMs(redis)) - redisCpuBefore;
    const cpuAfter = cpuOf();
    const cpuMsPerSecond = {
      ...Object.fromEntries(
        Object.keys(pids).map((name) => [name, round(((cpuAfter[name] ?? 0) - (cpuBefore[name] ?? 0)) / SECONDS)]),
      ),
      redis: round(redisCpu / SECONDS),
    };
    running = false;
    // Every processor flushes its held chunks before it returns.
    await worker.close();
    worker = undefined;

    // What Redis holds: every job's list and totals.
    const keys = seenn.context.keys;
    const memory = redis.pipeline();
    const lengths = redis.pipeline();
    for (const job of jobs) {
      memory.memory('USAGE', keys.outputStream(job.userId, job.id, 'output'), 'SAMPLES', '0');
      memory.memory('USAGE', keys.output(job.userId, job.id), 'SAMPLES', '0');
      lengths.llen(keys.outputStream(job.userId, job.id, 'output'));
    }
    const memoryBytes = ((await memory.exec()) ?? []).reduce((sum, [, value]) => sum + Number(value ?? 0), 0);
    const stored = ((await lengths.exec()) ?? []).reduce((sum, [, value]) => sum + Number(value ?? 0), 0);
    // Let the chunks still in flight arrive (at most 10 s) before the report.
    const deadline = Date.now() + 10_000;
    while (
      Date.now() < deadline &&
      (await request<{ type: 'count'; receivedTotal: number }>(clients, { type: 'count' }, 'count', 5_000))
        .receivedTotal < stored
    )
      await delay(100);
    const report = await request<ClientReport>(clients, { type: 'report' }, 'report', 30_000);
    const latency = summarize(report.latenciesMs);
    return {
      setup: {
        outputFlushMs: FLUSH_MS,
        jobsRunning: active,
        secondsUntilAllRunning: rampSeconds,
        jobs: JOBS,
        chunksPerSecondPerJob: RATE,
        seconds: SECONDS,
        warmupSeconds: WARMUP_SECONDS,
        clients: JOBS,
        bridgeProcesses: 1,
        chunkBytesAsJson: `~${`"${wallNow()}|100"`.length}`,
      },
      achieved: {
        chunksAppended: sentTotal,
        chunksAppendedPerSecond: Math.round(sentWhileRecording / SECONDS),
        chunksDeliveredPerSecond: Math.round(report.received / SECONDS),
        chunksStored: stored,
        chunksReceivedTotal: report.receivedTotal,
        streamsConnected: report.connected,
        outOfOrderOrDuplicate: report.outOfOrder,
      },
      latencyMs: latency,
      redisMemoryBytesPer1000Chunks: Math.round((memoryBytes / stored) * 1000),
      cpuMsPerSecond,
    };
  } finally {
    await worker?.close(true);
    await stopChild(clients, 'SIGKILL');
    await bridge?.kill('SIGTERM');
    await seenn.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  }
}

type Arm = 'job.log' | 'appendOutput' | 'appendOutput (outputFlushMs 0)';

/** Runs the overhead phase for one arm. */
async function overhead(url: string, arm: Arm): Promise<Record<string, unknown>> {
  const prefix = `bench-output-oh-${randomUUID().slice(0, 8)}`;
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const seenn = new Seenn({
    connection: redis,
    prefix,
    tokenSecret: SECRET,
    ...(arm === 'appendOutput (outputFlushMs 0)' ? { output: { outputFlushMs: 0 } } : {}),
  });
  const queue = 'bench-output-oh';
  const loopMs: number[] = [];
  const calls = OVERHEAD_JOBS * OVERHEAD_CALLS;
  try {
    for (let i = 0; i < OVERHEAD_JOBS; i += 1)
      await seenn.jobs.start({ queue, userId: `oh-user-${i}`, jobType: 'bench', title: 'Overhead probe' });
    let finished = 0;
    let markDone: () => void = () => undefined;
    const allDone = new Promise<void>((resolve) => {
      markDone = resolve;
    });
    const redisBefore = await redisCpuMs(redis);
    const cpuBefore = process.cpuUsage();
    const loop = async (job: SeennWorkerJob): Promise<void> => {
      const start = performance.now();
      for (let n = 0; n < OVERHEAD_CALLS; n += 1) {
        const line = `token ${n} of job ${job.id ?? ''}`;
        if (arm === 'job.log') await (job as Job).log(line);
        else await job.appendOutput(line);
      }
      loopMs.push(performance.now() - start);
    };
    const worker = new Worker(
      queue,
      seenn.processor(async (job) => {
        await loop(job);
        return {};
      }),
      { connection: redis, prefix, concurrency: OVERHEAD_JOBS },
    );
    // appendOutput's held chunks are written before the processor returns: counted until completion.
    worker.on('completed', () => {
      finished += 1;
      if (finished === OVERHEAD_JOBS) markDone();
    });
    await allDone;
    const cpu = process.cpuUsage(cpuBefore);
    const redisCpu = (await redisCpuMs(redis)) - redisBefore;
    await worker.close();
    const perCall = summarize(loopMs.map((ms) => (ms * 1000) / OVERHEAD_CALLS));
    return {
      arm,
      calls,
      wallMicrosPerCallP50: perCall.p50,
      wallMicrosPerCallP99: perCall.p99,
      workerCpuMicrosPerCall: round((cpu.user + cpu.system) / calls),
      redisCpuMicrosPerCall: round((redisCpu * 1000) / calls),
    };
  } finally {
    await seenn.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  }
}

async function main(): Promise<void> {
  const cancelDeadline = installCleanup('output', (SECONDS + WARMUP_SECONDS + 300) * 1000);
  const server = await benchRedis();
  try {
    const stream = await streaming(server.url);
    const arms: Arm[] = ['job.log', 'appendOutput', 'appendOutput (outputFlushMs 0)'];
    const overheadRows = [];
    if (OVERHEAD_JOBS > 0) for (const arm of arms) overheadRows.push(await overhead(server.url, arm));
    const result = {
      date: new Date().toISOString(),
      machine: await machineInfo(server.version),
      loadAverage: loadAverage(),
      command: 'npx tsx bench/output.ts',
      env: {
        BENCH_JOBS: JOBS,
        BENCH_RATE: RATE,
        BENCH_SECONDS: SECONDS,
        BENCH_FLUSH_MS: FLUSH_MS,
        BENCH_OVERHEAD_JOBS: OVERHEAD_JOBS,
        BENCH_OVERHEAD_CALLS: OVERHEAD_CALLS,
      },
      streaming: stream,
      overhead: overheadRows,
    };
    console.log(
      `\nJob output: ${JOBS} jobs × ${RATE} chunks/s, ${JOBS} SSE clients, ${SECONDS} s (after ${WARMUP_SECONDS} s warm-up)`,
    );
    console.table({
      streaming: {
        ...(stream['achieved'] as object),
        'bytes per 1000 chunks': stream['redisMemoryBytesPer1000Chunks'],
      },
    });
    console.table({ 'CPU ms per s': stream['cpuMsPerSecond'] });
    console.table({ 'appendOutput → SSE client (ms)': stream['latencyMs'] });
    console.log(`\nWorker cost per call: ${OVERHEAD_JOBS} jobs × ${OVERHEAD_CALLS} calls`);
    console.table(overheadRows);
    console.log(`\nwritten to ${await writeResult('output', result)}`);
  } finally {
    await server.stop();
    cancelDeadline();
  }
}

await main();
