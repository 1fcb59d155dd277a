/**
 * ETA accuracy benchmark: real BullMQ workers (wrapped by `seenn.processor`), the real publisher
 * (which records the run history), and the reader every client read goes through
 * (`PositionReader.decorate`, as `seenn.jobs.get`), on four workloads:
 *
 * - `steady-1w`: one worker, concurrency 1, runs of 300 ms ± 5 %; after 6 warm-up jobs run one at a
 *   time, 10 jobs are queued at once, then one more every 300 ms (20 more);
 * - `steady-3x4`: three workers × concurrency 4, runs of 400 ms ± 5 %; after two warm-up waves of
 *   12, 48 jobs at once, then 30 per second for 4 s;
 * - `bursty`: two workers × concurrency 2, runs of 250 ms ± 20 %; bursts of 20 jobs every 2.5 s;
 * - `mixed`: two workers × concurrency 2, three job types (thumb 100 ms, encode 300 ms, render
 *   700 ms, ± 10 %) in a random mix; 40 at once, then 8 per second for 4 s.
 *
 * Every 100 ms, every unfinished measured job is read and its ETA noted. Per job, the error of an ETA
 * given at time t is `|eta − actual end| ÷ (actual end − t)` (a share of the time that was left). The
 * first ETA is the first read after the job was started; the mid-wait ETA is the read nearest to the
 * middle between the first read and the job's end. Reported per workload: median, p90 and worst of
 * the first and mid-wait errors, for the service model (this code) and, side by side from the same
 * history and positions, the previous arrival-rate model (`position ÷ completion rate + median run`,
 * queued jobs only). Then the calibration table of `etaConfidence` over every read: for confidence
 * buckets, the share of ETAs that landed within ±20 % of the time left they predicted
 * (`|end − eta| ≤ 0.2 · (eta − t)`, the band the confidence speaks of), once bucketed by the model's
 * own confidence (`modelConfidence`) and once by the calibrated `etaConfidence` clients get (each
 * workload's queue starts with no calibration: the publisher scores the reads' recorded predictions
 * as the jobs complete, so later reads are calibrated by earlier outcomes only); and the mean
 * calibration error of each (|mean confidence − share within ±20 %| per bucket, weighted by reads).
 *
 *   flock -x /tmp/seenn-cpu.lock npx tsx bench/eta.ts      # starts its own redis-server
 *
 * Results go to bench/results/eta.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { SeennJob } from '../src/model/job.js';
import { durationStats, quantile, throughputOf } from '../src/position/eta.js';
import { readHistory } from '../src/position/history.js';
import { POSITION_DEFAULTS } from '../src/position/options.js';
import { PositionReader } from '../src/position/reader.js';
import { Seenn } from '../src/seenn.js';
import { deletePrefix } from '../examples/lib/redis-keys.js';
import { startRedisServer } from '../test/helpers/redis-server.js';

const USER = 'bench';
const POLL_MS = 100;

/** A deterministic PRNG (mulberry32), so every run draws the same workload. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface JobSpec {
  type: string;
  ms: number;
}

interface Workload {
  name: string;
  workers: number;
  concurrency: number;
  /** Runs the warm-up and the measured arrivals; `add` starts jobs and resolves with their ids. */
  drive(add: (specs: JobSpec[], measured: boolean) => Promise<string[]>, waitIdle: () => Promise<void>): Promise<void>;
}

const workloads = (random: () => number): Workload[] => {
  const jitter = (ms: number, share: number): number => Math.round(ms * (1 - share + 2 * share * random()));
  const many = (n: number, make: () => JobSpec): JobSpec[] => Array.from({ length: n }, make);
  return [
    {
      name: 'steady-1w',
      workers: 1,
      concurrency: 1,
      async drive(add, waitIdle) {
        const one = (): JobSpec => ({ type: 'render', ms: jitter(300, 0.05) });
        for (let i = 0; i < 6; i += 1) {
          await add([one()], false);
          await waitIdle();
        }
        await add(many(10, one), true);
        for (let i = 0; i < 20; i += 1) {
          await delay(300);
          await add([one()], true);
        }
      },
    },
    {
      name: 'steady-3x4',
      workers: 3,
      concurrency: 4,
      async drive(add, waitIdle) {
        const one = (): JobSpec => ({ type: 'render', ms: jitter(400, 0.05) });
        for (let wave = 0; wave < 2; wave += 1) {
          await add(many(12, one), false);
          await waitIdle();
        }
        await add(many(48, one), true);
        for (let i = 0; i < 40; i += 1) {
          await delay(100);
          await add(many(3, one), true);
        }
      },
    },
    {
      name: 'bursty',
      workers: 2,
      concurrency: 2,
      async drive(add, waitIdle) {
        const one = (): JobSpec => ({ type: 'render', ms: jitter(250, 0.2) });
        await add(many(8, one), false);
        await waitIdle();
        for (let burst = 0; burst < 4; burst += 1) {
          if (burst > 0) await delay(2_500);
          await add(many(20, one), true);
        }
      },
    },
    {
      name: 'mixed',
      workers: 2,
      concurrency: 2,
      async drive(add, waitIdle) {
        const types: [string, number][] = [
          ['thumb', 100],
          ['encode', 300],
          ['render', 700],
        ];
        const one = (): JobSpec => {
          const [type, ms] = types[Math.floor(random() * types.length)] as [string, number];
          return { type, ms: jitter(ms, 0.1) };
        };
        await add(many(24, one), false);
        await waitIdle();
        await add(many(40, one), true);
        for (let i = 0; i < 16; i += 1) {
          await delay(250);
          await add(many(2, one), true);
        }
      },
    },
  ];
};

interface Read {
  atMs: number;
  etaMs: number;
  /** The calibrated etaConfidence (what clients get). */
  confidence: number;
  /** The model's own confidence. */
  modelConfidence: number;
  running: boolean;
  /** The previous model's ETA from the same read (queued jobs only). */
  oldEtaMs?: number;
}

interface Tracked {
  id: string;
  reads: Read[];
  endMs?: number;
}

function summary(errors: number[]): { n: number; median: number; p90: number; worst: number } {
  const sorted = errors.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return { n: 0, median: Number.NaN, p90: Number.NaN, worst: Number.NaN };
  const pct = (v: number): number => Math.round(v * 1_000) / 10;
  return {
    n: sorted.length,
    median: pct(quantile(sorted, 0.5)),
    p90: pct(quantile(sorted, 0.9)),
    worst: pct(sorted[sorted.length - 1] as number),
  };
}

const errorOf = (etaMs: number, atMs: number, endMs: number): number =>
  Math.abs(etaMs - endMs) / Math.max(1, endMs - atMs);

interface CalibrationRead {
  confidence: number;
  modelConfidence: number;
  /** Within ±20 % of the time left it predicted. */
  within: boolean;
  /** The job's first or mid-wait read (the two the bench's errors use, and the library records per job). */
  sample: boolean;
  /** The job was running at the read (else queued). */
  running: boolean;
  /** 1: the queue's first pass (its calibration starts empty); 2: the same workload again on the same queue (calibrated by pass 1's outcomes). */
  pass: number;
}

/** Each workload runs this many times on one queue: pass 1 cold (no calibration yet), later passes warm. */
const PASSES = 2;

async function runWorkload(
  url: string,
  workload: Workload,
  random: () => number,
): Promise<{ summary: Record<string, unknown>; calibration: CalibrationRead[] }> {
  void random;
  const prefix = `bench-eta-${workload.name}-${Date.now()}`;
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const seenn = new Seenn({ connection: redis, prefix });
  const queue = 'work';
  // BullMQ never closes a connection it is given: these are quit after the workers close, so the
  // process exits by itself when the run is done.
  const workerConnections = Array.from(
    { length: workload.workers },
    () => new Redis(url, { maxRetriesPerRequest: null }),
  );
  const workers = workerConnections.map(
    (connection) =>
      new Worker(
        queue,
        seenn.processor(async (job) => {
          await delay((job.data as { ms: number }).ms);
          return {};
        }),
        { connection, prefix, concurrency: workload.concurrency },
      ),
  );
  const publisher = seenn.publisher({ queues: [queue] });
  await publisher.start();
  const reader = new PositionReader(seenn.context);
  let tracked = new Map<string, Tracked>();
  const passes: Map<string, Tracked>[] = [];
  const all = new Set<string>();
  const add = async (specs: JobSpec[], measured: boolean): Promise<string[]> => {
    const ids: string[] = [];
    for (const spec of specs) {
      const job = await seenn.jobs.start({
        queue,
        userId: USER,
        jobType: spec.type,
        title: spec.type,
        data: { ms: spec.ms },
      });
      ids.push(job.id);
      all.add(job.id);
      if (measured) tracked.set(job.id, { id: job.id, reads: [] });
    }
    return ids;
  };
  const unfinished = async (ids: string[]): Promise<SeennJob[]> => {
    const snapshots = await seenn.context.store.readMany(USER, ids);
    return snapshots.flatMap((snapshot) => (snapshot === null ? [] : [snapshot.record.job]));
  };
  const waitIdle = async (): Promise<void> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const jobs = await unfinished([...all]);
      if (jobs.every((job) => job.status === 'completed')) return;
      if (Date.now() > deadline) throw new Error(`${workload.name}: jobs did not finish within 60 s`);
      await delay(20);
    }
  };

  let driving = true;
  const measure = async (): Promise<void> => {
    driving = true;
    tracked = new Map();
    passes.push(tracked);
    const poll = (async () => {
      while (driving || [...tracked.values()].some((t) => t.endMs === undefined)) {
        const open = [...tracked.values()].filter((t) => t.endMs === undefined);
        if (open.length > 0) {
          const snapshots = await seenn.context.store.readMany(
            USER,
            open.map((t) => t.id),
          );
          const records = snapshots.flatMap((snapshot) => (snapshot === null ? [] : [snapshot.record]));
          const atMs = Date.now();
          const [explained, history] = await Promise.all([
            reader.explain(records),
            readHistory(
              redis,
              seenn.context.keys,
              [{ queueName: queue }, ...records.map((r) => ({ queueName: queue, workflowId: r.job.jobType }))],
              POSITION_DEFAULTS,
            ),
          ]);
          const finishes = history.queues.get(queue)?.finishedAtMs ?? [];
          const rate = throughputOf(
            finishes,
            atMs,
            POSITION_DEFAULTS.throughputWindowMs,
            POSITION_DEFAULTS.etaMinSamples,
          );
          for (const { job, view } of explained) {
            const entry = tracked.get(job.id) as Tracked;
            if (job.status === 'completed') {
              entry.endMs = Date.parse(job.completedAt ?? job.updatedAt);
              continue;
            }
            if (job.estimatedCompletionAt === undefined || job.etaConfidence === undefined) continue;
            const read: Read = {
              atMs,
              etaMs: Date.parse(job.estimatedCompletionAt),
              confidence: job.etaConfidence,
              modelConfidence: view.eta?.modelConfidence ?? job.etaConfidence,
              running: job.status === 'running',
            };
            const own = durationStats(history.queues.get(queue)?.durations.get(job.jobType) ?? []);
            if (job.queue !== undefined && rate !== null && own !== null)
              read.oldEtaMs = atMs + job.queue.position / rate.perMs + own.p50;
            entry.reads.push(read);
          }
        }
        await delay(POLL_MS);
      }
    })();
    await workload.drive(add, waitIdle);
    driving = false;
    await poll;
  };
  try {
    for (let pass = 1; pass <= PASSES; pass += 1) await measure();
  } finally {
    driving = false;
    await Promise.all(workers.map((worker) => worker.close()));
    await Promise.all(workerConnections.map((connection) => connection.quit()));
    await publisher.close();
    await seenn.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  }

  const calibration: CalibrationRead[] = [];
  const summaries = passes.map((jobs, i) => {
    const pass = i + 1;
    const first: number[] = [];
    const mid: number[] = [];
    const oldFirst: number[] = [];
    const oldMid: number[] = [];
    let noEta = 0;
    for (const entry of jobs.values()) {
      const end = entry.endMs as number;
      const reads = entry.reads.filter((read) => read.atMs < end);
      if (reads.length === 0) {
        noEta += 1;
        continue;
      }
      const head = reads[0] as Read;
      const middle = (head.atMs + end) / 2;
      const center = reads.reduce(
        (best, read) => (Math.abs(read.atMs - middle) < Math.abs(best.atMs - middle) ? read : best),
        head,
      );
      first.push(errorOf(head.etaMs, head.atMs, end));
      mid.push(errorOf(center.etaMs, center.atMs, end));
      if (head.oldEtaMs !== undefined) oldFirst.push(errorOf(head.oldEtaMs, head.atMs, end));
      if (center.oldEtaMs !== undefined) oldMid.push(errorOf(center.oldEtaMs, center.atMs, end));
      for (const read of reads) {
        const within = Math.abs(end - read.etaMs) <= 0.2 * Math.max(0, read.etaMs - read.atMs);
        calibration.push({
          confidence: read.confidence,
          modelConfidence: read.modelConfidence,
          within,
          sample: read === head || read === center,
          running: read.running,
          pass,
        });
      }
    }
    return {
      workload: workload.name,
      pass,
      jobs: jobs.size,
      jobsWithoutEta: noEta,
      first: summary(first),
      mid: summary(mid),
      previousModelFirst: summary(oldFirst),
      previousModelMid: summary(oldMid),
    };
  });
  // The error figures are pass 1's (as before calibration existed); later passes are in the JSON.
  return { summary: { ...(summaries[0] as Record<string, unknown>), laterPasses: summaries.slice(1) }, calibration };
}

async function main(): Promise<void> {
  const server = process.env['REDIS_URL'] === undefined ? await startRedisServer() : undefined;
  const url = process.env['REDIS_URL'] ?? (server?.url as string);
  const random = rng(18);
  const results: Record<string, unknown>[] = [];
  const calibration: CalibrationRead[] = [];
  try {
    for (const workload of workloads(random)) {
      console.error(`[eta] ${workload.name}`);
      const result = await runWorkload(url, workload, random);
      results.push(result.summary);
      calibration.push(...result.calibration);
    }
  } finally {
    await server?.stop();
  }
  const table = (
    by: (c: CalibrationRead) => number,
    which: (c: CalibrationRead) => boolean = () => true,
  ): {
    rows: { confidence: string; reads: number; meanConfidence: number; within20: number | null }[];
    error: number;
  } => {
    let weighted = 0;
    const chosen = calibration.filter(which);
    const rows = [0, 0.2, 0.4, 0.6, 0.8, 0.9].map((lo, i) => {
      const hi = [0.2, 0.4, 0.6, 0.8, 0.9, 1.01][i] as number;
      const inBucket = chosen.filter((c) => by(c) >= lo && by(c) < hi);
      const within = inBucket.filter((c) => c.within).length;
      const meanConfidence = inBucket.reduce((sum, c) => sum + by(c), 0) / Math.max(1, inBucket.length);
      if (inBucket.length > 0) weighted += inBucket.length * Math.abs(meanConfidence - within / inBucket.length);
      return {
        confidence: `${lo.toFixed(1)}–${Math.min(1, hi).toFixed(1)}`,
        reads: inBucket.length,
        meanConfidence: Math.round(meanConfidence * 100) / 100,
        within20: inBucket.length === 0 ? null : Math.round((within / inBucket.length) * 100) / 100,
      };
    });
    return { rows, error: Math.round((weighted / Math.max(1, chosen.length)) * 1_000) / 1_000 };
  };
  const cold = (c: CalibrationRead): boolean => c.pass === 1;
  const warm = (c: CalibrationRead): boolean => c.pass > 1;
  const tables = {
    'pass 1 (cold), every read, model confidence': table((c) => c.modelConfidence, cold),
    'pass 1 (cold), every read, calibrated etaConfidence': table((c) => c.confidence, cold),
    'pass 2 (warm), every read, model confidence': table((c) => c.modelConfidence, warm),
    'pass 2 (warm), every read, calibrated etaConfidence': table((c) => c.confidence, warm),
    'pass 2 (warm), first + mid-wait reads, model confidence': table(
      (c) => c.modelConfidence,
      (c) => warm(c) && c.sample,
    ),
    'pass 2 (warm), first + mid-wait reads, calibrated etaConfidence': table(
      (c) => c.confidence,
      (c) => warm(c) && c.sample,
    ),
    'pass 2 (warm), queued reads, model confidence': table(
      (c) => c.modelConfidence,
      (c) => warm(c) && !c.running,
    ),
    'pass 2 (warm), queued reads, calibrated etaConfidence': table(
      (c) => c.confidence,
      (c) => warm(c) && !c.running,
    ),
    'pass 2 (warm), running reads, model confidence': table(
      (c) => c.modelConfidence,
      (c) => warm(c) && c.running,
    ),
    'pass 2 (warm), running reads, calibrated etaConfidence': table(
      (c) => c.confidence,
      (c) => warm(c) && c.running,
    ),
  };
  const out = {
    machine: `${process.platform} ${process.arch}, node ${process.version}`,
    at: new Date().toISOString(),
    pollMs: POLL_MS,
    workloads: results,
    calibration: tables,
  };
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(new URL('./results/eta.json', import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
  console.log('ETA error, % of the time left (median / p90 / worst); n = jobs');
  for (const r of results) {
    const fmt = (s: unknown): string => {
      const x = s as { n: number; median: number; p90: number; worst: number };
      return `${x.median} / ${x.p90} / ${x.worst} (n=${x.n})`;
    };
    console.log(
      `${String(r['workload']).padEnd(11)} first ${fmt(r['first'])}   mid ${fmt(r['mid'])}   | previous model: first ${fmt(r['previousModelFirst'])}   mid ${fmt(r['previousModelMid'])}   no ETA: ${String(r['jobsWithoutEta'])}`,
    );
  }
  for (const [name, t] of Object.entries(tables)) {
    console.log(
      `${name}: bucket, reads, mean confidence, share within ±20 % of the predicted time left; mean calibration error ${t.error}`,
    );
    for (const b of t.rows)
      console.log(`  ${b.confidence}  ${String(b.reads).padStart(5)}  ${b.meanConfidence}  ${b.within20 ?? '-'}`);
  }
}

await main();
