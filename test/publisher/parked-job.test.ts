/**
 * Issue 13, finding 2: one job whose commit keeps failing must not stop its queue. The publisher
 * retries the job with backoff, then parks it (logged, recorded in the queue's parked-jobs hash,
 * reported as a `parked` event) and goes on with the other jobs and the checkpoint.
 */
import { Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { derivedJobId } from '../../src/index.js';
import { Bed } from './harness.js';
import { connect } from '../helpers/redis.js';
import { nextEvent } from '../helpers/wait.js';

const QUEUE = 'parking';
let bed: Bed | undefined;
let worker: Worker | undefined;

afterEach(async () => {
  await worker?.close();
  await bed?.close();
});

describe('a job whose commit keeps failing', () => {
  it('is parked after retries, and the jobs after it are published', { timeout: 30_000 }, async () => {
    bed = await new Bed([QUEUE], { label: 'park' }).start();
    const { keys } = bed.seenn.context;
    // The job's snapshot key holds a string: every read and commit of this one job fails (WRONGTYPE).
    const poisonId = derivedJobId(QUEUE, 'poison');
    await bed.redis.set(keys.job('pat', poisonId), 'not a snapshot hash');
    const parked = nextEvent<[{ queue: string; bullId: string; error: string }]>(bed.publisher, 'parked', {
      timeoutMs: 20_000,
      filter: (info) => info.bullId === 'poison',
    });

    const queue = bed.queue(QUEUE);
    await queue.add('poison', { userId: 'pat', title: 'Poisoned' }, { jobId: 'poison' });
    const good = await Promise.all(
      Array.from({ length: 5 }, (_, i) => queue.add('good', { userId: 'pat', title: `Good ${i}` })),
    );
    worker = new Worker(QUEUE, async () => 'ok', { connection: connect(), prefix: bed.prefix });

    // Before the fix the loop retried the failing read forever: none of these ever completed.
    for (const job of good) {
      const done = await bed.waitForJob(
        derivedJobId(QUEUE, job.id as string),
        (j) => j.status === 'completed',
        'the job added after the poisoned one',
        20_000,
      );
      expect(done.progress).toBe(100);
    }
    const [info] = await parked;
    expect(info.queue).toBe(QUEUE);
    expect(info.error).toMatch(/WRONGTYPE/);
    const recorded = JSON.parse((await bed.redis.hget(keys.parkedJobs(QUEUE), 'poison')) ?? 'null') as {
      bullId: string;
      fromId: string;
    } | null;
    expect(recorded?.bullId).toBe('poison');
    // The checkpoint moved past the poisoned job's events.
    const checkpoint = await bed.redis.get(keys.checkpoint(QUEUE));
    expect(checkpoint).not.toBeNull();
    expect(recorded?.fromId).toBeDefined();
  });
});
