/**
 * A BullMQ worker process of the chaos soak: a `seenn.processor` that runs `BENCH_STEPS` steps per
 * attempt, `BENCH_STEP_MS` apart, each a `setProgress` the audit knows (see `audit.ts`), and returns
 * `{ token: <job id> }`. Short locks (`lockDuration` 4 s, stalled check every 2 s) so that the jobs of
 * a SIGKILLed worker run again within seconds, and a high `maxStalledCount` so that a job stalled by
 * repeated kills is retried rather than failed. Sends `{ type: 'ready' }` once the worker is
 * connected; exits when its parent goes away. Env: BENCH_REDIS_URL, BENCH_PREFIX, BENCH_QUEUE,
 * BENCH_STEPS, BENCH_STEP_MS, BENCH_CONCURRENCY.
 */
import type { ChildProcess } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Seenn } from '../../../src/seenn.js';
import { forkTs, nextMessage } from '../processes.js';
import { stepMessage, stepProgress } from './audit.js';

/** Lock and stalled-check settings of the chaos workers. */
export const CHAOS_WORKER_LOCKS = Object.freeze({
  lockDuration: 4_000,
  stalledInterval: 2_000,
  maxStalledCount: 1_000,
});

/** What a chaos worker process is started with. */
export interface ChaosWorkerOptions {
  redisUrl: string;
  prefix: string;
  queue: string;
  steps: number;
  stepMs: number;
  concurrency: number;
}

/** Forks a chaos worker process and waits until its worker is connected. */
export async function spawnChaosWorker(options: ChaosWorkerOptions, readyTimeoutMs: number): Promise<ChildProcess> {
  const child = forkTs(new URL(import.meta.url), {
    BENCH_ROLE: 'chaos-worker',
    BENCH_REDIS_URL: options.redisUrl,
    BENCH_PREFIX: options.prefix,
    BENCH_QUEUE: options.queue,
    BENCH_STEPS: String(options.steps),
    BENCH_STEP_MS: String(options.stepMs),
    BENCH_CONCURRENCY: String(options.concurrency),
  });
  await nextMessage(child, 'ready', readyTimeoutMs);
  return child;
}

async function run(): Promise<void> {
  const env = (name: string): string => {
    const value = process.env[name];
    if (value === undefined || value === '') throw new Error(`chaos worker needs ${name}`);
    return value;
  };
  const steps = Number(env('BENCH_STEPS'));
  const stepMs = Number(env('BENCH_STEP_MS'));
  const connection = new Redis(env('BENCH_REDIS_URL'), { maxRetriesPerRequest: null });
  connection.on('error', () => undefined);
  const seenn = new Seenn({ connection, prefix: env('BENCH_PREFIX') });
  const worker = new Worker(
    env('BENCH_QUEUE'),
    seenn.processor(async (job) => {
      for (let step = 1; step <= steps; step += 1) {
        await delay(stepMs);
        await job.setProgress(stepProgress(step, steps), { message: stepMessage(step) });
      }
      return { token: job.id };
    }),
    { connection, prefix: env('BENCH_PREFIX'), concurrency: Number(env('BENCH_CONCURRENCY')), ...CHAOS_WORKER_LOCKS },
  );
  // Redis going away is what this process is here for: errors are expected and the worker reconnects.
  worker.on('error', () => undefined);
  await worker.waitUntilReady();
  process.once('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready' });
}

if (process.env['BENCH_ROLE'] === 'chaos-worker' && process.send !== undefined) await run();
