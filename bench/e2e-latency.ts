/**
 * End-to-end latency: a worker's `job.setProgress(...)` → BullMQ events stream → publisher → Seenn
 * store (Lua commit + PUBLISH) → bridge process (hub, fan-out) → SSE → an `http` client in another
 * process that parses the event. Everything runs on loopback, in five processes: this one (producer,
 * BullMQ worker), a publisher process (as production runs it, apart from the workers), a bridge
 * process, an SSE client process, and a throw-away redis-server. `BENCH_PUBLISHER=inline` runs the
 * publisher in this process instead, beside the worker (how this benchmark ran before 2026-11-30 16:10).
 *
 *   npx tsx bench/e2e-latency.ts
 *   BENCH_CONNECTIONS=1000 BENCH_USERS=100 BENCH_RATE=500 BENCH_SECONDS=20 npx tsx bench/e2e-latency.ts
 *   REDIS_URL=redis://127.0.0.1:6379 npx tsx bench/e2e-latency.ts   # use that Redis; only its own keys are deleted
 *
 * Each user has one running job and CONNECTIONS / USERS open streams, so every progress event is
 * delivered to that many connections. Workers call `setProgress` RATE times per second in total,
 * evenly over the jobs, with `progressThrottleMs: 0` (no coalescing). Latency is measured per
 * delivered event after a warm-up, from the wall-clock time the worker stamped in the progress
 * message to the moment the client parsed the event (same machine, same clock).
 * Results: a table on stdout and `bench/results/e2e-latency.json`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Seenn } from '../src/seenn.js';
import { spawnBridge, type BridgeProcess } from '../test/bridge/process.js';
import { startRedisServer, type RedisServer } from '../test/helpers/redis-server.js';
import { deletePrefix } from '../examples/lib/redis-keys.js';
import { stopChild } from './lib/processes.js';
import { spawnBenchPublisher, type BenchPublisher } from './lib/publisher-process.js';

const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 200);
const USERS = Number(process.env['BENCH_USERS'] ?? 20);
const RATE = Number(process.env['BENCH_RATE'] ?? 200);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const WARMUP_SECONDS = 2;
/** How often the worker process's event-loop delay is sampled. */
const LOOP_SAMPLE_MS = 10;
/** Where the publisher runs: its own process (default) or `inline`, in this one beside the worker. */
const PUBLISHER_PLACE = process.env['BENCH_PUBLISHER'] === 'inline' ? 'inline' : 'process';
const QUEUE = 'bench';
const SECRET = randomUUID() + randomUUID();
const wallNow = (): number => performance.timeOrigin + performance.now();

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

async function main(): Promise<void> {
  if (CONNECTIONS % USERS !== 0) throw new Error('BENCH_CONNECTIONS must be a multiple of BENCH_USERS');
  const perUser = CONNECTIONS / USERS;
  let server: RedisServer | undefined;
  let bridge: BridgeProcess | undefined;
  let clients: ChildProcess | undefined;
  let worker: Worker | undefined;
  let publisherProcess: BenchPublisher | undefined;
  const prefix = `bench-e2e-${randomUUID().slice(0, 8)}`;
  const url = process.env['REDIS_URL'] ?? (server = await startRedisServer()).url;
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const seenn = new Seenn({ connection: redis, prefix, tokenSecret: SECRET });
  // Whatever happens, the run ends: a guard kills the child processes and exits.
  const guard = setTimeout(
    () => {
      process.stderr.write('e2e-latency: timed out; cleaning up\n');
      clients?.kill('SIGKILL');
      bridge?.child.kill('SIGKILL');
      publisherProcess?.child.kill('SIGKILL');
      server?.process.kill('SIGKILL');
      process.exit(1);
    },
    // Setting up (a token and a job per user, every stream opened) takes ~1 s per 100 connections on a loaded box.
    (SECONDS + WARMUP_SECONDS + 90 + Math.ceil(CONNECTIONS / 100)) * 1000,
  );
  guard.unref();
  try {
    bridge = await spawnBridge(url, prefix, SECRET, {
      rateLimit: null,
      maxStreamsPerUser: perUser + 10,
      maxBufferedBytes: 8 * 1024 * 1024,
    });
    if (PUBLISHER_PLACE === 'inline') await seenn.publisher({ queues: [QUEUE] }).start();
    else publisherProcess = await spawnBenchPublisher({ redisUrl: url, prefix, queues: [QUEUE] });

    const users = Array.from({ length: USERS }, (_, i) => `bench-user-${i}`);
    const targets = [];
    for (const user of users) {
      const token = await seenn.tokens.issue({ userId: user, ttlSeconds: 3600 });
      targets.push({ url: `http://127.0.0.1:${bridge.port}/v1/sse`, token, count: perUser });
    }
    clients = fork(fileURLToPath(new URL('./lib/sse-clients.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const readyMessage = once(clients, 'message');
    clients.send({ type: 'open', targets, redisUrl: url, channel: seenn.context.keys.liveChannel() });
    const [ready] = (await readyMessage) as [{ type: string }];
    if (ready.type !== 'ready') throw new Error('client process did not get ready');

    let running = true;
    let sent = 0;
    // Where a tail could come from on this side: how long the worker's own setProgress call takes, and
    // how late this process's event loop runs (the worker stamps the time only when its timer fires).
    const callMs: number[] = [];
    const loopDelay = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });
    let recordingSince = Number.POSITIVE_INFINITY;
    const intervalMs = (USERS / RATE) * 1000;
    worker = new Worker(
      QUEUE,
      seenn.processor(
        async (job) => {
          const start = wallNow() + Math.random() * intervalMs;
          for (let n = 1; running; n += 1) {
            const wait = start + n * intervalMs - wallNow();
            if (wait > 0) await delay(wait);
            const sentAt = wallNow();
            await job.setProgress(n % 100, { message: String(sentAt) });
            if (sentAt >= recordingSince) {
              sent += 1;
              callMs.push(wallNow() - sentAt);
            }
          }
          return { sent: true };
        },
        { progressThrottleMs: 0 },
      ),
      {
        connection: { host: new URL(url).hostname, port: Number(new URL(url).port), maxRetriesPerRequest: null },
        prefix,
        concurrency: USERS,
      },
    );
    for (const user of users)
      await seenn.jobs.start({ queue: QUEUE, userId: user, jobType: 'bench', title: 'Latency probe' });

    await delay(WARMUP_SECONDS * 1000);
    clients.send({ type: 'record' });
    recordingSince = wallNow();
    loopDelay.enable();
    const cpuBefore = process.cpuUsage();
    await delay(SECONDS * 1000);
    running = false;
    loopDelay.disable();
    const reportMessage = once(clients, 'message');
    clients.send({ type: 'report' });
    const [report] = (await reportMessage) as [
      { latenciesMs: number[]; publishLatenciesMs: number[]; received: number; connected: number },
    ];
    const cpu = process.cpuUsage(cpuBefore);

    const sorted = [...report.latenciesMs].sort((a, b) => a - b);
    const published = [...report.publishLatenciesMs].sort((a, b) => a - b);
    const summary = (values: readonly number[]) => ({
      p50: percentile(values, 50),
      p90: percentile(values, 90),
      p99: percentile(values, 99),
      p999: percentile(values, 99.9),
      max: values.at(-1) ?? Number.NaN,
    });
    const result = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? 'unknown', node: process.version },
      setup: {
        connections: CONNECTIONS,
        users: USERS,
        connectionsPerUser: perUser,
        progressEventsPerSecond: RATE,
        seconds: SECONDS,
        warmupSeconds: WARMUP_SECONDS,
        bridgeProcesses: 1,
        publisher: PUBLISHER_PLACE,
      },
      achieved: {
        progressEventsSent: sent,
        progressEventsPerSecond: Math.round(sent / SECONDS),
        deliveriesMeasured: report.received,
        deliveriesPerSecond: Math.round(report.received / SECONDS),
      },
      latencyMs: summary(sorted),
      toStorePublishMs: summary(published),
      setProgressCallMs: summary([...callMs].sort((a, b) => a - b)),
      // The histogram holds whole sampling intervals (ns): the delay is what exceeds LOOP_SAMPLE_MS.
      workerLoopDelayMs: {
        p50: Math.max(0, loopDelay.percentile(50) / 1e6 - LOOP_SAMPLE_MS),
        p99: Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_SAMPLE_MS),
        max: Math.max(0, loopDelay.max / 1e6 - LOOP_SAMPLE_MS),
      },
      loadAverage1m: os.loadavg()[0],
      producerProcessCpuMs: Math.round((cpu.user + cpu.system) / 1000),
      command: 'npx tsx bench/e2e-latency.ts',
      env: {
        BENCH_CONNECTIONS: CONNECTIONS,
        BENCH_USERS: USERS,
        BENCH_RATE: RATE,
        BENCH_SECONDS: SECONDS,
        BENCH_PUBLISHER: PUBLISHER_PLACE,
      },
    };
    const round = (value: number): string => value.toFixed(2);
    console.log(
      `\nEnd-to-end latency, setProgress → parsed SSE event (${CONNECTIONS} connections, ${USERS} users, ${RATE} progress/s, ${SECONDS} s, publisher: ${PUBLISHER_PLACE})`,
    );
    console.log(
      `sent ${sent} progress events, measured ${report.received} deliveries (${result.achieved.deliveriesPerSecond}/s); 1-min load average ${os.loadavg()[0]?.toFixed(2)}`,
    );
    const row = (values: ReturnType<typeof summary>) => ({
      'p50 ms': round(values.p50),
      'p90 ms': round(values.p90),
      'p99 ms': round(values.p99),
      'p99.9 ms': round(values.p999),
      'max ms': round(values.max),
    });
    console.table({
      'setProgress call (worker, awaited)': row(result.setProgressCallMs),
      'setProgress → store PUBLISH': row(result.toStorePublishMs),
      'setProgress → SSE client (end to end)': row(result.latencyMs),
    });
    const { workerLoopDelayMs: lag } = result;
    console.log(
      `worker process event-loop delay: p50 ${round(lag.p50)} ms, p99 ${round(lag.p99)} ms, max ${round(lag.max)} ms`,
    );
    await mkdir(new URL('./results/', import.meta.url), { recursive: true });
    await writeFile(new URL('./results/e2e-latency.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
    await worker.close();
    worker = undefined;
  } finally {
    clients?.kill('SIGKILL');
    await worker?.close(true);
    await bridge?.kill('SIGTERM');
    if (publisherProcess !== undefined) await stopChild(publisherProcess.child, 'SIGTERM');
    await seenn.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
    await server?.stop();
    clearTimeout(guard);
  }
}

await main();
