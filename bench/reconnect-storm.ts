/**
 * Reconnect storm: N SSE clients (one per user, raw sockets, in separate processes) follow their
 * user's running job through a bridge process; each has seen some events (the job's start and
 * PRE progress updates). Then the bridge is killed (SIGKILL), each job makes DOWN more progress
 * updates while it is down (worker → publisher → store), a new bridge process starts on the same
 * port, and every client reconnects AT ONCE with its cursor (`Last-Event-ID`, ignoring the
 * server's jittered `retry:`, the worst case).
 *
 * Measured per client: the time from the reconnect until it has the last event (p50/p99/max), and
 * the time to its `connected` event; the new bridge's RSS peak during the storm against the old
 * one's steady state. Checked per client: the ids it received equal its user's replay stream
 * exactly — no gap (an entry never received), no duplicate, nothing out of order — and every
 * reconnect was `recovered: true`. (The publisher folds the events of one job that arrive in one
 * read batch into one change, so under load a client may replay fewer than DOWN entries; the audit
 * is against the stream, which is what a client can be owed.) The counts are printed and the run fails when any is not zero.
 *
 *   npx tsx bench/reconnect-storm.ts            # 5,000 clients
 *   npx tsx bench/reconnect-storm.ts --quick    # 500 clients
 *   BENCH_CLIENTS=8000 npx tsx bench/reconnect-storm.ts
 *   BENCH_STORM_BRIDGE_OPTIONS='{"positionIntervalMs":null}' …   # more bridge options (JSON), e.g. live positions off
 *   BENCH_FINISHED_PER_USER=100 …   # each user also has that many finished jobs from before (default 0)
 *   REDIS_URL=redis://127.0.0.1:6379 npx tsx bench/reconnect-storm.ts   # that Redis; only its own keys are deleted
 *
 * Everything runs on 127.0.0.1. Results: a table and `bench/results/reconnect-storm.json`.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { waitFor } from '../test/helpers/wait.js';
import { LISTEN_BACKLOG, spawnBenchBridge, type BenchBridge } from './lib/bridge-process.js';
import { isQuick, loadAverage, machineInfo, round, summarize, wallNow, writeResult } from './lib/harness.js';
import { seedHistory } from './lib/history.js';
import { stopChild } from './lib/processes.js';
import { listenOverflows, processCpuMs, processRssBytes, sampleRssPeak, somaxconn } from './lib/proc-stats.js';
import { spawnBenchPublisher } from './lib/publisher-process.js';
import { spawnSseClients, type SseClientGroup, type StreamReport, type StreamSpec } from './lib/raw-sse-clients.js';
import { redisCpuMs } from './lib/redis.js';
import { openScenario } from './lib/scenario.js';

const quick = isQuick();
const CLIENTS = Number(process.env['BENCH_CLIENTS'] ?? (quick ? 500 : 5_000));
const PRE = 2;
const DOWN = 3;
const QUEUE = 'storm';
const CLIENT_PROCESSES = 2;
const STEP_TIMEOUT_MS = quick ? 30_000 : 120_000;
/** Finished jobs each user has from before the storm's own job (its history; none are replayed). */
const FINISHED_PER_USER = Number(process.env['BENCH_FINISHED_PER_USER'] ?? 0);

/** Compares what a client received with its user's replay stream. */
function audit(
  received: readonly string[],
  expected: readonly string[],
): { gaps: number; duplicates: number; outOfOrder: number; unexpected: number } {
  const seen = new Set<string>();
  let duplicates = 0;
  let outOfOrder = 0;
  let previous: [number, number] = [-1, -1];
  for (const id of received) {
    if (seen.has(id)) duplicates += 1;
    seen.add(id);
    const [ms = 0, seq = 0] = id.split('-').map(Number);
    if (ms < previous[0] || (ms === previous[0] && seq <= previous[1])) outOfOrder += 1;
    previous = [ms, seq];
  }
  const wanted = new Set(expected);
  return {
    gaps: expected.filter((id) => !seen.has(id)).length,
    duplicates,
    outOfOrder,
    unexpected: [...seen].filter((id) => !wanted.has(id)).length,
  };
}

async function main(): Promise<void> {
  const secret = randomUUID() + randomUUID();
  const scenario = await openScenario({
    name: 'reconnect-storm',
    deadlineMs: (quick ? 100 : 600) * 1000,
    prefixTag: 'storm',
    tokenSecret: secret,
  });
  const { redisServer, prefix, redis, seenn } = scenario;
  const subscriber = redis.duplicate();
  const loadBefore = loadAverage();
  let worker: Worker | undefined;
  let release = (): void => undefined;
  let finish = (): void => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  const finished = new Promise<void>((resolve) => (finish = resolve));
  try {
    const bridgeOptions = {
      maxBufferedBytes: 4 * 1024 * 1024,
      ...(JSON.parse(process.env['BENCH_STORM_BRIDGE_OPTIONS'] ?? '{}') as object),
    };
    let bridge: BenchBridge = await spawnBenchBridge({ redisUrl: redisServer.url, prefix, secret, bridgeOptions });
    const port = bridge.port;
    const publisher = await spawnBenchPublisher({ redisUrl: redisServer.url, prefix, queues: [QUEUE] });

    const users = Array.from({ length: CLIENTS }, (_, i) => `user-${i}`);
    if (FINISHED_PER_USER > 0)
      await seedHistory(seenn.context.store, seenn.context.options.appId, users, {
        perUser: FINISHED_PER_USER,
        queueName: QUEUE,
        finishedAgoMs: 3_600_000,
      });
    const specs: StreamSpec[] = [];
    for (const user of users)
      specs.push({ key: user, token: await seenn.tokens.issue({ userId: user, ttlSeconds: 3_600 }) });
    const clients: SseClientGroup = await spawnSseClients(CLIENT_PROCESSES);
    const opened = await clients.open(port, specs, 200);
    if (opened.failed > 0) throw new Error(`${opened.failed} streams failed to open`);

    // Count the final updates as the store publishes them (while the bridge is down).
    let finals = 0;
    await subscriber.subscribe(seenn.context.keys.liveChannel());
    subscriber.on('message', (_channel: string, text: string) => {
      if (text.includes('"message":"final"')) finals += 1;
    });

    const connection = new Redis(redisServer.url, { maxRetriesPerRequest: null });
    worker = new Worker(
      QUEUE,
      seenn.processor(
        async (job) => {
          for (let k = 1; k <= PRE; k += 1) await job.setProgress(k * 10, { message: `pre-${k}` });
          await released;
          for (let k = 1; k <= DOWN; k += 1)
            await job.setProgress(50 + k * 10, { message: k === DOWN ? 'final' : `down-${k}` });
          await finished;
          return { ok: true };
        },
        { progressThrottleMs: 0 },
      ),
      { connection, prefix, concurrency: CLIENTS },
    );
    worker.on('error', (error) => console.error('worker error', error.message));
    worker.on('closed', () => void connection.quit());

    // Phase 1: every client sees its job start and PRE progress updates live.
    await clients.setMarker(`pre-${PRE}`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < CLIENTS) {
          const user = users[next++] as string;
          await seenn.jobs.start({ queue: QUEUE, userId: user, jobType: 'bench', title: 'Storm probe' });
        }
      }),
    );
    await waitFor(async () => (await clients.status()).reached === CLIENTS, {
      what: 'every client to see its job progress',
      timeoutMs: STEP_TIMEOUT_MS,
      intervalMs: 200,
    });
    await delay(500);
    const steadyRss = processRssBytes(bridge.pid) ?? Number.NaN;

    // Phase 2: the bridge dies; more events while it is down.
    await clients.setMarker('final');
    await stopChild(bridge.child, 'SIGKILL');
    await waitFor(async () => (await clients.status()).open === 0, {
      what: 'every client to notice the bridge is gone',
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    const eventsBefore = (await clients.status()).jobEvents;
    release();
    await waitFor(() => finals >= CLIENTS, {
      what: 'the downtime updates to be published',
      timeoutMs: STEP_TIMEOUT_MS,
      intervalMs: 100,
    });

    // Phase 3: a new bridge on the same port; everyone reconnects at once.
    bridge = await spawnBenchBridge({ redisUrl: redisServer.url, prefix, secret, bridgeOptions, port });
    const rss = sampleRssPeak(bridge.pid, 20);
    const overflowsBefore = listenOverflows();
    // CPU of the bridge, the client processes and Redis during the storm (the box has two cores).
    const cpuNow = async (): Promise<{ bridge: number; clients: number; redis: number }> => ({
      bridge: processCpuMs(bridge.pid) ?? Number.NaN,
      clients: clients.children.reduce((sum, child) => sum + (processCpuMs(child.pid as number) ?? Number.NaN), 0),
      redis: await redisCpuMs(redis),
    });
    const cpuBefore = await cpuNow();
    const stormStartedAt = await clients.reconnect(port);
    await waitFor(async () => (await clients.status()).reached === CLIENTS, {
      what: 'every client to catch up',
      timeoutMs: STEP_TIMEOUT_MS,
      intervalMs: 50,
    });
    const allCaughtUpAt = wallNow();
    const cpuAfter = await cpuNow();
    const cpuUsPerConnect = {
      bridge: round(((cpuAfter.bridge - cpuBefore.bridge) * 1000) / CLIENTS, 1),
      clients: round(((cpuAfter.clients - cpuBefore.clients) * 1000) / CLIENTS, 1),
      redis: round(((cpuAfter.redis - cpuBefore.redis) * 1000) / CLIENTS, 1),
    };
    const overflowsAfter = listenOverflows();
    const peakRss = rss.stop();
    const eventsAfter = (await clients.status()).jobEvents;
    const reports: StreamReport[] = await clients.report();

    // Audit every client against its user's replay stream.
    const totals = { gaps: 0, duplicates: 0, outOfOrder: 0, unexpected: 0, clientsWithProblems: 0, notRecovered: 0 };
    const catchUpMs: number[] = [];
    const connectMs: number[] = [];
    for (const report of reports) {
      const expected = (await redis.xrange(seenn.context.keys.stream(report.key), '-', '+')).map(([id]) => id);
      const counts = audit(report.ids, expected);
      totals.gaps += counts.gaps;
      totals.duplicates += counts.duplicates;
      totals.outOfOrder += counts.outOfOrder;
      totals.unexpected += counts.unexpected;
      if (counts.gaps + counts.duplicates + counts.outOfOrder + counts.unexpected > 0) totals.clientsWithProblems += 1;
      if (report.recovered !== true) totals.notRecovered += 1;
      if (report.markerAt !== null && report.reconnectAt !== null) catchUpMs.push(report.markerAt - report.reconnectAt);
      if (report.connectedAt !== null && report.reconnectAt !== null)
        connectMs.push(report.connectedAt - report.reconnectAt);
    }
    const result = {
      scenario: 'reconnect-storm',
      quick,
      date: new Date().toISOString(),
      machine: await machineInfo(redisServer.version),
      loadAverage: { before: loadBefore, after: loadAverage() },
      setup: {
        clients: CLIENTS,
        users: CLIENTS,
        clientProcesses: CLIENT_PROCESSES,
        eventsSeenBeforeRestart: `job start + ${PRE} progress`,
        progressWhileDown: DOWN,
        bridgeProcesses: 1,
        listenBacklog: LISTEN_BACKLOG,
        somaxconn: somaxconn(),
        reconnect: 'all at once, Last-Event-ID = last id seen',
        finishedJobsPerUser: FINISHED_PER_USER,
        ownRedis: redisServer.own,
      },
      storm: {
        allCaughtUpMs: round(allCaughtUpAt - stormStartedAt),
        catchUpMs: summarize(catchUpMs),
        connectedMs: summarize(connectMs),
        // Connects the kernel refused with a full accept queue (each retried after 1, 3, 7… s).
        listenOverflows: overflowsBefore === null || overflowsAfter === null ? null : overflowsAfter - overflowsBefore,
        replayedEvents: eventsAfter - eventsBefore,
        replayedEventsPerClient: round((eventsAfter - eventsBefore) / CLIENTS, 2),
        bridgeRssSteadyBytes: steadyRss,
        bridgeRssPeakDuringStormBytes: peakRss,
        peakToSteady: round(peakRss / steadyRss, 2),
        /** CPU per reconnecting client from the reconnect to the last catch-up, µs, per process (or all clients). */
        cpuUsPerConnect,
      },
      audit: { clients: reports.length, ...totals },
      publisher: publisher.counters,
      command: `${FINISHED_PER_USER > 0 ? `BENCH_FINISHED_PER_USER=${FINISHED_PER_USER} ` : ''}npx tsx bench/reconnect-storm.ts${quick ? ' --quick' : ''}`,
    };
    console.log(
      `\nReconnect storm: ${CLIENTS} clients reconnect at once with their cursors after a bridge restart (${DOWN} updates each while it was down); load ${loadBefore.join(' ')}`,
    );
    console.table({
      'all caught up': { value: `${result.storm.allCaughtUpMs} ms` },
      'caught up per client': {
        value: `p50 ${result.storm.catchUpMs.p50} ms, p99 ${result.storm.catchUpMs.p99} ms, max ${result.storm.catchUpMs.max} ms`,
      },
      'connected per client': {
        value: `p50 ${result.storm.connectedMs.p50} ms, p99 ${result.storm.connectedMs.p99} ms`,
      },
      'connects refused with a full accept queue (retried by the client after 1, 3, 7… s)': {
        value: `${result.storm.listenOverflows ?? 'n/a'} (listen backlog ${LISTEN_BACKLOG}, somaxconn ${result.setup.somaxconn ?? 'n/a'})`,
      },
      'events replayed (stream entries after each cursor)': {
        value: `${result.storm.replayedEvents} (${result.storm.replayedEventsPerClient} per client)`,
      },
      'CPU per reconnecting client: bridge / clients / Redis': {
        value: `${result.storm.cpuUsPerConnect.bridge} µs / ${result.storm.cpuUsPerConnect.clients} µs / ${result.storm.cpuUsPerConnect.redis} µs`,
      },
      'bridge RSS steady → storm peak': {
        value: `${round(steadyRss / 1048576, 1)} → ${round(peakRss / 1048576, 1)} MiB (×${result.storm.peakToSteady})`,
      },
      'gaps / duplicates / out of order / unexpected': {
        value: `${totals.gaps} / ${totals.duplicates} / ${totals.outOfOrder} / ${totals.unexpected}`,
      },
      'clients with a problem / not recovered': {
        value: `${totals.clientsWithProblems} / ${totals.notRecovered} of ${reports.length}`,
      },
    });
    const path = await writeResult('reconnect-storm', result);
    console.log(`wrote ${path}`);
    if (totals.clientsWithProblems > 0 || totals.notRecovered > 0 || reports.length !== CLIENTS) {
      console.error('reconnect-storm: FAILED the exactly-once check');
      process.exitCode = 1;
    }
    finish();
    await stopChild(bridge.child, 'SIGTERM');
  } finally {
    release();
    finish();
    await worker?.close(true);
    subscriber.disconnect();
    await scenario.close();
  }
}

await main();
