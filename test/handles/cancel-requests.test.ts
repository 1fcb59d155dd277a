/**
 * Cancel requests kept for an attempt that starts later (a BullMQ job a worker held when it was
 * cancelled, retried within the hour): the attempt is aborted before the processor's own code runs,
 * whether the request was sent before the worker process listened or after. Once the process has read
 * its queue's kept requests, attempts start without reading Redis for them (issue 10: one round trip
 * per job); when its subscriber connection drops, it reads them again, so a request announced while it
 * was away is not missed.
 */
import { Worker, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Seenn } from '../../src/seenn.js';
import { uniquePrefix, watchCommands } from '../helpers/redis.js';
import { openTwoProcessBed, type TwoProcessBed } from '../helpers/seenn-bed.js';
import { waitFor } from '../helpers/wait.js';

const prefix = uniquePrefix('cancel-kept');
const QUEUE = 'kq';
/** The worker process's connections carry this name (its cancel subscriber is a duplicate). */
const WORKER_NAME = `worker-${prefix.replace(/[{}]/g, '')}`;
let redis: Redis;
let seenn: Seenn;
let queue: Queue;
let worker: Worker;
let bed: TwoProcessBed;
/** The jobs whose processor code ran, by BullMQ id. */
const ran = new Set<string>();

beforeAll(async () => {
  bed = openTwoProcessBed(prefix, QUEUE, {}, WORKER_NAME);
  ({ redis, seenn, queue } = bed);
  worker = new Worker(
    QUEUE,
    bed.workerSeenn.processor(async (job, _token, signal) => {
      if (signal?.aborted === true) throw new Error('aborted before it began');
      ran.add(job.id as string);
      return 'done';
    }),
    { connection: bed.workerRedis, prefix },
  );
  await worker.waitUntilReady();
});

afterAll(async () => {
  await worker.close();
  await bed.close();
});

/** Starts a job that waits `delayMs` before a worker may take it; its BullMQ id. */
async function delayedJob(title: string, delayMs: number): Promise<string> {
  const job = await seenn.jobs.start({
    queue: QUEUE,
    userId: 'kim',
    jobType: 'render',
    title,
    opts: { delay: delayMs },
  });
  return job.id;
}

/** Waits until BullMQ has finished `bullId`; its final state and failed reason. */
async function finished(bullId: string): Promise<{ state: string; failedReason: string | undefined }> {
  let state = '';
  await waitFor(
    async () => {
      state = await queue.getJobState(bullId);
      return state === 'completed' || state === 'failed';
    },
    { what: `job ${bullId} to finish`, timeoutMs: 15_000 },
  );
  return { state, failedReason: (await queue.getJob(bullId))?.failedReason };
}

/** The commands `fn` made Redis run on cancel-request keys of this test's prefix (MONITOR). */
async function cancelReads(fn: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const stop = await watchCommands(redis, ([command = '', key = '']) => {
    if (key.startsWith(`${prefix}:`) && /:cancels?(:|$)/.test(key) && /^(get|zrangebyscore)$/i.test(command))
      seen.push(`${command.toLowerCase()} ${key}`);
  });
  try {
    await fn();
  } finally {
    await stop();
  }
  return seen;
}

describe('cancel requests kept for an attempt that starts later', () => {
  it('aborts such an attempt before its code runs, then starts later attempts without reading Redis for requests', async () => {
    // Sent before this worker process ever listened: found in Redis.
    const early = await delayedJob('Early', 1_000);
    await seenn.context.store.cancelRequests.send(QUEUE, early, 'changed my mind', 60);
    expect(await finished(early)).toEqual({ state: 'failed', failedReason: 'Cancelled: changed my mind' });
    expect(ran.has(early)).toBe(false);

    const reads = await cancelReads(async () => {
      // Attempts without a request run, and read nothing.
      for (const title of ['One', 'Two', 'Three']) {
        const id = (await seenn.jobs.start({ queue: QUEUE, userId: 'kim', jobType: 'render', title })).id;
        expect(await finished(id)).toEqual({ state: 'completed', failedReason: undefined });
        expect(ran.has(id)).toBe(true);
      }
      // Sent while the process listens: known from the channel.
      const late = await delayedJob('Late', 1_000);
      await seenn.context.store.cancelRequests.send(QUEUE, late, 'no longer needed', 60);
      expect(await finished(late)).toEqual({ state: 'failed', failedReason: 'Cancelled: no longer needed' });
      expect(ran.has(late)).toBe(false);
    });
    expect(reads).toEqual([]);
  });

  it('reads the kept requests again after its subscriber connection dropped, so one announced meanwhile still aborts', async () => {
    // The queue's requests are known already (the test before). A request whose announcement this
    // process missed (its subscriber was away): kept in Redis, never heard on the channel.
    const missed = await delayedJob('Missed', 2_000);
    const keys = seenn.context.keys;
    await redis.set(keys.cancelRequest(QUEUE, missed), 'sent while you were away', 'EX', 60);
    await redis.zadd(keys.cancelRequests(QUEUE), Date.now() + 60_000, missed);
    // The worker process's subscriber (its only Pub/Sub connection) drops; ioredis reconnects it.
    const clients = (await redis.client('LIST')) as string;
    const subscriber = clients
      .split('\n')
      .find((line) => line.includes(` name=${WORKER_NAME} `) && / sub=[1-9]/.test(line));
    expect(subscriber).toBeDefined();
    const id = /(?:^| )id=(\d+)/.exec(subscriber as string)?.[1];
    await redis.client('KILL', 'ID', id as string);
    expect(await finished(missed)).toEqual({ state: 'failed', failedReason: 'Cancelled: sent while you were away' });
    expect(ran.has(missed)).toBe(false);
  });
});
