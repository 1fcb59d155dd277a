/**
 * The publisher's lag as the admin route shows it: caught up while it runs; behind by exactly the
 * events BullMQ wrote after its checkpoint once it stops while jobs keep coming (capped past
 * LAG_COUNT_MAX_ENTRIES, flagged when BullMQ trimmed unread events); caught up again after a restart.
 */
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAG_COUNT_MAX_ENTRIES, type QueueStatus } from '../../src/admin/index.js';
import type { SeennJob } from '../../src/model/job.js';
import { compareStreamIds, streamIdTime } from '../../src/model/wire.js';
import type { Publisher } from '../../src/publisher/index.js';
import { connect } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { ADMIN_TOKEN, call, startBed, type AdminBed } from './harness.js';
import { PUBLISHER_DEFAULTS } from '../../src/publisher/options.js';

const QUEUE = 'lagging';
const TINY = 'tiny';
let bed: AdminBed;
let base: string;
const publishers: Publisher[] = [];
const queues: Queue[] = [];
const connections: Redis[] = [];

beforeAll(async () => {
  bed = await startBed();
  bed.mount('/admin', { auth: { token: ADMIN_TOKEN }, queues: [QUEUE, TINY], boardPath: null });
  base = `${bed.origin}/admin`;
});

afterAll(async () => {
  await Promise.all(publishers.map((publisher) => publisher.close()));
  await Promise.all(queues.map((queue) => queue.close()));
  await Promise.all(connections.map((connection) => connection.quit()));
  await bed.close();
});

function startPublisher(): Promise<Publisher> {
  const publisher = bed.seenn.publisher({ queues: [QUEUE, TINY], blockMs: 100, leaseMs: 2_000 });
  publishers.push(publisher);
  return publisher.start().then(() => publisher);
}

function startWorker(): Worker {
  const connection = connect();
  connections.push(connection);
  const worker = new Worker(
    QUEUE,
    bed.seenn.processor(async (job) => {
      await job.setProgress(50, { message: 'working' });
      return { done: true };
    }),
    { connection, prefix: bed.prefix },
  );
  worker.on('error', () => undefined);
  return worker;
}

function bullQueue(name: string, options: { maxLenEvents?: number } = {}): Queue {
  const queue = new Queue(name, {
    connection: bed.redis,
    prefix: bed.prefix,
    ...(options.maxLenEvents === undefined
      ? { skipMetasUpdate: true }
      : { streams: { events: { maxLen: options.maxLenEvents } } }),
  });
  queues.push(queue);
  return queue;
}

async function queueStatus(name: string): Promise<QueueStatus> {
  const answer = await call(`${base}/api/queues/${name}`, { token: ADMIN_TOKEN });
  expect(answer.status).toBe(200);
  return answer.body as unknown as QueueStatus;
}

function caughtUp(name: string): Promise<QueueStatus> {
  return waitFor(
    async () => {
      const status = await queueStatus(name);
      return status.publisher.leaseHeld && status.publisher.checkpointId !== null && status.publisher.lag.entries === 0
        ? status
        : null;
    },
    { what: `the publisher of ${name} to catch up`, timeoutMs: 60_000 },
  );
}

async function startJobs(count: number, title: string): Promise<SeennJob[]> {
  const jobs: SeennJob[] = [];
  for (let i = 0; i < count; i += 1)
    jobs.push(
      await bed.seenn.jobs.start({ queue: QUEUE, userId: 'lag-user', jobType: 'work', title: `${title} ${i}` }),
    );
  return jobs;
}

/** What the stream says independently: newest id and the entries after `checkpoint`. */
async function streamAfter(
  name: string,
  checkpoint: string,
): Promise<{ newestId: string; unread: number; length: number; firstId: string }> {
  const stream = `${bed.prefix}:${name}:events`;
  const [[newestId]] = (await bed.redis.xrevrange(stream, '+', '-', 'COUNT', 1)) as [[string, string[]]];
  const [[firstId]] = (await bed.redis.xrange(stream, '-', '+', 'COUNT', 1)) as [[string, string[]]];
  const unread = (await bed.redis.xrange(stream, `(${checkpoint}`, '+')).length;
  return { newestId, unread, length: await bed.redis.xlen(stream), firstId };
}

describe('publisher lag in the admin view', () => {
  it(
    'shows the lag when the publisher stops and jobs keep coming, and none once a publisher is back',
    { timeout: 180_000 },
    async () => {
      const first = await startPublisher();
      const worker = startWorker();
      const early = await startJobs(3, 'early');
      for (const job of early)
        await waitFor(async () => (await bed.seenn.jobs.get(job.id))?.status === 'completed', {
          what: `${job.id} completed`,
          timeoutMs: 15_000,
        });
      await caughtUp(QUEUE);

      await first.close();
      const stopped = await queueStatus(QUEUE);
      expect(stopped.publisher.leaseHeld).toBe(false);
      expect(stopped.publisher.leaseExpiresInMs).toBeNull();
      const checkpoint = stopped.publisher.checkpointId as string;
      expect(checkpoint).toBe(await bed.redis.get(bed.seenn.context.keys.checkpoint(QUEUE)));
      // So the new events are stamped after the checkpoint's millisecond.
      await waitFor(async () => Number((await bed.redis.time())[0]) * 1000 > streamIdTime(checkpoint) + 1, {
        what: 'the Redis clock to pass the checkpoint',
      });

      const late = await startJobs(5, 'late');
      const queue = bullQueue(QUEUE);
      await waitFor(
        async () =>
          (await Promise.all(late.map((job) => queue.getJobState(job.id)))).every((state) => state === 'completed'),
        { what: 'late jobs completed in BullMQ' },
      );
      // No more events from here on: the figures below are stable.
      await worker.close();

      const behind = await queueStatus(QUEUE);
      const truth = await streamAfter(QUEUE, checkpoint);
      expect(truth.unread).toBeGreaterThanOrEqual(5 * 4);
      expect(behind.publisher).toEqual({
        leaseHeld: false,
        leaseHolder: null,
        leaseExpiresInMs: null,
        partitions: { total: PUBLISHER_DEFAULTS.partitions, held: 0 },
        checkpointId: checkpoint,
        newestEventId: truth.newestId,
        lag: {
          ms: streamIdTime(truth.newestId) - streamIdTime(checkpoint),
          entries: truth.unread,
          entriesCapped: false,
          trimmed: false,
        },
      });
      expect(behind.publisher.lag.ms).toBeGreaterThan(0);
      // What the lag means for users: BullMQ finished the jobs, Seenn still shows them queued.
      const view = await call(`${base}/api/jobs/${late[0]?.id}`, { token: ADMIN_TOKEN });
      expect(view.body['seenn']).toMatchObject({ status: 'queued' });
      expect(view.body['bullmq']).toMatchObject({ state: 'completed' });

      // More unread events than are counted one by one: a lower bound, flagged.
      await queue.addBulk(Array.from({ length: LAG_COUNT_MAX_ENTRIES }, (_, i) => ({ name: 'plain', data: { i } })));
      const far = await queueStatus(QUEUE);
      const farTruth = await streamAfter(QUEUE, checkpoint);
      expect(farTruth.unread).toBeGreaterThan(LAG_COUNT_MAX_ENTRIES);
      expect(far.publisher.lag).toEqual({
        ms: streamIdTime(farTruth.newestId) - streamIdTime(checkpoint),
        entries: LAG_COUNT_MAX_ENTRIES,
        entriesCapped: true,
        trimmed: false,
      });

      await startPublisher();
      const again = await caughtUp(QUEUE);
      expect(again.publisher).toMatchObject({
        leaseHeld: true,
        newestEventId: farTruth.newestId,
        checkpointId: farTruth.newestId,
        lag: { ms: 0, entries: 0, entriesCapped: false, trimmed: false },
      });
      for (const job of late) expect((await bed.seenn.jobs.get(job.id))?.status).toBe('completed');
    },
  );

  it('flags events BullMQ trimmed before the publisher read them', { timeout: 120_000 }, async () => {
    const tiny = bullQueue(TINY, { maxLenEvents: 10 });
    await tiny.add('one', { n: 1 });
    // The previous test left a publisher running that also reads TINY.
    const before = await caughtUp(TINY);
    const checkpoint = before.publisher.checkpointId as string;
    await Promise.all(publishers.map((publisher) => publisher.close()));
    expect((await queueStatus(TINY)).publisher.leaseHeld).toBe(false);

    // `MAXLEN ~ 10` trims whole stream nodes (100 entries each by default): add well past one node.
    await tiny.addBulk(Array.from({ length: 300 }, (_, i) => ({ name: 'many', data: { i } })));
    const truth = await streamAfter(TINY, checkpoint);
    expect(compareStreamIds(truth.firstId, checkpoint)).toBeGreaterThan(0);
    const trimmed = await queueStatus(TINY);
    expect(trimmed.publisher).toEqual({
      leaseHeld: false,
      leaseHolder: null,
      leaseExpiresInMs: null,
      partitions: { total: PUBLISHER_DEFAULTS.partitions, held: 0 },
      checkpointId: checkpoint,
      newestEventId: truth.newestId,
      lag: {
        ms: streamIdTime(truth.newestId) - streamIdTime(checkpoint),
        entries: truth.length,
        entriesCapped: false,
        trimmed: true,
      },
    });
  });
});
