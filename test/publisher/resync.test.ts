/**
 * A checkpoint older than BullMQ's trimmed events stream is detected, and the affected jobs are
 * re-synced from BullMQ's lists and hashes instead of being silently skipped.
 */
import { Queue, Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { HIDDEN_FAILURE_MESSAGE, derivedJobId, type ResyncInfo } from '../../src/index.js';
import type { Logger } from '../../src/logger.js';
import { connect } from '../helpers/redis.js';
import { nextEvent, waitFor } from '../helpers/wait.js';
import { Bed } from './harness.js';

const QUEUE = 'trimmed';
/** A second queue for the re-sync of more jobs than one chunk (1,000) holds. */
const MANY_QUEUE = 'trimmed-many';
const MANY_JOBS = 1_250;
/** Warnings the publisher logged: [facts, message]. */
const warnings: [Record<string, unknown>, string][] = [];
const noop = (): void => undefined;
const logger: Logger = {
  debug: noop,
  info: noop,
  error: noop,
  warn: (facts, message) => warnings.push([facts, message ?? '']),
  child: () => logger,
};
const bed = new Bed([QUEUE, MANY_QUEUE], { logger });

afterAll(async () => {
  await bed.close();
});

describe('re-sync after BullMQ trimmed unread events', () => {
  it('rebuilds finished, waiting, delayed and removed jobs, and reports the re-sync', { timeout: 60_000 }, async () => {
    // A tiny events stream, so it is trimmed far past the checkpoint while the publisher is away.
    const queue = new Queue(QUEUE, { connection: bed.redis, prefix: bed.prefix, streams: { events: { maxLen: 10 } } });
    await bed.start();
    const early = await queue.add('early', { userId: 'ann', title: 'Early' });
    const doomed = await queue.add('doomed', { userId: 'ann', title: 'Doomed' }, { delay: 60_000 });
    const earlyId = derivedJobId(QUEUE, early.id as string);
    const doomedId = derivedJobId(QUEUE, doomed.id as string);
    await bed.waitForJob(earlyId, (job) => job.status === 'queued');
    await bed.waitForJob(doomedId, (job) => job.status === 'pending');
    await bed.publisher.close();

    // While no publisher runs: jobs finish, fail, get removed, and new ones arrive.
    const worker = new Worker(
      QUEUE,
      async (job) => {
        if (job.name === 'bad') throw new Error('broken');
        for (const progress of [25, 50, 75]) await job.updateProgress(progress);
        return { name: job.name };
      },
      { connection: connect(), prefix: bed.prefix, concurrency: 5 },
    );
    const batch = await queue.addBulk(
      Array.from({ length: 60 }, (_, i) => ({
        name: i === 7 ? 'bad' : `n${i}`,
        data: { userId: 'bob', title: `Job ${i}` },
      })),
    );
    await waitFor(async () => (await queue.getCompletedCount()) === 60 && (await queue.getFailedCount()) === 1, {
      what: 'the batch to finish',
      timeoutMs: 30_000,
    });
    await worker.close();
    await doomed.remove();
    const waiting = await queue.add('waiting', { userId: 'cid', title: 'Waiting' });
    const delayed = await queue.add('delayed', { userId: 'cid', title: 'Delayed' }, { delay: 60_000 });
    const events = await bed.redis.xrange(`${bed.prefix}:${QUEUE}:events`, '-', '+', 'COUNT', 1);
    expect(events.length).toBe(1);

    const resynced = nextEvent<[{ queue: string } & ResyncInfo]>(bed.publisher, 'resync', { timeoutMs: 20_000 });
    await bed.publisher.start();
    const [info] = await resynced;
    expect(info.queue).toBe(QUEUE);
    // The figures to size the stream by: BullMQ's maxLen, and how much time of events went unread.
    expect(info.maxLenEvents).toBe(10);
    expect(info.trimmedSpanMs).toBeGreaterThan(0);
    // Rebuilt: the 60 finished (one failed), the waiting and the delayed job, and the removed one (an
    // unfinished job in no list); `early` too when it finished after the checkpoint's millisecond.
    expect(info.jobs).toBeGreaterThanOrEqual(64);
    expect(info.jobs).toBeLessThanOrEqual(65);
    expect(info.durationMs).toBeGreaterThanOrEqual(0);
    const sizing = warnings.filter(([, message]) => message.includes('raise streams.events.maxLen'));
    expect(sizing).toHaveLength(1);
    expect(sizing[0]?.[1]).toContain('streams.events.maxLen 10)');

    expect(await bed.waitForJob(earlyId, (job) => job.status === 'completed')).toMatchObject({
      progress: 100,
      result: { name: 'early' },
    });
    expect((await bed.waitForJob(doomedId, (job) => job.status === 'cancelled')).completedAt).toBeDefined();
    for (const [i, job] of batch.entries()) {
      const id = derivedJobId(QUEUE, job.id as string);
      if (i === 7)
        expect(await bed.waitForJob(id, (j) => j.status === 'failed')).toMatchObject({
          error: { code: 'JOB_FAILED', message: HIDDEN_FAILURE_MESSAGE },
        });
      else
        expect(await bed.waitForJob(id, (j) => j.status === 'completed')).toMatchObject({
          progress: 100,
          result: { name: `n${i}` },
        });
    }
    await bed.waitForJob(derivedJobId(QUEUE, waiting.id as string), (job) => job.status === 'queued');
    await bed.waitForJob(derivedJobId(QUEUE, delayed.id as string), (job) => job.status === 'pending');
    // The unfinished-jobs set holds exactly the two that are still waiting.
    expect((await bed.redis.smembers(bed.seenn.context.keys.liveJobs(QUEUE))).sort()).toEqual(
      [derivedJobId(QUEUE, waiting.id as string), derivedJobId(QUEUE, delayed.id as string)].sort(),
    );
    await queue.close();
  });

  it('rebuilds more jobs than one chunk holds, each once', { timeout: 90_000 }, async () => {
    const queue = new Queue(MANY_QUEUE, {
      connection: bed.redis,
      prefix: bed.prefix,
      streams: { events: { maxLen: 10 } },
    });
    // The publisher has read this queue (a checkpoint exists) before it goes away.
    await bed.start();
    const seen = await queue.add('seen', { userId: 'dee', title: 'Seen' });
    await bed.waitForJob(derivedJobId(MANY_QUEUE, seen.id as string), (job) => job.status === 'queued');
    await bed.publisher.close();

    const added = await queue.addBulk(
      Array.from({ length: MANY_JOBS }, (_, i) => ({
        name: `m${i}`,
        data: { userId: `u${i % 7}`, title: `Many ${i}` },
      })),
    );
    const worker = new Worker(MANY_QUEUE, async (job) => ({ name: job.name }), {
      connection: connect(),
      prefix: bed.prefix,
      concurrency: 50,
    });
    // The worker runs `seen` too.
    await waitFor(async () => (await queue.getCompletedCount()) === MANY_JOBS + 1, {
      what: 'every job to finish',
      timeoutMs: 60_000,
    });
    await worker.close();

    const resynced = nextEvent<[{ queue: string } & ResyncInfo]>(bed.publisher, 'resync', { timeoutMs: 30_000 });
    await bed.publisher.start();
    const [info] = await resynced;
    expect(info.queue).toBe(MANY_QUEUE);
    // Every job finished unseen, `seen` among them: more than one chunk of 1,000.
    expect(info.jobs).toBe(MANY_JOBS + 1);
    for (const [i, job] of added.entries())
      expect(
        await bed.waitForJob(derivedJobId(MANY_QUEUE, job.id as string), (j) => j.status === 'completed'),
      ).toMatchObject({
        title: `Many ${i}`,
        result: { name: `m${i}` },
      });
    // One user's replay stream holds each of their jobs' completion exactly once.
    const completions = (await bed.entries('u3')).filter((entry) => entry.event === 'job.completed');
    const expected = added.filter((_, i) => i % 7 === 3).map((job) => derivedJobId(MANY_QUEUE, job.id as string));
    expect(completions.map((entry) => entry.job.id).sort()).toEqual(expected.sort());
    await queue.close();
  });
});
