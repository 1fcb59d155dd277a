/**
 * The cost of metrics on the hot paths: the same work with metrics ON (a prom-client registry) and
 * OFF (`metrics: false`), side by side in one process and one run, in alternating rounds (off/on,
 * then on/off, …) so drift and neighbours hit both arms alike. Two paths:
 * - `bridge`: Seenn-only jobs' `setProgress` → store commit (timed into a histogram when on) →
 *   Pub/Sub → the bridge's hub → every SSE stream of the user (each write counted when on). Clients
 *   are raw HTTP streams in this process counting `job.progress` frames; a round ends when every
 *   stream has every frame;
 * - `publisher`: a publisher catching up with a queue's BullMQ events (plain `queue.addBulk` jobs it
 *   describes: one snapshot commit per job), from `start()` until its checkpoint reaches the stream's
 *   last entry (each batch, commit, lease and error counted when on).
 * Each arm has its own Seenn, prefix and HTTP server on the same Redis. Reported per arm: the median
 * throughput and process CPU (user + system) per event over the rounds, and the ratios on / off. The
 * on arm's registry is scraped at the end to check the metrics really counted the work.
 *
 * And, far less sensitive to a busy machine: the recorder's own cost per hot-path call (`eventSent`,
 * the `timeCommit` wrapper, `publisherEvents`), on vs the no-op recorder, in tight loops.
 *
 *   npx tsx bench/metrics.ts            # 6 rounds per arm
 *   npx tsx bench/metrics.ts --quick    # 2 rounds per arm, smaller rounds
 *   REDIS_URL=redis://127.0.0.1:6379 npx tsx bench/metrics.ts   # that Redis; only its own keys are deleted
 *
 * Results: a table and `bench/results/metrics.json`.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { NOOP_METRICS, PrometheusMetrics, type MetricsRecorder } from '../src/metrics/index.js';
import type { Logger } from '../src/logger.js';
import { Seenn } from '../src/seenn.js';
import { isQuick, loadAverage, machineInfo, median, round, writeResult } from './lib/harness.js';
import { installCleanup } from './lib/processes.js';
import { benchRedis, deletePrefix } from './lib/redis.js';

const quick = isQuick();
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? (quick ? 2 : 6));
const USERS = 50;
const STREAMS_PER_USER = 4;
const UPDATES_PER_JOB = quick ? 10 : 40;
const PUBLISHER_JOBS = quick ? 500 : 2_000;
const ROUND_TIMEOUT_MS = 60_000;
const SECRET = randomUUID() + randomUUID();
const FRAME = 'event:job.progress\n';
const CONNECTED = 'event:connected\n';

type Arm = 'off' | 'on';

/** Warnings and errors of the Seenn instances go to stderr (debug and info are dropped). */
const stderrLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (facts, message) =>
    process.stderr.write(
      `warn: ${message ?? ''} ${JSON.stringify(facts, (_key, value: unknown) => (value instanceof Error ? value.message : value))}\n`,
    ),
  error: (facts, message) =>
    process.stderr.write(
      `error: ${message ?? ''} ${JSON.stringify(facts, (_key, value: unknown) => (value instanceof Error ? value.message : value))}\n`,
    ),
  child: () => stderrLogger,
};

/** One arm: a Seenn (metrics on or off) with its bridge on its own HTTP server. */
interface Bed {
  arm: Arm;
  seenn: Seenn;
  registry: Registry | null;
  prefix: string;
  origin: string;
  server: http.Server;
}

/** A raw SSE stream counting the frames it received. */
interface CountingStream {
  frames: number;
  connected: number;
  close(): void;
}

/** Occurrences of `mark` in a stream of chunks, however the chunks cut it. */
function counter(mark: string): (chunk: string) => number {
  let tail = '';
  return (chunk) => {
    const text = tail + chunk;
    let found = 0;
    for (let at = text.indexOf(mark); at >= 0; at = text.indexOf(mark, at + mark.length)) found += 1;
    // Shorter than `mark`: a frame is never counted twice, and one cut in two is found next time.
    tail = text.slice(-(mark.length - 1));
    return found;
  };
}

/** Opens a stream; `onData` is called with it after each chunk is counted. */
function openStream(url: string, token: string, onData: (stream: CountingStream) => void): Promise<CountingStream> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      url,
      { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, agent: false },
      (response) => {
        if (response.statusCode !== 200) {
          reject(new Error(`stream answered ${response.statusCode ?? '?'}`));
          return;
        }
        response.setEncoding('utf8');
        const frames = counter(FRAME);
        const hello = counter(CONNECTED);
        const stream: CountingStream = { frames: 0, connected: 0, close: () => request.destroy() };
        response.on('data', (chunk: string) => {
          stream.frames += frames(chunk);
          stream.connected += hello(chunk);
          onData(stream);
        });
        response.on('error', () => undefined);
        resolve(stream);
      },
    );
    request.on('error', reject);
  });
}

/**
 * Resolves once `condition()` holds, checked now and at each `poke()` (no polling: a busy wait would
 * eat the CPU being measured); rejects after {@link ROUND_TIMEOUT_MS} with `what` and `state()`.
 */
function when(condition: () => boolean, what: string, state: () => string): { poke(): void; done: Promise<void> } {
  let poke = (): void => undefined;
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}: ${state()}`)), ROUND_TIMEOUT_MS);
    poke = () => {
      if (!condition()) return;
      clearTimeout(timer);
      poke = () => undefined;
      resolve();
    };
  });
  return { poke: () => poke(), done };
}

async function startBed(redis: Redis, arm: Arm): Promise<Bed> {
  const prefix = `bench-metrics-${arm}-${randomUUID().slice(0, 8)}`;
  const registry = arm === 'on' ? new Registry() : null;
  const seenn = new Seenn({
    connection: redis,
    prefix,
    tokenSecret: SECRET,
    logger: stderrLogger,
    metrics: registry === null ? false : { registry },
  });
  const app = express();
  app.use('/v1', seenn.bridge({ heartbeatMs: 600_000 }));
  const server = http.createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { arm, seenn, registry, prefix, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** What one timed round measured. */
interface RoundFigures {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  cpuMicrosPerEvent: number;
}

function figures(events: number, startedMs: number, cpu: NodeJS.CpuUsage): RoundFigures {
  const seconds = (performance.now() - startedMs) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    events,
    seconds: round(seconds, 3),
    eventsPerSecond: round(events / seconds, 0),
    cpuMicrosPerEvent: round((used.user + used.system) / events, 2),
  };
}

/** The bridge path: its streams and jobs, set up once per arm; `round()` times one batch of updates. */
async function bridgeArm(bed: Bed): Promise<{ round(index: number): Promise<RoundFigures>; close(): void }> {
  const users = Array.from({ length: USERS }, (_, i) => `u${i}`);
  const handles = await Promise.all(
    users.map((userId) => bed.seenn.jobs.start({ userId, jobType: 'bench', title: 'Bench' })),
  );
  // Running before the rounds, so every update of a round is one `job.progress`.
  await Promise.all(handles.map((handle) => handle.setProgress(1, { message: 'warming up' })));
  let onData = (_stream: CountingStream): void => undefined;
  const streams = (
    await Promise.all(
      users.map(async (userId) => {
        const token = await bed.seenn.tokens.issue({ userId });
        return Promise.all(
          Array.from({ length: STREAMS_PER_USER }, () =>
            openStream(`${bed.origin}/v1/sse`, token, (stream) => onData(stream)),
          ),
        );
      }),
    )
  ).flat();
  const connected = when(
    () => streams.every((stream) => stream.connected === 1),
    'every stream to connect',
    () => `${streams.filter((stream) => stream.connected === 1).length} of ${streams.length}`,
  );
  onData = connected.poke;
  connected.poke();
  await connected.done;
  return {
    async round(index) {
      // Each stream's frame count this round must reach this; the round ends when the last one does.
      const targets = new Map(streams.map((stream) => [stream, stream.frames + UPDATES_PER_JOB]));
      const expected = streams.length * UPDATES_PER_JOB;
      const all = when(
        () => targets.size === 0,
        'every stream to get every update',
        () => `${targets.size} streams short`,
      );
      onData = (stream) => {
        const target = targets.get(stream);
        if (target === undefined || stream.frames < target) return;
        targets.delete(stream);
        all.poke();
      };
      const cpu = process.cpuUsage();
      const started = performance.now();
      await Promise.all(
        handles.map(async (handle) => {
          for (let update = 0; update < UPDATES_PER_JOB; update += 1)
            await handle.setProgress(50, { message: `round ${index} update ${update}` });
        }),
      );
      await all.done;
      const result = figures(expected, started, cpu);
      onData = () => undefined;
      return result;
    },
    close() {
      for (const stream of streams) stream.close();
    },
  };
}

/** The publisher path: one round fills a fresh queue, then times a publisher catching up with it. */
async function publisherRound(bed: Bed, redis: Redis, index: number): Promise<RoundFigures> {
  const name = `catch-up-${index}`;
  const queue = new Queue(name, { connection: redis, prefix: bed.prefix });
  // Users without streams: this path measures the publisher, not the bridge's fan-out.
  await queue.addBulk(
    Array.from({ length: PUBLISHER_JOBS }, (_, i) => ({ name: 'bench', data: { userId: `p${i % USERS}` } })),
  );
  const streamKey = `${bed.prefix}:${name}:events`;
  const [[lastId]] = (await redis.xrevrange(streamKey, '+', '-', 'COUNT', 1)) as [[string, string[]]];
  const entries = await redis.xlen(streamKey);
  const publisher = bed.seenn.publisher({
    queues: [name],
    describe: (job) => ({ userId: (job.data as { userId: string }).userId, jobType: 'bench', title: 'Bench' }),
  });
  let checkpoint = '0-0';
  let batches = 0;
  let lastBatchMs = performance.now();
  let leaseHeld = false;
  const caughtUp = when(
    () => checkpoint === lastId,
    `the publisher of ${bed.arm} to catch up`,
    () =>
      `checkpoint ${checkpoint}, last entry ${lastId}, ${batches} batches, the last ${Math.round(performance.now() - lastBatchMs)} ms ago, lease ${leaseHeld ? 'held' : 'not held'}`,
  );
  publisher.on('batch', (info) => {
    checkpoint = info.lastId;
    batches += 1;
    lastBatchMs = performance.now();
    caughtUp.poke();
  });
  publisher.on('lease', (info) => {
    leaseHeld = info.held;
  });
  publisher.on('parked', (info) => process.stderr.write(`publisher parked ${info.bullId}: ${info.error}\n`));
  publisher.on('error', (error) => process.stderr.write(`publisher: ${error.message}\n`));
  const cpu = process.cpuUsage();
  const started = performance.now();
  await publisher.start();
  await caughtUp.done;
  const result = figures(entries, started, cpu);
  await publisher.close();
  await queue.close();
  return result;
}

/** Nanoseconds per call of the recorder's hot-path methods. */
interface CallCosts {
  eventSentNs: number;
  timeCommitNs: number;
  publisherEventsNs: number;
}

const MICRO_CALLS = quick ? 200_000 : 1_000_000;

/** One round of tight loops over `recorder`'s hot-path methods. */
async function callCosts(recorder: MetricsRecorder): Promise<CallCosts> {
  const names = ['job.progress', 'job.completed', 'heartbeat', 'connected'];
  let started = process.hrtime.bigint();
  for (let i = 0; i < MICRO_CALLS; i += 1) recorder.eventSent(names[i & 3] as string);
  const eventSentNs = Number(process.hrtime.bigint() - started) / MICRO_CALLS;
  started = process.hrtime.bigint();
  for (let i = 0; i < MICRO_CALLS; i += 1) recorder.publisherEvents('video', 'progress', 1);
  const publisherEventsNs = Number(process.hrtime.bigint() - started) / MICRO_CALLS;
  const work = (): Promise<number> => Promise.resolve(1);
  const commits = MICRO_CALLS / 5;
  started = process.hrtime.bigint();
  for (let i = 0; i < commits; i += 1) await recorder.timeCommit(work);
  const timeCommitNs = Number(process.hrtime.bigint() - started) / commits;
  return {
    eventSentNs: round(eventSentNs, 1),
    timeCommitNs: round(timeCommitNs, 1),
    publisherEventsNs: round(publisherEventsNs, 1),
  };
}

/** Median figures of an arm's rounds. */
function medians(rounds: readonly RoundFigures[]): { eventsPerSecond: number; cpuMicrosPerEvent: number } {
  return {
    eventsPerSecond: round(median(rounds.map((r) => r.eventsPerSecond)), 0),
    cpuMicrosPerEvent: round(median(rounds.map((r) => r.cpuMicrosPerEvent)), 2),
  };
}

async function main(): Promise<void> {
  const cancelDeadline = installCleanup('bench/metrics', (quick ? 3 : 10) * 60_000);
  const server = await benchRedis();
  const redis = new Redis(server.url, { maxRetriesPerRequest: null });
  const load = { before: loadAverage(), after: [0, 0, 0] as [number, number, number] };
  const beds = { off: await startBed(redis, 'off'), on: await startBed(redis, 'on') };
  const bridge = { off: await bridgeArm(beds.off), on: await bridgeArm(beds.on) };
  const results = {
    bridge: { off: [] as RoundFigures[], on: [] as RoundFigures[] },
    publisher: { off: [] as RoundFigures[], on: [] as RoundFigures[] },
  };
  try {
    // One warm-up round of each arm and path (JIT, connections, scripts loaded), not counted.
    for (const arm of ['off', 'on'] as const) {
      await bridge[arm].round(-1);
      await publisherRound(beds[arm], redis, -1);
    }
    for (let index = 0; index < ROUNDS; index += 1) {
      const order: Arm[] = index % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
      for (const arm of order) results.bridge[arm].push(await bridge[arm].round(index));
      for (const arm of order) results.publisher[arm].push(await publisherRound(beds[arm], redis, index));
      process.stdout.write(`round ${index + 1}/${ROUNDS} done\n`);
    }
    // The recorder alone: alternating rounds against the no-op recorder (a scrape between rounds
    // drains the tallies, as Prometheus would).
    const micro = new Registry();
    const prometheus = PrometheusMetrics.for(micro);
    const calls = { off: [] as CallCosts[], on: [] as CallCosts[] };
    await callCosts(NOOP_METRICS);
    await callCosts(prometheus);
    for (let index = 0; index < ROUNDS; index += 1) {
      for (const arm of index % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const))
        calls[arm].push(await callCosts(arm === 'on' ? prometheus : NOOP_METRICS));
      await micro.metrics();
    }
    const callMedians = (arm: Arm): CallCosts => ({
      eventSentNs: round(median(calls[arm].map((c) => c.eventSentNs)), 1),
      timeCommitNs: round(median(calls[arm].map((c) => c.timeCommitNs)), 1),
      publisherEventsNs: round(median(calls[arm].map((c) => c.publisherEventsNs)), 1),
    });
    const recorder = { off: callMedians('off'), on: callMedians('on') };
    load.after = loadAverage();
    const scraped = await (beds.on.registry as Registry).getMetricsAsJSON();
    const total = (name: string): number =>
      scraped.find((metric) => metric.name === name)?.values.reduce((sum, value) => sum + value.value, 0) ?? 0;
    const counted = {
      eventsSent: total('seenn_bridge_events_sent_total'),
      publisherEvents: total('seenn_publisher_events_total'),
    };
    const paths = (['bridge', 'publisher'] as const).map((path) => {
      const off = medians(results[path].off);
      const on = medians(results[path].on);
      return {
        path,
        off,
        on,
        throughputRatio: round(on.eventsPerSecond / off.eventsPerSecond, 3),
        cpuRatio: round(on.cpuMicrosPerEvent / off.cpuMicrosPerEvent, 3),
      };
    });
    console.log(`\nmetrics on vs off, ${ROUNDS} alternating rounds per arm (medians)`);
    console.log(
      `bridge: ${USERS} users × ${STREAMS_PER_USER} streams, ${UPDATES_PER_JOB} updates per job per round (${USERS * STREAMS_PER_USER * UPDATES_PER_JOB} frames); publisher: ${PUBLISHER_JOBS} plain jobs per round`,
    );
    console.log('path       | events/s off | events/s on | on/off | CPU µs/event off | on    | on/off');
    for (const row of paths) {
      console.log(
        `${row.path.padEnd(10)} | ${String(row.off.eventsPerSecond).padStart(12)} | ${String(row.on.eventsPerSecond).padStart(11)} | ×${row.throughputRatio.toFixed(3)} | ${String(row.off.cpuMicrosPerEvent).padStart(16)} | ${String(row.on.cpuMicrosPerEvent).padStart(5)} | ×${row.cpuRatio.toFixed(3)}`,
      );
    }
    console.log(
      `recorder per call, on vs no-op (ns): eventSent ${recorder.on.eventSentNs} vs ${recorder.off.eventSentNs}; timeCommit wrapper ${recorder.on.timeCommitNs} vs ${recorder.off.timeCommitNs}; publisherEvents ${recorder.on.publisherEventsNs} vs ${recorder.off.publisherEventsNs}`,
    );
    console.log(
      `on arm counted: ${counted.eventsSent} SSE events sent, ${counted.publisherEvents} publisher events; load average ${load.before.join(' ')} → ${load.after.join(' ')}`,
    );
    const path = await writeResult('metrics', {
      scenario: 'metrics',
      quick,
      rounds: ROUNDS,
      machine: await machineInfo(server.version),
      load,
      config: {
        users: USERS,
        streamsPerUser: STREAMS_PER_USER,
        updatesPerJob: UPDATES_PER_JOB,
        publisherJobs: PUBLISHER_JOBS,
      },
      paths,
      recorder,
      counted,
      perRound: results,
      recorderPerRound: calls,
    });
    console.log(`wrote ${path}`);
  } finally {
    for (const arm of ['off', 'on'] as const) {
      bridge[arm].close();
      await beds[arm].seenn.close();
      beds[arm].server.closeAllConnections();
      beds[arm].server.close();
      await deletePrefix(redis, beds[arm].prefix);
    }
    await redis.quit();
    await server.stop();
    cancelDeadline();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
