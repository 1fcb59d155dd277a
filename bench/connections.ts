/**
 * Connections: hold N idle authenticated SSE connections (one per user, as one browser tab each) on
 * ONE bridge process and measure what they cost it:
 * - memory: the bridge's RSS (and V8 heap) after two forced GCs, with N streams open minus the same
 *   with none (after a warm-up of 100 streams opened and closed), divided by N;
 * - heartbeat CPU: the bridge's CPU time (`process.cpuUsage()` reported by the bridge, and
 *   `/proc/<pid>/stat`) during a fixed window with `heartbeatMs: 1000`, per heartbeat round and per
 *   connection, with the bridge's idle CPU (no connections, same window length) shown beside it;
 * - the connect ramp (N streams opened by raw-socket clients in separate processes, 200 connects in
 *   flight per process): connects/s, and the CPU time the bridge (and the clients) spent per connect
 *   from the first connect until all N are open (heartbeats of the streams already open included);
 *   and that every stream stayed open and got its heartbeats.
 * RSS does not include the kernel's own memory per socket (a few KiB each, outside the process).
 *
 *   npx tsx bench/connections.ts            # 10,000 connections, 20 s window
 *   npx tsx bench/connections.ts --quick    # 1,000 connections, 4 s window
 *   BENCH_CONNECTIONS=15000 BENCH_WINDOW_SECONDS=30 npx tsx bench/connections.ts
 *   REDIS_URL=redis://127.0.0.1:6379 npx tsx bench/connections.ts   # that Redis; only its own keys are deleted
 *   BENCH_HEAP_SNAPSHOT=/tmp/conn.heapsnapshot npx tsx bench/connections.ts   # also a heap snapshot of the loaded bridge
 *   BENCH_FINISHED_PER_USER=100 …   # each user has that many jobs that finished an hour ago (not synced; a fresh connect of a user
 *                                     # the finished-job index is not complete for examines them)
 *
 * Everything runs on 127.0.0.1. Results: a table and `bench/results/connections.json`.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { waitFor } from '../test/helpers/wait.js';
import { spawnBenchBridge, type BenchBridge, type BridgeProcessStats } from './lib/bridge-process.js';
import { isQuick, loadAverage, machineInfo, round, summarize, writeResult } from './lib/harness.js';
import { seedHistory } from './lib/history.js';
import { request, stopChild } from './lib/processes.js';
import { processCpuMs } from './lib/proc-stats.js';
import { spawnSseClients, type SseClientGroup, type StreamSpec } from './lib/raw-sse-clients.js';
import { openScenario } from './lib/scenario.js';

const quick = isQuick();
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? (quick ? 1_000 : 10_000));
const WINDOW_SECONDS = Number(process.env['BENCH_WINDOW_SECONDS'] ?? (quick ? 4 : 20));
/** Finished jobs each user has (its history): a fresh connect examines them for `job.sync`. */
const FINISHED_PER_USER = Number(process.env['BENCH_FINISHED_PER_USER'] ?? 0);
const IDLE_SECONDS = Math.max(2, Math.round(WINDOW_SECONDS / 2));
const HEARTBEAT_MS = 1_000;
const STREAMS_PER_CLIENT_PROCESS = 5_000;
const WARMUP_STREAMS = 100;
const CONNECTS_IN_FLIGHT = 200;

async function bridgeStats(bridge: BenchBridge): Promise<BridgeProcessStats> {
  return request<BridgeProcessStats>(bridge.child, { type: 'stats' }, 'stats', 10_000);
}

async function settledStats(bridge: BenchBridge): Promise<BridgeProcessStats> {
  await request(bridge.child, { type: 'gc' }, 'gc-done', 30_000);
  await delay(200);
  return bridgeStats(bridge);
}

async function waitForStreams(bridge: BenchBridge, count: number, timeoutMs: number): Promise<void> {
  await waitFor(async () => (await bridgeStats(bridge)).streams === count, {
    timeoutMs,
    intervalMs: 100,
    what: `the bridge to reach ${count} open streams`,
  });
}

async function cpuOf(
  bridge: BenchBridge,
  clients: SseClientGroup,
): Promise<{ bridgeUs: number; bridgeProcMs: number; clientsProcMs: number }> {
  const stats = await bridgeStats(bridge);
  const clientsProcMs = clients.children.reduce((sum, child) => sum + (processCpuMs(child.pid as number) ?? 0), 0);
  return { bridgeUs: stats.cpuUs, bridgeProcMs: processCpuMs(bridge.pid) ?? Number.NaN, clientsProcMs };
}

async function main(): Promise<void> {
  const secret = randomUUID() + randomUUID();
  const scenario = await openScenario({
    name: 'connections',
    deadlineMs: (quick ? 90 : 300) * 1000,
    prefixTag: 'conn',
    tokenSecret: secret,
  });
  const { redisServer, prefix, seenn } = scenario;
  const loadBefore = loadAverage();
  try {
    const bridge = await spawnBenchBridge({
      redisUrl: redisServer.url,
      prefix,
      secret,
      bridgeOptions: { heartbeatMs: HEARTBEAT_MS },
    });
    const issue = async (count: number, tag: string): Promise<StreamSpec[]> => {
      const specs: StreamSpec[] = [];
      for (let i = 0; i < count; i += 1)
        specs.push({ key: `${tag}${i}`, token: await seenn.tokens.issue({ userId: `${tag}${i}`, ttlSeconds: 3_600 }) });
      return specs;
    };

    // Warm-up: open and close a few streams so the baseline includes the code paths' one-off cost.
    const warm = await spawnSseClients(1);
    await warm.open(bridge.port, await issue(WARMUP_STREAMS, 'warm-'), CONNECTS_IN_FLIGHT);
    await Promise.all(warm.children.map((child) => stopChild(child, 'SIGKILL')));
    await waitForStreams(bridge, 0, 30_000);

    const processes = Math.max(2, Math.ceil(CONNECTIONS / STREAMS_PER_CLIENT_PROCESS));
    const clients = await spawnSseClients(processes);
    const specs = await issue(CONNECTIONS, 'user-');
    if (FINISHED_PER_USER > 0)
      await seedHistory(
        seenn.context.store,
        seenn.context.options.appId,
        specs.map(({ key }) => key),
        { perUser: FINISHED_PER_USER, queueName: 'history', finishedAgoMs: 3_600_000 },
      );

    const empty = await settledStats(bridge);
    const idleStart = await cpuOf(bridge, clients);
    await delay(IDLE_SECONDS * 1000);
    const idleEnd = await cpuOf(bridge, clients);
    const idleCpuUsPerSecond = (idleEnd.bridgeUs - idleStart.bridgeUs) / IDLE_SECONDS;

    const opened = await clients.open(bridge.port, specs, CONNECTS_IN_FLIGHT);
    if (opened.failed > 0) throw new Error(`${opened.failed} of ${CONNECTIONS} streams failed to open`);
    await waitForStreams(bridge, CONNECTIONS, 30_000);
    // The bridge's own CPU per connect (less moved by the other processes on the box than connects/s).
    const rampEnd = await cpuOf(bridge, clients);
    await delay(2 * HEARTBEAT_MS);
    const loadedNoGc = await bridgeStats(bridge);
    const loaded = await settledStats(bridge);
    const snapshotPath = process.env['BENCH_HEAP_SNAPSHOT'];
    if (snapshotPath)
      await request(bridge.child, { type: 'heap-snapshot', path: snapshotPath }, 'heap-snapshot-done', 120_000);

    const statusStart = await clients.status();
    const windowStart = await cpuOf(bridge, clients);
    const startedAt = performance.now();
    await delay(WINDOW_SECONDS * 1000);
    const windowEnd = await cpuOf(bridge, clients);
    const seconds = (performance.now() - startedAt) / 1000;
    const statusEnd = await clients.status();
    const final = await bridgeStats(bridge);

    const rounds = (seconds * 1000) / HEARTBEAT_MS;
    const windowCpuUs = windowEnd.bridgeUs - windowStart.bridgeUs;
    const heartbeatCpuUs = windowCpuUs - idleCpuUsPerSecond * seconds;
    const heartbeatsReceived = statusEnd.heartbeats - statusStart.heartbeats;
    const result = {
      scenario: 'connections',
      quick,
      date: new Date().toISOString(),
      machine: await machineInfo(redisServer.version),
      loadAverage: { before: loadBefore, after: loadAverage() },
      setup: {
        connections: CONNECTIONS,
        users: CONNECTIONS,
        clientProcesses: processes,
        connectsInFlightPerProcess: CONNECTS_IN_FLIGHT,
        heartbeatMs: HEARTBEAT_MS,
        windowSeconds: round(seconds),
        idleWindowSeconds: IDLE_SECONDS,
        bridgeProcesses: 1,
        finishedJobsPerUser: FINISHED_PER_USER,
        ownRedis: redisServer.own,
      },
      ramp: {
        ms: Math.round(opened.ms),
        connectionsPerSecond: Math.round(CONNECTIONS / (opened.ms / 1000)),
        connectMs: summarize(opened.connectMs),
        failed: opened.failed,
        bridgeCpuUsPerConnect: round((rampEnd.bridgeUs - idleEnd.bridgeUs) / CONNECTIONS, 1),
        clientsCpuUsPerConnect: round(((rampEnd.clientsProcMs - idleEnd.clientsProcMs) * 1000) / CONNECTIONS, 1),
      },
      memory: {
        rssEmptyBytes: empty.rssBytes,
        rssLoadedBytes: loaded.rssBytes,
        rssLoadedBeforeGcBytes: loadedNoGc.rssBytes,
        rssPerConnectionBytes: Math.round((loaded.rssBytes - empty.rssBytes) / CONNECTIONS),
        rssPerConnectionBeforeGcBytes: Math.round((loadedNoGc.rssBytes - empty.rssBytes) / CONNECTIONS),
        heapPerConnectionBytes: Math.round((loaded.heapUsedBytes - empty.heapUsedBytes) / CONNECTIONS),
        externalPerConnectionBytes: Math.round((loaded.externalBytes - empty.externalBytes) / CONNECTIONS),
      },
      heartbeat: {
        rounds: round(rounds),
        bridgeCpuMsInWindow: round(windowCpuUs / 1000),
        bridgeCpuMsInWindowProc: round(windowEnd.bridgeProcMs - windowStart.bridgeProcMs),
        bridgeIdleCpuMsPerSecond: round(idleCpuUsPerSecond / 1000, 3),
        cpuMsPerRound: round(windowCpuUs / 1000 / rounds, 3),
        cpuMsPerRoundMinusIdle: round(heartbeatCpuUs / 1000 / rounds, 3),
        cpuUsPerConnectionPerHeartbeat: round(heartbeatCpuUs / rounds / CONNECTIONS, 3),
        bridgeCpuPercentOfOneCore: round((windowCpuUs / 1e6 / seconds) * 100, 2),
        clientProcessesCpuMsInWindow: round(windowEnd.clientsProcMs - windowStart.clientsProcMs),
        heartbeatsReceived,
        heartbeatsPerConnectionPerRound: round(heartbeatsReceived / CONNECTIONS / rounds, 3),
      },
      stability: {
        streamsOpenAtEnd: final.streams,
        clientsOpenAtEnd: statusEnd.open,
        unexpectedCloses: statusEnd.closes - statusStart.closes,
        socketErrors: statusEnd.errors,
      },
      command: `${FINISHED_PER_USER > 0 ? `BENCH_FINISHED_PER_USER=${FINISHED_PER_USER} ` : ''}npx tsx bench/connections.ts${quick ? ' --quick' : ''}`,
    };
    const kb = (bytes: number) => `${round(bytes / 1024, 2)} KiB`;
    const mb = (bytes: number) => `${round(bytes / 1024 / 1024, 1)} MiB`;
    console.log(
      `\nConnections: ${CONNECTIONS} idle authenticated SSE streams on one bridge process (heartbeatMs ${HEARTBEAT_MS}, ${processes} client processes); load ${loadBefore.join(' ')}`,
    );
    console.table({
      'connect ramp': {
        value: `${result.ramp.ms} ms (${result.ramp.connectionsPerSecond}/s), connect p50 ${result.ramp.connectMs.p50} ms, p99 ${result.ramp.connectMs.p99} ms`,
      },
      'CPU per connect in the ramp: bridge / clients': {
        value: `${result.ramp.bridgeCpuUsPerConnect} µs / ${result.ramp.clientsCpuUsPerConnect} µs`,
      },
      'bridge RSS empty → loaded (after GC)': { value: `${mb(empty.rssBytes)} → ${mb(loaded.rssBytes)}` },
      'RSS per connection (after GC)': { value: kb(result.memory.rssPerConnectionBytes) },
      'RSS per connection (no GC)': { value: kb(result.memory.rssPerConnectionBeforeGcBytes) },
      'V8 heap per connection': { value: kb(result.memory.heapPerConnectionBytes) },
      'heartbeat CPU per round': {
        value: `${result.heartbeat.cpuMsPerRound} ms (${result.heartbeat.cpuMsPerRoundMinusIdle} ms minus idle)`,
      },
      'heartbeat CPU per connection per beat': { value: `${result.heartbeat.cpuUsPerConnectionPerHeartbeat} µs` },
      'bridge CPU in window': {
        value: `${result.heartbeat.bridgeCpuPercentOfOneCore} % of one core (idle bridge ${result.heartbeat.bridgeIdleCpuMsPerSecond} ms/s)`,
      },
      'heartbeats received per stream per round': { value: String(result.heartbeat.heartbeatsPerConnectionPerRound) },
      'unexpected closes / streams open at end': {
        value: `${result.stability.unexpectedCloses} / ${result.stability.streamsOpenAtEnd}`,
      },
    });
    const path = await writeResult('connections', result);
    console.log(`wrote ${path}`);
    if (result.stability.unexpectedCloses > 0 || final.streams !== CONNECTIONS) process.exitCode = 1;
    await stopChild(bridge.child, 'SIGTERM');
  } finally {
    await scenario.close();
  }
}

await main();
