/**
 * Cancelling BullMQ jobs: queued, prioritized and delayed jobs leave their queue; an active job's
 * processor sees its AbortSignal fire (BullMQ's own `worker.cancelJob`) when another process asks,
 * and BullMQ does not retry it; a parent takes its children along; a finished job answers CONFLICT.
 */
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Seenn } from '../../src/seenn.js';
import { uniquePrefix } from '../helpers/redis.js';
import { codeOf, openTwoProcessBed, type TwoProcessBed } from '../helpers/seenn-bed.js';
import { waitFor } from '../helpers/wait.js';

const prefix = uniquePrefix('cancel');
const QUEUE = 'cq';
let redis: Redis;
let workerRedis: Redis;
/** The producer/API process. */
let seenn: Seenn;
/** The worker process (its own connections and cancel subscription). */
let workerSeenn: Seenn;
let queue: Queue;

let bed: TwoProcessBed;

beforeAll(() => {
  bed = openTwoProcessBed(prefix, QUEUE);
  ({ redis, workerRedis, seenn, workerSeenn, queue } = bed);
});

afterAll(() => bed.close());

describe('cancelling BullMQ jobs', () => {
  it('removes a queued, a prioritized and a delayed job from BullMQ and shows them cancelled', async () => {
    const queued = await seenn.jobs.start({ queue: QUEUE, userId: 'dan', jobType: 'render', title: 'Queued' });
    const prioritized = await seenn.jobs.start({
      queue: QUEUE,
      userId: 'dan',
      jobType: 'render',
      title: 'Prioritized',
      opts: { priority: 5 },
    });
    const delayed = await seenn.jobs.start({
      queue: QUEUE,
      userId: 'dan',
      jobType: 'render',
      title: 'Delayed',
      opts: { delay: 60_000 },
    });
    expect(await queue.getJobState(prioritized.id)).toBe('prioritized');
    expect(await queue.getJobState(delayed.id)).toBe('delayed');
    await queued.cancel({ reason: 'not needed' });
    await seenn.jobs.cancel(prioritized.id);
    const cancelledDelayed = await seenn.jobs.cancel(delayed.id);
    expect(queued).toMatchObject({ status: 'cancelled', message: 'not needed' });
    expect(cancelledDelayed.status).toBe('cancelled');
    for (const job of [queued, prioritized, delayed]) {
      expect(await queue.getJob(job.id)).toBeUndefined();
      expect((await seenn.jobs.get(job.id))?.status).toBe('cancelled');
    }
    expect(await redis.smembers(seenn.context.keys.liveJobs(QUEUE))).not.toContain(queued.id);
  });

  it('aborts an active job from another process: the processor sees its signal, BullMQ does not retry, the job stays cancelled', async () => {
    const seen: { aborted: boolean; reason: unknown }[] = [];
    let startedResolve: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      startedResolve = resolve;
    });
    const worker = new Worker(
      QUEUE,
      workerSeenn.processor(async (job, _token, signal) => {
        await job.setProgress(10, { message: 'working' });
        startedResolve();
        await new Promise<void>((_resolve, reject) => {
          signal?.addEventListener('abort', () => {
            seen.push({ aborted: signal.aborted, reason: signal.reason });
            reject(new Error('stopped on abort'));
          });
        });
      }),
      { connection: workerRedis, prefix },
    );
    const publisher = seenn.publisher({ queues: [QUEUE] });
    await publisher.start();
    try {
      const job = await seenn.jobs.start({
        queue: QUEUE,
        userId: 'dan',
        jobType: 'render',
        title: 'Active',
        opts: { attempts: 3 },
      });
      await started;
      expect(await queue.getJobState(job.id)).toBe('active');
      const cancelled = await seenn.jobs.cancel(job.id, { reason: 'user pressed cancel' });
      expect(cancelled.status).toBe('cancelled');
      await waitFor(async () => (await queue.getJobState(job.id)) === 'failed', {
        what: 'the aborted job to fail in BullMQ',
      });
      expect(seen).toEqual([{ aborted: true, reason: 'user pressed cancel' }]);
      const bullJob = await queue.getJob(job.id);
      expect(bullJob?.attemptsMade).toBe(1);
      expect(bullJob?.failedReason).toBe('Cancelled: user pressed cancel');
      // The publisher applies BullMQ's events (active, progress, failed): the job stays cancelled.
      const last = (await redis.xrevrange(seenn.context.keys.bullEvents(QUEUE), '+', '-', 'COUNT', 1))[0]?.[0];
      await waitFor(async () => (await redis.get(seenn.context.keys.checkpoint(QUEUE))) === last, {
        what: 'the publisher to catch up',
      });
      expect(await seenn.jobs.get(job.id)).toMatchObject({ status: 'cancelled', message: 'user pressed cancel' });
    } finally {
      await publisher.close();
      await worker.close();
    }
  });

  it('cancels a batch parent and removes its unfinished children from BullMQ', async () => {
    const { parent, children } = await seenn.jobs.createBatch({
      queue: QUEUE,
      userId: 'dan',
      jobType: 'thumb',
      parentTitle: 'Thumbs',
      childTitles: ['a', 'b'],
    });
    await seenn.jobs.cancel(parent.id);
    const view = await seenn.jobs.getWithChildren(parent.id);
    expect(view?.parent.status).toBe('cancelled');
    expect(view?.children.map((child) => child.status)).toEqual(['cancelled', 'cancelled']);
    for (const child of children) expect(await queue.getJob(child.id)).toBeUndefined();
  });

  it('answers CONFLICT for a job BullMQ already finished, even before the store caught up', async () => {
    const job = await seenn.jobs.start({ queue: 'finished', userId: 'dan', jobType: 'render', title: 'Finished' });
    const worker = new Worker(
      'finished',
      workerSeenn.processor(async () => ({ ok: true })),
      { connection: workerRedis, prefix },
    );
    try {
      const finishedQueue = new Queue('finished', { connection: redis, prefix });
      await waitFor(async () => (await finishedQueue.getJobState(job.id)) === 'completed', {
        what: 'the job to complete',
      });
      await finishedQueue.close();
      expect(await codeOf(seenn.jobs.cancel(job.id))).toBe('CONFLICT');
      expect((await seenn.jobs.get(job.id))?.status).toBe('queued');
    } finally {
      await worker.close();
    }
  });
});
