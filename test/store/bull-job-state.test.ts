/**
 * A re-sync reads a BullMQ job's state with one HMGET of the fields it needs (`readBullJobState`)
 * instead of `Job.fromId` (the whole hash, the app's `data` and `opts` parsed). Checked against
 * `Job.fromId` itself, on real BullMQ jobs in every state a re-sync meets.
 */
import { Job, Queue, QueueEvents, Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { SeennKeys } from '../../src/store/keys.js';
import { readBullJobState, type BullJobState } from '../../src/store/queue-io.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';

const QUEUE = 'state';
const prefix = uniquePrefix('bull-state');
const redis = connect();
const keys = new SeennKeys(prefix, 'default');
const queue = new Queue(QUEUE, { connection: redis, prefix });
const events = new QueueEvents(QUEUE, { connection: connect(), prefix });

afterAll(async () => {
  await events.close();
  await queue.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

/** What `Job.fromId` answers for the fields a re-sync reads, in `BullJobState`'s shape. */
function fromBullMQ(job: Job): BullJobState {
  return {
    progress: job.progress,
    timestamp: job.timestamp,
    delayMs: job.delay || 0,
    attemptsMade: job.attemptsMade,
    attemptsStarted: job.attemptsStarted,
    processedOn: job.processedOn,
    finishedOn: job.finishedOn,
    failedReason: job.failedReason || undefined,
    returnvalue: job.returnvalue,
  };
}

async function bothReads(bullId: string): Promise<[BullJobState | null, BullJobState | null]> {
  const job = await Job.fromId(queue, bullId);
  return [await readBullJobState(redis, keys, QUEUE, bullId), job === undefined ? null : fromBullMQ(job)];
}

describe('readBullJobState', () => {
  it('answers what Job.fromId answers for waiting, delayed, completed, failed and removed jobs', async () => {
    await events.waitUntilReady();
    const delayed = await queue.add('delayed', {}, { delay: 3_600_000 });
    const done = await queue.add('done', { n: 1 });
    const broken = await queue.add('broken', {}, { attempts: 2 });
    const removed = await queue.add('removed', {});
    await removed.remove();

    const worker = new Worker(
      QUEUE,
      async (job) => {
        await job.updateProgress({ step: 'half', pct: 50 });
        if (job.name === 'broken') throw new Error(`broken on attempt ${job.attemptsMade + 1}`);
        return { ok: true, name: job.name };
      },
      { connection: connect(), prefix },
    );
    await Promise.all([done.waitUntilFinished(events), broken.waitUntilFinished(events).catch(() => null)]);
    await worker.close();
    // Added once no worker runs: it stays in the wait list.
    const waiting = await queue.add('waiting', { payload: 'x'.repeat(10_000) });
    expect(await waiting.getState()).toBe('waiting');

    for (const bullId of [waiting.id, delayed.id, done.id, broken.id] as string[]) {
      const [ours, theirs] = await bothReads(bullId);
      expect(theirs).not.toBeNull();
      expect(ours).toEqual(theirs);
    }
    const [completed] = await bothReads(done.id as string);
    expect(completed?.returnvalue).toEqual({ ok: true, name: 'done' });
    expect(completed?.progress).toEqual({ step: 'half', pct: 50 });
    expect(completed?.finishedOn).toBeGreaterThan(0);
    const [failed] = await bothReads(broken.id as string);
    expect(failed?.failedReason).toBe('broken on attempt 2');
    expect(failed?.attemptsMade).toBe(2);
    const [late] = await bothReads(delayed.id as string);
    expect(late?.delayMs).toBe(3_600_000);
    expect(late?.progress).toBe(0);
    const [queued] = await bothReads(waiting.id as string);
    expect(queued?.progress).toBe(0);
    expect(queued?.processedOn).toBeUndefined();
    expect(await readBullJobState(redis, keys, QUEUE, removed.id as string)).toBeNull();
    expect(await readBullJobState(redis, keys, QUEUE, 'never-added')).toBeNull();
  });

  it('reads a corrupt returnvalue or progress as null instead of throwing', async () => {
    const job = await queue.add('corrupt', {});
    await redis.hset(keys.bullJob(QUEUE, job.id as string), 'returnvalue', '{not json', 'progress', '{nor this');
    const state = await readBullJobState(redis, keys, QUEUE, job.id as string);
    expect(state).toMatchObject({ returnvalue: null, progress: null, timestamp: job.timestamp });
  });
});
