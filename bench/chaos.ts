/**
 * Chaos soak (`npm run chaos`): the whole pipeline in separate processes — BullMQ workers, Seenn
 * publishers and bridges, all talking to a persistent redis-server through a TCP proxy — with SSE
 * clients (one per user) auditing every event, while a seeded schedule of faults runs:
 * workers, publishers and bridges SIGKILLed and restarted, redis-server SIGKILLed and restarted
 * (AOF, `appendfsync always`), every Redis connection stalled or dropped at the proxy.
 *
 * 1. warm-up: every client connects (to one of the bridges) and sees one job of its user finish,
 *    so each has a cursor;
 * 2. chaos: for `--duration-seconds`, the producer starts jobs at `--rate` per second (for random
 *    users) through the proxy while the faults run (each fault is printed as it starts);
 * 3. drain: every process back up, no more faults; wait until BullMQ has finished every job and
 *    every client has seen every one of its user's jobs complete (or `--drain-seconds` pass);
 * 4. audit (see `lib/chaos/audit.ts`): per client, against its user's replay stream and the jobs the
 *    workers completed: lost, duplicated, out of order, mismatched. Also counted: reconnects that
 *    were not `recovered`, malformed payloads, jobs that failed, processes that exited on their own.
 *
 * Prints the seed first; `--seed <n>` replays the same faults at the same offsets. Memory (RSS and
 * heap of every bridge and publisher, Redis `used_memory`) is sampled every 2 s and summarised.
 * Exits 1 when any count is not zero.
 *
 *   npm run chaos                                   # 300 s of faults, 200 clients, 8 jobs/s
 *   npm run chaos -- --duration-seconds 60          # shorter
 *   npm run chaos -- --seed 1234567                 # replay a run's faults
 *   npx tsx bench/chaos.ts --duration-seconds 20 --clients 100 --rate 5
 *
 * Always a private redis-server (it is killed during the run; `REDIS_URL` is not used). Results: a
 * table and `bench/results/chaos.json` (`BENCH_RESULTS_DIR` elsewhere).
 */
import { randomInt as cryptoRandomInt, randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Seenn } from '../src/seenn.js';
import { spawnBenchBridge, type BridgeProcessStats } from './lib/bridge-process.js';
import { addCounts, auditClient, type AuditCounts } from './lib/chaos/audit.js';
import { startPersistentRedis, type PersistentRedis } from './lib/chaos/redis.js';
import { spawnRedisProxy, type RedisProxy } from './lib/chaos/redis-proxy.js';
import {
  chaosSchedule,
  describeAction,
  randomInt,
  seededRandom,
  type ChaosAction,
  type ChaosRole,
} from './lib/chaos/schedule.js';
import { spawnAuditors, type AuditorGroup, type ClientSpec } from './lib/chaos/sse-auditors.js';
import { spawnChaosWorker } from './lib/chaos/worker-process.js';
import { loadAverage, machineInfo, round, wallNow, writeResult } from './lib/harness.js';
import { installCleanup, killAll, request, stopChild } from './lib/processes.js';
import { spawnBenchPublisher, type PublisherProcessStats } from './lib/publisher-process.js';

const { values: args } = parseArgs({
  options: {
    'duration-seconds': { type: 'string', default: '300' },
    'drain-seconds': { type: 'string', default: '120' },
    seed: { type: 'string' },
    clients: { type: 'string', default: '200' },
    rate: { type: 'string', default: '8' },
    'mean-gap-ms': { type: 'string', default: '2500' },
  },
});
const DURATION_MS = Number(args['duration-seconds']) * 1000;
const DRAIN_MS = Number(args['drain-seconds']) * 1000;
const SEED = args.seed === undefined ? cryptoRandomInt(2 ** 31) : Number(args.seed);
const CLIENTS = Number(args.clients);
const JOBS_PER_SECOND = Number(args.rate);
const MEAN_GAP_MS = Number(args['mean-gap-ms']);
for (const [name, value] of Object.entries({ DURATION_MS, DRAIN_MS, SEED, CLIENTS, JOBS_PER_SECOND, MEAN_GAP_MS })) {
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`chaos: ${name} must be a positive integer (got ${value})`);
}

const PROCESSES: Record<ChaosRole, number> = { worker: 2, publisher: 2, bridge: 2 };
const CLIENT_PROCESSES = 2;
const QUEUE = 'chaos';
const STEPS = 4;
const STEP_MS = 150;
const WORKER_CONCURRENCY = 25;
/** Most producer calls in flight; beyond it a tick's jobs wait (Redis may be down). */
const PRODUCER_IN_FLIGHT = 200;
const SPAWN_TIMEOUT_MS = 60_000;
const SAMPLE_EVERY_MS = 2_000;
/** The bridges send heartbeats often and suggest quick reconnects: faults come every few seconds. */
const BRIDGE_OPTIONS = {
  connectRateLimit: null,
  rateLimit: null,
  heartbeatMs: 2_000,
  retryMs: 200,
  retryJitterMs: 300,
};
/** A standby publisher takes a dead one's lease within ~3 s instead of 10 s. */
const PUBLISHER_OPTIONS = { leaseMs: 3_000 };

const startedAt = wallNow();
const stamp = (): string => `+${((wallNow() - startedAt) / 1000).toFixed(1)}s`;
const log = (line: string): void => console.log(`[${stamp()}] ${line}`);

/** A process the run keeps alive: restarted after a kill, and after an exit nobody asked for. */
class Supervised {
  child: ChildProcess | null = null;
  restarts = 0;
  unexpectedExits = 0;
  spawnFailures = 0;
  private killing = false;

  constructor(
    readonly name: string,
    private readonly spawnOne: () => Promise<ChildProcess>,
    private readonly stopping: () => boolean,
  ) {}

  get up(): boolean {
    return this.child !== null;
  }

  /** Starts the process, retrying until it reports ready. */
  async start(): Promise<void> {
    for (;;) {
      try {
        const child = await this.spawnOne();
        this.child = child;
        child.once('exit', (code, signal) => {
          if (this.child !== child || this.killing || this.stopping()) return;
          this.unexpectedExits += 1;
          this.child = null;
          log(`UNEXPECTED: ${this.name} exited on its own (${code ?? signal}); restarting it`);
          void this.start();
        });
        return;
      } catch (error) {
        this.spawnFailures += 1;
        log(`${this.name} did not start (${(error as Error).message}); trying again`);
      }
    }
  }

  /** SIGKILLs the process, waits `downMs`, starts a new one. False when it was already down. */
  async kill(downMs: number): Promise<boolean> {
    const child = this.child;
    if (child === null || this.killing) return false;
    this.killing = true;
    await stopChild(child, 'SIGKILL');
    this.child = null;
    this.killing = false;
    await delay(downMs);
    await this.start();
    this.restarts += 1;
    return true;
  }
}

/** Min, max and last of a series of samples. */
interface Series {
  first: number;
  min: number;
  max: number;
  last: number;
  samples: number;
}

function addSample(series: Map<string, Series>, name: string, value: number | null | undefined): void {
  if (value === null || value === undefined || !Number.isFinite(value)) return;
  const current = series.get(name);
  if (current === undefined) series.set(name, { first: value, min: value, max: value, last: value, samples: 1 });
  else
    series.set(name, {
      first: current.first,
      min: Math.min(current.min, value),
      max: Math.max(current.max, value),
      last: value,
      samples: current.samples + 1,
    });
}

async function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<void> {
  const cancelDeadline = installCleanup('chaos', DURATION_MS + DRAIN_MS + 240_000);
  const schedule = chaosSchedule(SEED, { durationMs: DURATION_MS, meanGapMs: MEAN_GAP_MS, processes: PROCESSES });
  console.log(
    `chaos: seed ${SEED} (replay with --seed ${SEED}); ${DURATION_MS / 1000} s of faults, ${schedule.length} planned; ${CLIENTS} clients; ${JOBS_PER_SECOND} jobs/s; load ${loadAverage().join(' ')}`,
  );
  for (const { atMs, action } of schedule)
    console.log(`  plan +${(atMs / 1000).toFixed(1)}s  ${describeAction(action)}`);

  const loadBefore = loadAverage();
  const redisServer: PersistentRedis = await startPersistentRedis();
  const proxy: RedisProxy = await spawnRedisProxy(redisServer.port);
  const viaProxy = `redis://127.0.0.1:${proxy.port}`;
  const prefix = `chaos-${randomUUID().slice(0, 8)}`;
  const secret = randomUUID() + randomUUID();
  let stopping = false;
  const isStopping = (): boolean => stopping;
  // The producer goes through the proxy like everyone else; the audit reads Redis directly.
  const producerRedis = new Redis(viaProxy, { maxRetriesPerRequest: null });
  producerRedis.on('error', () => undefined);
  const producer = new Seenn({ connection: producerRedis, prefix, tokenSecret: secret });
  const direct = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  direct.on('error', () => undefined);
  const reader = new Seenn({ connection: direct, prefix });
  const queue = new Queue(QUEUE, { connection: direct, prefix });
  queue.on('error', () => undefined);

  const bridgePorts: number[] = [];
  const bridges = Array.from(
    { length: PROCESSES.bridge },
    (_, i) =>
      new Supervised(
        `bridge #${i}`,
        async () => {
          const bridge = await spawnBenchBridge({
            redisUrl: viaProxy,
            prefix,
            secret,
            bridgeOptions: BRIDGE_OPTIONS,
            ...(bridgePorts[i] === undefined ? {} : { port: bridgePorts[i] }),
          });
          bridgePorts[i] = bridge.port;
          return bridge.child;
        },
        isStopping,
      ),
  );
  const publisherReports = { errors: 0, resyncs: 0 };
  const publishers = Array.from(
    { length: PROCESSES.publisher },
    (_, i) =>
      new Supervised(
        `publisher #${i}`,
        async () => {
          const publisher = await spawnBenchPublisher({
            redisUrl: viaProxy,
            prefix,
            queues: [QUEUE],
            publisherOptions: PUBLISHER_OPTIONS,
            printErrors: false,
            readyTimeoutMs: SPAWN_TIMEOUT_MS,
          });
          publisher.child.on('message', (message: { type?: string }) => {
            if (message.type === 'error') publisherReports.errors += 1;
            if (message.type === 'resync') {
              publisherReports.resyncs += 1;
              log(`publisher #${i} re-synced the queue from BullMQ (events it had not read were trimmed)`);
            }
          });
          return publisher.child;
        },
        isStopping,
      ),
  );
  const workers = Array.from(
    { length: PROCESSES.worker },
    (_, i) =>
      new Supervised(
        `worker #${i}`,
        () =>
          spawnChaosWorker(
            {
              redisUrl: viaProxy,
              prefix,
              queue: QUEUE,
              steps: STEPS,
              stepMs: STEP_MS,
              concurrency: WORKER_CONCURRENCY,
            },
            SPAWN_TIMEOUT_MS,
          ),
        isStopping,
      ),
  );
  const roles: Record<ChaosRole, Supervised[]> = { worker: workers, publisher: publishers, bridge: bridges };
  const everyProcess = [...bridges, ...publishers, ...workers];

  const memory = new Map<string, Series>();
  let sampler: NodeJS.Timeout | undefined;
  let auditors: AuditorGroup | undefined;
  const producerCounters = { started: 0, acknowledged: 0, errors: 0 };
  try {
    await Promise.all(everyProcess.map((supervised) => supervised.start()));
    log(
      `up: redis-server :${redisServer.port} behind proxy :${proxy.port}; bridges on ${bridgePorts.join(', ')}; ${PROCESSES.publisher} publishers, ${PROCESSES.worker} workers`,
    );

    const users = Array.from({ length: CLIENTS }, (_, i) => `user-${i}`);
    const specs: ClientSpec[] = [];
    for (const user of users)
      specs.push({ key: user, token: await producer.tokens.issue({ userId: user, ttlSeconds: 3 * 3600 }) });
    auditors = await spawnAuditors(CLIENT_PROCESSES, bridgePorts, specs, SPAWN_TIMEOUT_MS);
    const group = auditors;
    log(`${CLIENTS} clients connected`);

    const startJob = async (userId: string): Promise<void> => {
      producerCounters.started += 1;
      try {
        await producer.jobs.start({
          queue: QUEUE,
          userId,
          jobType: 'chaos',
          title: 'Chaos probe',
          opts: { attempts: 3 },
        });
        producerCounters.acknowledged += 1;
      } catch (error) {
        producerCounters.errors += 1;
        log(`producer: ${(error as Error).message}`);
      }
    };

    // 1. Warm-up: one job per user, so that every client has a cursor before the first fault.
    await Promise.all(users.map((user) => startJob(user)));
    const warmupDeadline = Date.now() + SPAWN_TIMEOUT_MS;
    while ((await group.status()).cursors < CLIENTS) {
      if (Date.now() > warmupDeadline) throw new Error('warm-up: not every client saw its first job within 60 s');
      await delay(200);
    }
    log('warm-up done: every client has a cursor');

    sampler = setInterval(() => {
      void (async () => {
        // A process may be killed while it is asked: no answer is no sample.
        for (const { child } of bridges) {
          if (child === null || !child.connected) continue;
          const stats = await within(request<BridgeProcessStats>(child, { type: 'stats' }, 'stats', 1_000), 1_500);
          addSample(memory, 'bridge RSS', stats?.rssBytes);
          addSample(memory, 'bridge heap', stats?.heapUsedBytes);
        }
        for (const { child } of publishers) {
          if (child === null || !child.connected) continue;
          const stats = await within(request<PublisherProcessStats>(child, { type: 'stats' }, 'stats', 1_000), 1_500);
          addSample(memory, 'publisher RSS', stats?.rssBytes);
          addSample(memory, 'publisher heap', stats?.heapUsedBytes);
        }
        if (redisServer.up) {
          const info = await within(direct.info('memory'), 1_000);
          addSample(memory, 'redis used_memory', Number(/^used_memory:(\d+)/m.exec(info ?? '')?.[1]));
        }
      })();
    }, SAMPLE_EVERY_MS);

    // 2. Chaos: the producer at a steady rate, the faults on their schedule.
    const random = seededRandom(SEED ^ 0x5eed);
    let inFlight = 0;
    const chaosStart = Date.now();
    const producerTimer = setInterval(() => {
      const due =
        Math.floor(((Date.now() - chaosStart) / 1000) * JOBS_PER_SECOND) - (producerCounters.started - users.length);
      for (let i = 0; i < due && inFlight < PRODUCER_IN_FLIGHT; i += 1) {
        inFlight += 1;
        void startJob(users[randomInt(random, 0, users.length - 1)] as string).finally(() => (inFlight -= 1));
      }
    }, 100);
    const actionCounts: Record<string, { planned: number; done: number; skipped: number }> = {};
    const running: Promise<void>[] = [];
    const perform = async (action: ChaosAction): Promise<boolean> => {
      switch (action.kind) {
        case 'kill':
          return (roles[action.role][action.index] as Supervised).kill(action.downMs);
        case 'redis-restart':
          if (!redisServer.up) return false;
          await redisServer.kill();
          await delay(action.downMs);
          await redisServer.start();
          return true;
        case 'proxy-stall':
          await proxy.stall(action.stallMs);
          return true;
        case 'proxy-drop':
          await proxy.drop();
          return true;
      }
    };
    for (const { atMs, action } of schedule) {
      const wait = chaosStart + atMs - Date.now();
      if (wait > 0) await delay(wait);
      const label = action.kind === 'kill' ? `kill ${action.role}` : action.kind;
      const counts = (actionCounts[label] ??= { planned: 0, done: 0, skipped: 0 });
      counts.planned += 1;
      log(describeAction(action));
      running.push(
        perform(action).then((done) => {
          if (done) counts.done += 1;
          else {
            counts.skipped += 1;
            log(`  skipped (${describeAction(action)}): the target was already down`);
          }
        }),
      );
    }
    const rest = chaosStart + DURATION_MS - Date.now();
    if (rest > 0) await delay(rest);
    clearInterval(producerTimer);
    log(`faults over; waiting for the last restarts and ${inFlight} producer calls`);
    await Promise.all(running);
    while (inFlight > 0) await delay(100);

    // 3. Drain: every job finished in BullMQ and seen complete by its client.
    const drainStart = Date.now();
    let drained = false;
    let counts: Record<string, number> = {};
    let finished = 0;
    while (Date.now() - drainStart < DRAIN_MS) {
      counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'completed', 'failed');
      finished = (await group.status()).finished;
      const pending =
        (counts['wait'] ?? 0) + (counts['active'] ?? 0) + (counts['delayed'] ?? 0) + (counts['prioritized'] ?? 0);
      if (pending === 0 && finished >= (counts['completed'] ?? 0)) {
        drained = true;
        break;
      }
      await delay(500);
    }
    const drainMs = Date.now() - drainStart;
    log(
      drained
        ? `drained in ${round(drainMs / 1000, 1)} s`
        : `NOT drained after ${DRAIN_MS / 1000} s: ${JSON.stringify(counts)}, clients saw ${finished} completions`,
    );
    clearInterval(sampler);
    sampler = undefined;

    // 4. Audit every client against its user's stream and the jobs the workers completed.
    const completedIds = await direct.zrange(`${prefix}:${QUEUE}:completed`, 0, -1);
    const jobsOfUser = new Map<string, string[]>();
    let unpublished = 0;
    for (const id of completedIds) {
      const job = await reader.jobs.get(id);
      if (job === null) {
        unpublished += 1;
        continue;
      }
      const list = jobsOfUser.get(job.userId) ?? [];
      list.push(id);
      jobsOfUser.set(job.userId, list);
    }
    const reports = await group.report();
    const totals: AuditCounts = {
      lostEntries: 0,
      lostFinals: unpublished,
      duplicated: 0,
      outOfOrder: 0,
      mismatched: 0,
    };
    const problems: string[] = [];
    const other = {
      jobsRunAgain: 0,
      events: 0,
      connects: 0,
      unrecovered: 0,
      syncs: 0,
      malformed: 0,
      clientsWithProblems: 0,
      statusCodes: {} as Record<string, number>,
    };
    for (const report of reports) {
      const streamIds = (await direct.xrange(reader.context.keys.stream(report.key), '-', '+')).map(([id]) => id);
      const examples: string[] = [];
      const clientCounts = auditClient(
        { events: report.events, streamIds, completedJobIds: jobsOfUser.get(report.key) ?? [], steps: STEPS },
        examples,
      );
      if (problems.length < 50)
        problems.push(...examples.slice(0, 50 - problems.length).map((line) => `${report.key}: ${line}`));
      addCounts(totals, clientCounts);
      if (Object.values(clientCounts).some((value) => value > 0) || report.unrecovered > 0 || report.malformed > 0)
        other.clientsWithProblems += 1;
      other.events += report.events.length;
      other.jobsRunAgain += new Set(
        report.events.filter((event) => event.attempt > 1).map((event) => event.jobId),
      ).size;
      other.connects += report.connects;
      other.unrecovered += report.unrecovered;
      other.syncs += report.syncs;
      other.malformed += report.malformed;
      for (const [code, count] of Object.entries(report.statusCodes))
        other.statusCodes[code] = (other.statusCodes[code] ?? 0) + count;
    }
    const lost = totals.lostEntries + totals.lostFinals;
    const failedJobs = counts['failed'] ?? 0;
    const unexpectedExits = everyProcess.reduce((sum, p) => sum + p.unexpectedExits, 0);
    const restarts = Object.fromEntries(
      (Object.keys(roles) as ChaosRole[]).map((role) => [role, roles[role].reduce((sum, p) => sum + p.restarts, 0)]),
    );
    const mib = (bytes: number): number => round(bytes / 1048576, 1);
    const memorySummary = Object.fromEntries(
      [...memory].map(([name, s]) => [
        name,
        { firstMiB: mib(s.first), minMiB: mib(s.min), maxMiB: mib(s.max), lastMiB: mib(s.last), samples: s.samples },
      ]),
    );
    const ok =
      drained &&
      lost === 0 &&
      totals.duplicated === 0 &&
      totals.outOfOrder === 0 &&
      totals.mismatched === 0 &&
      other.malformed === 0 &&
      other.unrecovered === 0 &&
      failedJobs === 0 &&
      unexpectedExits === 0 &&
      reports.length === CLIENTS;
    const result = {
      scenario: 'chaos',
      seed: SEED,
      ok,
      date: new Date().toISOString(),
      machine: await machineInfo((/redis_version:(\S+)/.exec(await direct.info('server')) ?? [])[1] ?? 'unknown'),
      loadAverage: { before: loadBefore, after: loadAverage() },
      setup: {
        durationSeconds: DURATION_MS / 1000,
        clients: CLIENTS,
        jobsPerSecond: JOBS_PER_SECOND,
        meanGapMs: MEAN_GAP_MS,
        processes: PROCESSES,
        stepsPerJob: STEPS,
        stepMs: STEP_MS,
        bridgeOptions: BRIDGE_OPTIONS,
        publisherOptions: PUBLISHER_OPTIONS,
      },
      faults: actionCounts,
      restarts,
      jobs: {
        started: producerCounters.started,
        acknowledged: producerCounters.acknowledged,
        producerErrors: producerCounters.errors,
        completed: completedIds.length,
        failed: failedJobs,
        runAgainAfterAStall: other.jobsRunAgain,
      },
      drain: { drained, ms: drainMs },
      audit: {
        clients: reports.length,
        eventsAudited: other.events,
        lost,
        ...totals,
        unrecoveredReconnects: other.unrecovered,
        malformed: other.malformed,
        clientsWithProblems: other.clientsWithProblems,
      },
      clients: { connects: other.connects, syncEvents: other.syncs, statusCodes: other.statusCodes },
      processes: {
        unexpectedExits,
        spawnFailures: everyProcess.reduce((sum, p) => sum + p.spawnFailures, 0),
        publisherErrorsReported: publisherReports.errors,
        publisherResyncs: publisherReports.resyncs,
      },
      memory: memorySummary,
      problems,
      command: `npx tsx bench/chaos.ts --seed ${SEED} --duration-seconds ${DURATION_MS / 1000} --clients ${CLIENTS} --rate ${JOBS_PER_SECOND} --mean-gap-ms ${MEAN_GAP_MS}`,
    };
    console.log(
      `\nChaos soak, seed ${SEED}: ${DURATION_MS / 1000} s of faults, ${completedIds.length} jobs, ${reports.length} clients, ${other.events} events audited`,
    );
    console.table({
      'lost / duplicated / out of order': { value: `${lost} / ${totals.duplicated} / ${totals.outOfOrder}` },
      'lost: stream entries never received / finished jobs never seen complete': {
        value: `${totals.lostEntries} / ${totals.lostFinals}`,
      },
      'states no worker wrote / malformed payloads': { value: `${totals.mismatched} / ${other.malformed}` },
      'reconnects not recovered / clients with a problem': {
        value: `${other.unrecovered} / ${other.clientsWithProblems}`,
      },
      'faults done (planned)': {
        value: Object.entries(actionCounts)
          .map(([kind, c]) => `${kind} ${c.done} (${c.planned})`)
          .join(', '),
      },
      'restarts / unexpected exits': {
        value: `${Object.entries(restarts)
          .map(([role, n]) => `${role} ${n}`)
          .join(', ')} / ${unexpectedExits}`,
      },
      'publisher errors / re-syncs reported': { value: `${publisherReports.errors} / ${publisherReports.resyncs}` },
      'jobs started / completed / failed / producer errors': {
        value: `${producerCounters.started} / ${completedIds.length} / ${failedJobs} / ${producerCounters.errors}`,
      },
      'jobs run again (their worker died or lost its lock)': { value: other.jobsRunAgain },
      'client connects / job.sync events / answers': {
        value: `${other.connects} / ${other.syncs} / ${JSON.stringify(other.statusCodes)}`,
      },
      drain: { value: drained ? `${round(drainMs / 1000, 1)} s` : 'NOT drained' },
    });
    console.table(memorySummary);
    for (const line of problems) console.log(`problem: ${line}`);
    const path = await writeResult('chaos', result);
    console.log(`wrote ${path}`);
    console.log(
      `chaos: ${ok ? 'PASSED' : 'FAILED'} (lost ${lost}, duplicated ${totals.duplicated}, out of order ${totals.outOfOrder}); seed ${SEED}`,
    );
    if (!ok) process.exitCode = 1;
  } finally {
    stopping = true;
    if (sampler !== undefined) clearInterval(sampler);
    killAll([redisServer.child ?? undefined]);
    // Redis is up here unless the run failed half-way; never wait long for it.
    await within(Promise.all([producer.close(), queue.close()]), 10_000);
    producerRedis.disconnect();
    direct.disconnect();
    await redisServer.destroy();
    cancelDeadline();
  }
}

await main();
