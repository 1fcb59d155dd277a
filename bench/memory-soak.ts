/**
 * Memory soak (`npm run soak:memory`): does memory come back after connection churn and stalled
 * readers? One bridge process and one publisher process (both with `--expose-gc`), a worker process,
 * jobs flowing all along (a `seenn.jobs.start` job for a random user every 50 ms, each with 4
 * progress steps), and raw-socket clients in two processes:
 *
 * 1. warm-up: 2,000 connect/disconnect cycles; then two full GCs in the bridge and the publisher and
 *    the **baseline**: their heap and RSS, and Redis `used_memory`;
 * 2. **cycles**: 100,000 connect → `connected` → disconnect cycles over 1,000 users, 100 at a time in
 *    each client process; the bridge's heap and RSS are sampled every second (peak);
 * 3. **stalled readers**: 1,000 streams (50 users × 20, the default per-user cap) whose sockets never
 *    read a byte, then 100 progress updates of ~4.5 KB each for each of those users (every stream is
 *    owed ~0.45 MB, 450 MB in all); the bridge's heap and RSS are sampled (peak), the streams it cut
 *    itself counted (one with more than `maxBufferedBytes` unsent is disconnected; on loopback the
 *    kernel's socket buffers take most of it first), then the clients close them;
 * 4. after each phase: the bridge at 0 streams, two GCs, heap and RSS against the baseline.
 *
 * Passes (exit 0) when every cycle saw its `connected` event and, after each phase, the bridge's and
 * the publisher's heap are within 10 % + 8 MiB of their baseline. RSS is reported (the allocator need
 * not give pages back), as is Redis `used_memory` (the stalled phase's 5,000 large updates stay in the
 * replay streams for their retention). `--quick`: 10,000 cycles, 200 stalled readers.
 *
 *   npm run soak:memory
 *   npm run soak:memory -- --quick
 *   BENCH_CYCLES=50000 npm run soak:memory
 *
 * `REDIS_URL` is used when set (only the soak's own keys are deleted). Results: a table and
 * `bench/results/memory-soak.json`.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { JobHandle } from '../src/handles/index.js';
import { waitFor } from '../test/helpers/wait.js';
import { spawnBenchBridge, type BenchBridge, type BridgeProcessStats } from './lib/bridge-process.js';
import { spawnChaosWorker } from './lib/chaos/worker-process.js';
import { isQuick, loadAverage, machineInfo, round, writeResult } from './lib/harness.js';
import { request } from './lib/processes.js';
import { spawnBenchPublisher, type BenchPublisher, type PublisherProcessStats } from './lib/publisher-process.js';
import { spawnSoakClients } from './lib/soak-clients.js';
import { openScenario } from './lib/scenario.js';

const quick = isQuick();
const CYCLES = Number(process.env['BENCH_CYCLES'] ?? (quick ? 10_000 : 100_000));
const WARMUP_CYCLES = 2_000;
const CYCLE_USERS = 1_000;
const CYCLES_IN_FLIGHT = 100;
const STALL_USERS = quick ? 10 : 50;
const STREAMS_PER_STALLED_USER = 20;
const UPDATES_PER_STALLED_USER = 100;
const PAD_BYTES = 4_000;
const CLIENT_PROCESSES = 2;
const QUEUE = 'soak';
const JOB_EVERY_MS = 50;
const BRIDGE_OPTIONS = { connectRateLimit: null, rateLimit: null };
const HEAP_SLACK_RATIO = 0.1;
const HEAP_SLACK_BYTES = 8 * 1024 * 1024;

const mib = (bytes: number): number => round(bytes / 1048576, 1);

/** Memory of the bridge, the publisher and Redis at one point. */
interface Snapshot {
  bridgeHeap: number;
  bridgeRss: number;
  publisherHeap: number;
  publisherRss: number;
  redisUsedMemory: number;
}

/** Polls `check` every 200 ms until it holds (see `waitFor`). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  await waitFor(check, { what, timeoutMs, intervalMs: 200 });
}

async function main(): Promise<void> {
  const secret = randomUUID() + randomUUID();
  const scenario = await openScenario({
    name: 'memory-soak',
    deadlineMs: (quick ? 10 : 40) * 60_000,
    prefixTag: 'soak',
    tokenSecret: secret,
  });
  const { redisServer, prefix, redis, seenn } = scenario;
  const loadBefore = loadAverage();
  let producer: NodeJS.Timeout | undefined;
  try {
    const bridge: BenchBridge = await spawnBenchBridge({
      redisUrl: redisServer.url,
      prefix,
      secret,
      bridgeOptions: BRIDGE_OPTIONS,
    });
    const publisher: BenchPublisher = await spawnBenchPublisher({
      redisUrl: redisServer.url,
      prefix,
      queues: [QUEUE],
      nodeArgs: ['--expose-gc'],
    });
    await spawnChaosWorker(
      { redisUrl: redisServer.url, prefix, queue: QUEUE, steps: 4, stepMs: 50, concurrency: 20 },
      30_000,
    );
    const clients = await spawnSoakClients(CLIENT_PROCESSES);

    const bridgeStats = () => request<BridgeProcessStats>(bridge.child, { type: 'stats' }, 'stats', 30_000);
    const snapshot = async (): Promise<Snapshot> => {
      await until('the bridge to hold no stream', async () => (await bridgeStats()).streams === 0, 120_000);
      await Promise.all([
        request(bridge.child, { type: 'gc' }, 'gc-done', 60_000),
        request(publisher.child, { type: 'gc' }, 'gc-done', 60_000),
      ]);
      const [b, p, info] = await Promise.all([
        bridgeStats(),
        request<PublisherProcessStats>(publisher.child, { type: 'stats' }, 'stats', 30_000),
        redis.info('memory'),
      ]);
      return {
        bridgeHeap: b.heapUsedBytes,
        bridgeRss: b.rssBytes,
        publisherHeap: p.heapUsedBytes,
        publisherRss: p.rssBytes,
        redisUsedMemory: Number(/^used_memory:(\d+)/m.exec(info)?.[1]),
      };
    };
    /** Samples the bridge every second until stopped; `stop()` gives the peaks. */
    const samplePeaks = (): { stop(): Promise<{ heap: number; rss: number; streams: number }> } => {
      const peak = { heap: 0, rss: 0, streams: 0 };
      let running = true;
      const loop = (async () => {
        while (running) {
          const stats = await bridgeStats();
          peak.heap = Math.max(peak.heap, stats.heapUsedBytes);
          peak.rss = Math.max(peak.rss, stats.rssBytes);
          peak.streams = Math.max(peak.streams, stats.streams);
          await delay(1_000);
        }
      })();
      return {
        async stop() {
          running = false;
          await loop;
          return peak;
        },
      };
    };

    // Jobs flow all along (kept few in BullMQ: completed jobs are removed beyond 1,000).
    const cycleUsers = Array.from({ length: CYCLE_USERS }, (_, i) => `cycler-${i}`);
    producer = setInterval(() => {
      void seenn.jobs
        .start({
          queue: QUEUE,
          userId: cycleUsers[randomInt(CYCLE_USERS)] as string,
          jobType: 'soak',
          title: 'Soak job',
          opts: { removeOnComplete: 1_000 },
        })
        .catch((error: unknown) => console.error('producer:', (error as Error).message));
    }, JOB_EVERY_MS);
    const cycleTokens = await Promise.all(
      cycleUsers.map((userId) => seenn.tokens.issue({ userId, ttlSeconds: 3_600 })),
    );

    // 1. Warm-up and baseline.
    const warm = await clients.cycles(bridge.port, cycleTokens, WARMUP_CYCLES, CYCLES_IN_FLIGHT);
    if (warm.failed > 0) throw new Error(`${warm.failed} warm-up cycles failed`);
    const baseline = await snapshot();
    console.log(
      `baseline: bridge heap ${mib(baseline.bridgeHeap)} MiB, RSS ${mib(baseline.bridgeRss)} MiB; publisher heap ${mib(baseline.publisherHeap)} MiB, RSS ${mib(baseline.publisherRss)} MiB; Redis ${mib(baseline.redisUsedMemory)} MiB`,
    );

    // 2. Connect/disconnect cycles.
    const cyclePeaks = samplePeaks();
    const cycles = await clients.cycles(bridge.port, cycleTokens, CYCLES, CYCLES_IN_FLIGHT);
    const cyclesPeak = await cyclePeaks.stop();
    const afterCycles = await snapshot();
    console.log(
      `cycles: ${cycles.ok} ok, ${cycles.failed} failed in ${round(cycles.ms / 1000, 1)} s (${Math.round(cycles.ok / (cycles.ms / 1000))}/s); bridge heap after ${mib(afterCycles.bridgeHeap)} MiB`,
    );

    // 3. Stalled readers: streams that never read while their users get large updates. The job flow
    // stops first, so that the bridge's count of live messages tells when it has every update.
    clearInterval(producer);
    producer = undefined;
    const queue = seenn.context.queue(QUEUE);
    await until(
      'the soak queue to empty',
      async () => {
        const counts = await queue.getJobCounts('wait', 'active', 'delayed');
        return (counts['wait'] ?? 0) + (counts['active'] ?? 0) + (counts['delayed'] ?? 0) === 0;
      },
      120_000,
    );
    let lastMessages = -1;
    await until(
      'the bridge to receive no more live messages',
      async () => {
        const messages = (await bridgeStats()).hubMessages;
        const settled = messages === lastMessages;
        lastMessages = messages;
        if (!settled) await delay(1_000);
        return settled;
      },
      120_000,
    );
    const stallUsers = Array.from({ length: STALL_USERS }, (_, i) => `staller-${i}`);
    const handles: JobHandle[] = await Promise.all(
      stallUsers.map((userId) =>
        seenn.jobs.start({
          userId,
          jobType: 'soak',
          title: 'Stalled reader bait',
          metadata: { pad: 'x'.repeat(PAD_BYTES) },
        }),
      ),
    );
    const stallTokens: string[] = [];
    for (const userId of stallUsers) {
      const token = await seenn.tokens.issue({ userId, ttlSeconds: 3_600 });
      for (let k = 0; k < STREAMS_PER_STALLED_USER; k += 1) stallTokens.push(token);
    }
    const stallPeaks = samplePeaks();
    await clients.stall(bridge.port, stallTokens);
    await until(
      `the bridge to hold ${stallTokens.length} streams`,
      async () => (await bridgeStats()).streams >= stallTokens.length,
      120_000,
    );
    const stallStart = Date.now();
    const messagesBefore = (await bridgeStats()).hubMessages;
    await Promise.all(
      handles.map(async (handle) => {
        for (let k = 1; k <= UPDATES_PER_STALLED_USER; k += 1)
          await handle.setProgress(Math.floor((k * 99) / UPDATES_PER_STALLED_USER), { message: `update ${k}` });
      }),
    );
    const owed = STALL_USERS * UPDATES_PER_STALLED_USER;
    await until(
      'the bridge to receive every update',
      async () => (await bridgeStats()).hubMessages - messagesBefore >= owed,
      120_000,
    );
    const writtenMs = Date.now() - stallStart;
    const cutByBridge = stallTokens.length - (await bridgeStats()).streams;
    const stalledPeak = await stallPeaks.stop();
    await clients.release();
    const afterStalled = await snapshot();
    console.log(
      `stalled readers: ${stallTokens.length} streams, ${cutByBridge} cut by the bridge; bridge heap peak ${mib(stalledPeak.heap)} MiB, after ${mib(afterStalled.bridgeHeap)} MiB`,
    );

    const within = (after: number, base: number): boolean => after <= base * (1 + HEAP_SLACK_RATIO) + HEAP_SLACK_BYTES;
    const ok =
      cycles.failed === 0 &&
      within(afterStalled.bridgeHeap, baseline.bridgeHeap) &&
      within(afterStalled.publisherHeap, baseline.publisherHeap) &&
      within(afterCycles.bridgeHeap, baseline.bridgeHeap);
    const row = (s: Snapshot) => ({
      bridgeHeapMiB: mib(s.bridgeHeap),
      bridgeRssMiB: mib(s.bridgeRss),
      publisherHeapMiB: mib(s.publisherHeap),
      publisherRssMiB: mib(s.publisherRss),
      redisUsedMemoryMiB: mib(s.redisUsedMemory),
    });
    const result = {
      scenario: 'memory-soak',
      quick,
      ok,
      date: new Date().toISOString(),
      machine: await machineInfo(redisServer.version),
      loadAverage: { before: loadBefore, after: loadAverage() },
      setup: {
        cycles: CYCLES,
        cycleUsers: CYCLE_USERS,
        cyclesInFlight: CYCLES_IN_FLIGHT * CLIENT_PROCESSES,
        stalledStreams: stallTokens.length,
        updatesPerStalledUser: UPDATES_PER_STALLED_USER,
        padBytes: PAD_BYTES,
        jobEveryMs: JOB_EVERY_MS,
        bridgeOptions: BRIDGE_OPTIONS,
        ownRedis: redisServer.own,
      },
      cycles: {
        ok: cycles.ok,
        failed: cycles.failed,
        seconds: round(cycles.ms / 1000, 1),
        perSecond: Math.round(cycles.ok / (cycles.ms / 1000)),
        peakHeapMiB: mib(cyclesPeak.heap),
        peakRssMiB: mib(cyclesPeak.rss),
        peakStreams: cyclesPeak.streams,
      },
      stalled: {
        streams: stallTokens.length,
        owedBytesPerStream: UPDATES_PER_STALLED_USER * (PAD_BYTES + 500),
        cutByBridge,
        updatesWrittenSeconds: round(writtenMs / 1000, 1),
        peakHeapMiB: mib(stalledPeak.heap),
        peakRssMiB: mib(stalledPeak.rss),
        publisherErrors: publisher.counters.errors,
      },
      memory: { baseline: row(baseline), afterCycles: row(afterCycles), afterStalledReaders: row(afterStalled) },
      command: `npx tsx bench/memory-soak.ts${quick ? ' --quick' : ''}`,
    };
    console.log(
      `\nMemory soak: ${cycles.ok} connect/disconnect cycles, ${stallTokens.length} stalled readers; load ${loadBefore.join(' ')} → ${result.loadAverage.after.join(' ')}`,
    );
    console.table(result.memory);
    console.table({
      cycles: {
        'peak bridge heap MiB': result.cycles.peakHeapMiB,
        'peak bridge RSS MiB': result.cycles.peakRssMiB,
        'peak streams': result.cycles.peakStreams,
      },
      'stalled readers': {
        'peak bridge heap MiB': result.stalled.peakHeapMiB,
        'peak bridge RSS MiB': result.stalled.peakRssMiB,
        'peak streams': result.stalled.streams,
      },
    });
    const path = await writeResult('memory-soak', result);
    console.log(`wrote ${path}`);
    console.log(
      `memory-soak: ${ok ? 'PASSED' : 'FAILED'} (every cycle connected; heap back within ${HEAP_SLACK_RATIO * 100} % + ${mib(HEAP_SLACK_BYTES)} MiB of the baseline)`,
    );
    if (!ok) process.exitCode = 1;
  } finally {
    if (producer !== undefined) clearInterval(producer);
    await scenario.close();
  }
}

await main();
