/**
 * The producer side: what `seenn.jobs.start` costs the app process that calls it, against plain
 * BullMQ `queue.add` of the same job, side by side in one run (alternating, `--rounds` each). Both
 * run `--concurrency` callers at once on one ioredis connection, as a web server's request handlers
 * would; printed per arm: CPU of this process per call (µs, `process.cpuUsage`), calls/s, and the
 * ratio. `jobs.start` does more by design: it records the owner, commits the first snapshot (with
 * its `job.started` replay entry) and seals the descriptor before adding the BullMQ job.
 *
 *   npx tsx bench/producer.ts                     # 20,000 calls per arm and round, 3 rounds
 *   npx tsx bench/producer.ts --quick             # 5,000 calls, 2 rounds
 *   BENCH_CALLS=50000 BENCH_ROUNDS=5 BENCH_CONCURRENCY=50 npx tsx bench/producer.ts
 *   BENCH_AUTO_PIPELINING=1 …   # both arms on a connection with ioredis's `enableAutoPipelining`
 *
 * Results: a table and `bench/results/producer.json`.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Seenn } from '../src/seenn.js';
import { isQuick, loadAverage, machineInfo, median, round, writeResult } from './lib/harness.js';
import { openScenario } from './lib/scenario.js';

const quick = isQuick();
const CALLS = Number(process.env['BENCH_CALLS'] ?? (quick ? 5_000 : 20_000));
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? (quick ? 2 : 3));
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 50);
const USERS = 100;
/** Both arms on a connection with ioredis's `enableAutoPipelining` (commands of one tick in one write). */
const AUTO_PIPELINING = process.env['BENCH_AUTO_PIPELINING'] === '1';

interface ArmRound {
  cpuUsPerCall: number;
  callsPerSecond: number;
}

/** Runs `call` CALLS times with CONCURRENCY in flight; this process's CPU per call and the rate. */
async function measure(call: (i: number) => Promise<unknown>): Promise<ArmRound> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < CALLS) {
        const i = next;
        next += 1;
        await call(i);
      }
    }),
  );
  const cpu = process.cpuUsage(cpuBefore);
  const seconds = (performance.now() - started) / 1000;
  return { cpuUsPerCall: round((cpu.user + cpu.system) / CALLS, 1), callsPerSecond: Math.round(CALLS / seconds) };
}

async function main(): Promise<void> {
  const scenario = await openScenario({ name: 'producer', deadlineMs: 600_000, prefixTag: 'prod' });
  const { redisServer, prefix } = scenario;
  const pipelined = AUTO_PIPELINING
    ? new Redis(redisServer.url, { maxRetriesPerRequest: null, enableAutoPipelining: true })
    : undefined;
  const redis = pipelined ?? scenario.redis;
  const seenn = pipelined === undefined ? scenario.seenn : new Seenn({ connection: pipelined, prefix });
  const plain = new Queue('prod-plain', { connection: redis, prefix });
  const loadBefore = loadAverage();
  try {
    await plain.waitUntilReady();
    const arms = {
      'queue.add': (i: number) => plain.add('bench', { i }),
      'jobs.start': (i: number) =>
        seenn.jobs.start({
          queue: 'prod-seenn',
          userId: `user-${i % USERS}`,
          jobType: 'bench',
          title: `Job ${i}`,
          data: { i },
        }),
    };
    // One warm-up call each (the descriptor secret, script loading), then alternating rounds.
    await arms['queue.add'](-1);
    await arms['jobs.start'](-1);
    const rounds: Record<keyof typeof arms, ArmRound[]> = { 'queue.add': [], 'jobs.start': [] };
    for (let r = 0; r < ROUNDS; r += 1)
      for (const name of Object.keys(arms) as (keyof typeof arms)[]) {
        const result = await measure(arms[name]);
        rounds[name].push(result);
        console.log(
          `round ${r + 1} ${name}: ${result.cpuUsPerCall} µs CPU/call, ${result.callsPerSecond} calls/s (load ${loadAverage()[0]})`,
        );
      }
    const summary = Object.fromEntries(
      (Object.keys(rounds) as (keyof typeof arms)[]).map((name) => [
        name,
        {
          cpuUsPerCall: median(rounds[name].map((r) => r.cpuUsPerCall)),
          callsPerSecond: median(rounds[name].map((r) => r.callsPerSecond)),
        },
      ]),
    ) as Record<keyof typeof arms, ArmRound>;
    const cpuRatio = round(summary['jobs.start'].cpuUsPerCall / summary['queue.add'].cpuUsPerCall, 2);
    console.log(
      `median: queue.add ${summary['queue.add'].cpuUsPerCall} µs/call, ${summary['queue.add'].callsPerSecond} calls/s; ` +
        `jobs.start ${summary['jobs.start'].cpuUsPerCall} µs/call, ${summary['jobs.start'].callsPerSecond} calls/s; CPU ×${cpuRatio}`,
    );
    const path = await writeResult('producer', {
      scenario: 'producer',
      quick,
      date: new Date().toISOString(),
      machine: await machineInfo(redisServer.version),
      loadAverage: { before: loadBefore, after: loadAverage() },
      setup: {
        calls: CALLS,
        rounds: ROUNDS,
        concurrency: CONCURRENCY,
        users: USERS,
        autoPipelining: AUTO_PIPELINING,
        ownRedis: redisServer.own,
      },
      rounds,
      median: summary,
      cpuRatio,
      command: `${AUTO_PIPELINING ? 'BENCH_AUTO_PIPELINING=1 ' : ''}npx tsx bench/producer.ts${quick ? ' --quick' : ''}`,
    });
    console.log(`wrote ${path}`);
  } finally {
    await plain.close();
    if (pipelined !== undefined) {
      await seenn.close();
      await pipelined.quit();
    }
    await scenario.close();
  }
}

await main();
