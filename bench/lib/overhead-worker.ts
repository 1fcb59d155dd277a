/**
 * The worker process of `bench/overhead.ts`: runs one BullMQ Worker per round, so that nothing but the
 * worker shares its event loop. Forked with an IPC channel (see {@link spawnOverheadWorker});
 * `{ type: 'run', arm, queue, jobs, concurrency }` processes `jobs` jobs and answers
 * `{ type: 'done', startedAt, lastCompletedAt, completedAt, writes, cpuUs }` (wall-clock ms;
 * `completedAt`: `[jobId, ms]` per job; `writes`: `job.updateProgress` calls; `cpuUs`: this process's
 * CPU time during the round). Env: BENCH_REDIS_URL, BENCH_PREFIX.
 */
import type { ChildProcess } from 'node:child_process';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { Seenn } from '../../src/seenn.js';
import { forkTs, nextMessage } from './processes.js';

/**
 * The arms of the overhead benchmark; `-t0` is the wrapper with `progressThrottleMs: 0`; `alone` the
 * wrapper on a queue no publisher reads (the publisher runs elsewhere).
 */
export type OverheadArm = 'bare' | 'wrapped' | 'wrapped-t0' | 'alone' | 'alone-t0';

/** Progress updates per job, the same in every arm. */
export const UPDATES_PER_JOB = 4;

/** What a round reports. */
export interface OverheadRound {
  type: 'done';
  startedAt: number;
  lastCompletedAt: number;
  completedAt: [string, number][];
  writes: number;
  cpuUs: number;
}

const wallNow = (): number => performance.timeOrigin + performance.now();

/**
 * Forks the worker process and waits until it is ready. BENCH_WORKER_NODE_ARGS adds Node flags to it
 * (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the worker).
 */
export async function spawnOverheadWorker(redisUrl: string, prefix: string): Promise<ChildProcess> {
  const child = forkTs(
    new URL(import.meta.url),
    { BENCH_ROLE: 'overhead-worker', BENCH_REDIS_URL: redisUrl, BENCH_PREFIX: prefix },
    (process.env['BENCH_WORKER_NODE_ARGS'] ?? '').split(' ').filter(Boolean),
  );
  await nextMessage(child, 'ready', 30_000);
  return child;
}

/** The processor every arm runs: four awaited progress updates, then a small result. */
async function work(report: (progress: number) => Promise<void>): Promise<{ ok: true }> {
  for (let step = 1; step <= UPDATES_PER_JOB; step += 1) await report((step * 100) / UPDATES_PER_JOB);
  return { ok: true };
}

/** Counts `job.updateProgress` calls (what reaches Redis) without changing what they do. */
function countWrites(job: Job, counter: { writes: number }): void {
  const original = job.updateProgress.bind(job);
  job.updateProgress = (progress) => {
    counter.writes += 1;
    return original(progress);
  };
}

async function serve(): Promise<void> {
  const url = process.env['BENCH_REDIS_URL'];
  const prefix = process.env['BENCH_PREFIX'];
  if (!url || !prefix) throw new Error('overhead-worker needs BENCH_REDIS_URL and BENCH_PREFIX');
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const seenn = new Seenn({ connection: redis, prefix });

  const runRound = async (
    arm: OverheadArm,
    queue: string,
    jobs: number,
    concurrency: number,
  ): Promise<OverheadRound> => {
    const counter = { writes: 0 };
    const wrapped = seenn.processor(
      async (job) => work((progress) => job.setProgress(progress)),
      arm.endsWith('-t0') ? { progressThrottleMs: 0 } : {},
    );
    const processor =
      arm === 'bare'
        ? (job: Job) => {
            countWrites(job, counter);
            return work((progress) => job.updateProgress(progress));
          }
        : (job: Job, token?: string, signal?: AbortSignal) => {
            countWrites(job, counter);
            return wrapped(job, token, signal);
          };
    const connection = new Redis(url, { maxRetriesPerRequest: null });
    const worker = new Worker(queue, processor, { connection, prefix, concurrency, autorun: false });
    worker.on('error', (error) => process.stderr.write(`overhead worker: ${error.message}\n`));
    const completedAt: [string, number][] = [];
    let lastCompletedAt = 0;
    const allDone = new Promise<void>((resolve) => {
      worker.on('completed', (job) => {
        lastCompletedAt = wallNow();
        completedAt.push([job.id as string, lastCompletedAt]);
        if (completedAt.length === jobs) resolve();
      });
    });
    const cpuBefore = process.cpuUsage();
    const startedAt = wallNow();
    void worker.run();
    await allDone;
    const cpu = process.cpuUsage(cpuBefore);
    await worker.close();
    await connection.quit();
    return {
      type: 'done',
      startedAt,
      lastCompletedAt,
      completedAt,
      writes: counter.writes,
      cpuUs: cpu.user + cpu.system,
    };
  };

  process.on(
    'message',
    (message: { type?: string; arm?: OverheadArm; queue?: string; jobs?: number; concurrency?: number }) => {
      if (message.type !== 'run') return;
      runRound(
        message.arm as OverheadArm,
        message.queue as string,
        message.jobs as number,
        message.concurrency as number,
      ).then(
        (result) => process.send?.(result),
        (error: unknown) =>
          process.send?.({ type: 'failed', message: error instanceof Error ? error.message : String(error) }),
      );
    },
  );
  process.once('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready' });
}

if (process.env['BENCH_ROLE'] === 'overhead-worker' && process.send !== undefined) await serve();
