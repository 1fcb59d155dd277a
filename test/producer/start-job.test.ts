import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSeennError, Seenn, type SeennError } from '../../src/index.js';
import { SeennJobSchema } from '../../src/model/job.js';
import { DESCRIPTOR_KEY } from '../../src/model/descriptor.js';
import { openSealedDescriptor } from '../../src/model/descriptor-seal.js';
import { userTag } from '../../src/store/keys.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('prod');
let redis: Redis;
let seenn: Seenn;
const queues: Queue[] = [];

/** A BullMQ Queue of our own (not Seenn's) to inspect what was added. */
function inspect(name: string): Queue {
  const queue = new Queue(name, { connection: redis, prefix, skipMetasUpdate: true });
  queues.push(queue);
  return queue;
}

/** The error `promise` rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<SeennError> {
  try {
    await promise;
  } catch (error) {
    if (isSeennError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** Every key under the prefix (the test's whole Redis footprint). */
async function keysOf(pattern: string): Promise<string[]> {
  return redis.keys(`${prefix}:${pattern}`);
}

beforeAll(() => {
  redis = connect();
  seenn = new Seenn({ connection: redis, prefix, appId: 'app1' });
});

afterAll(async () => {
  await Promise.all(queues.map((queue) => queue.close()));
  await seenn.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('seenn.jobs.start', () => {
  it('adds the BullMQ job under a ULID with its descriptor, and the job can be read at once', async () => {
    const queueName = uniquePrefix('q');
    const eta = new Date(Date.now() + 60_000);
    const job = await seenn.jobs.start({
      queue: queueName,
      userId: 'alice',
      jobType: 'video',
      title: 'My video',
      data: { url: 'https://example.com/a.mp4', n: 3 },
      metadata: { source: 'upload' },
      opts: { attempts: 3, removeOnComplete: true },
      estimatedCompletionAt: eta,
      workflowId: 'wf-1',
    });

    expect(job.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(SeennJobSchema.parse(job)).toEqual(job);
    expect(job).toMatchObject({
      id: job.id,
      jobId: job.id,
      appId: 'app1',
      userId: 'alice',
      jobType: 'video',
      title: 'My video',
      status: 'queued',
      progress: 0,
    });
    expect(job).toMatchObject({
      metadata: { source: 'upload' },
      workflowId: 'wf-1',
      estimatedCompletionAt: eta.toISOString(),
      attempt: { current: 1, max: 3 },
    });

    const bullJob = await inspect(queueName).getJob(job.id);
    expect(bullJob?.id).toBe(job.id);
    expect(bullJob?.name).toBe('video');
    expect(bullJob?.opts).toMatchObject({ attempts: 3, removeOnComplete: true, jobId: job.id });
    const data = bullJob?.data as Record<string, unknown>;
    expect(data).toMatchObject({ url: 'https://example.com/a.mp4', n: 3 });
    const opened = openSealedDescriptor(
      await seenn.context.store.descriptorSecret(),
      queueName,
      job.id,
      data[DESCRIPTOR_KEY],
    );
    expect(opened.ok).toBe(true);
    expect(opened.ok && opened.descriptor).toEqual({
      id: job.id,
      userId: 'alice',
      jobType: 'video',
      title: 'My video',
      metadata: { source: 'upload' },
      workflowId: 'wf-1',
      estimatedCompletionAt: eta.toISOString(),
    });
    expect(await inspect(queueName).getJobState(job.id)).toBe('waiting');
    expect(job.createdAt).toBe(new Date(bullJob?.timestamp ?? 0).toISOString());

    // Reads add the live queue position (derived, never stored).
    const read = await seenn.jobs.get(job.id);
    expect(read).toEqual({ ...job, queue: { position: 1, total: 1, queueName } });
    expect((await seenn.jobs.list('alice')).jobs.map((listed) => listed.id)).toContain(job.id);

    const entries = await seenn.context.store.readStream('alice', '0-0', 10);
    const mine = entries.filter((entry) => (JSON.parse(entry.data) as { id: string }).id === job.id);
    expect(mine).toHaveLength(1);
    expect(mine[0]?.event).toBe('job.started');
    expect(JSON.parse(mine[0]?.data ?? '{}')).toEqual(job);
  });

  it('starts a delayed job as pending', async () => {
    const queueName = uniquePrefix('q');
    const job = await seenn.jobs.start({
      queue: queueName,
      userId: 'bob',
      jobType: 'report',
      title: 'Later',
      opts: { delay: 60_000 },
    });
    expect(job.status).toBe('pending');
    expect(job.attempt).toBeUndefined();
    expect(SeennJobSchema.safeParse(job).success).toBe(true);
    expect(await inspect(queueName).getJobState(job.id)).toBe('delayed');
    expect(await seenn.jobs.get(job.id)).toEqual(job);
    const entries = await seenn.context.store.readStream('bob', '0-0', 10);
    expect(entries.map((entry) => entry.event)).toEqual(['job.started']);
  });

  it('gives every job its own id', async () => {
    const queueName = uniquePrefix('q');
    const jobs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        seenn.jobs.start({ queue: queueName, userId: 'carol', jobType: 't', title: `Job ${i}` }),
      ),
    );
    expect(new Set(jobs.map((job) => job.id)).size).toBe(20);
    expect(await inspect(queueName).getWaitingCount()).toBe(20);
  });

  it('writes the snapshot before BullMQ has the job, so a publisher always finds it', async () => {
    const queueName = uniquePrefix('q');
    const ownQueue = seenn.context.queue(queueName);
    let seenWhenAdded: Promise<unknown> | undefined;
    ownQueue.once('waiting', (bullJob: { id?: string }) => {
      seenWhenAdded = seenn.context.store.read('dave', bullJob.id ?? '');
    });
    const job = await seenn.jobs.start({ queue: queueName, userId: 'dave', jobType: 't', title: 'First' });
    expect(await seenWhenAdded).toMatchObject({
      version: 1,
      src: null,
      record: { job: { id: job.id, status: 'queued' } },
    });
    const bullJob = await ownQueue.getJob(job.id);
    expect(new Date(bullJob?.timestamp ?? 0).toISOString()).toBe(job.createdAt);
  });

  it('a job BullMQ refuses turns failed (ENQUEUE_FAILED) and the BullMQ error is rethrown', async () => {
    const queueName = uniquePrefix('q');
    // BullMQ checks `sizeLimit` against the stored data (descriptor included) only when it adds the job.
    const attempt = seenn.jobs.start({
      queue: queueName,
      userId: 'erin',
      jobType: 't',
      title: 'Orphan',
      opts: { sizeLimit: 1 },
    });
    await expect(attempt).rejects.toThrow(/exceeds the limit/i);
    const entries = await seenn.context.store.readStream('erin', '0-0', 10);
    expect(entries.map((entry) => entry.event)).toEqual(['job.started', 'job.failed']);
    const failed = JSON.parse(entries[1]?.data ?? '{}') as { id: string; status: string; error?: { code: string } };
    expect(failed.error?.code).toBe('ENQUEUE_FAILED');
    expect(await seenn.jobs.get(failed.id)).toMatchObject({ status: 'failed' });
  });

  describe('bad input gives a coded error and adds nothing', () => {
    const queueName = uniquePrefix('bad');
    const valid = { queue: queueName, userId: 'eve', jobType: 'video', title: 'A title' };
    const cases: [string, unknown, string, string][] = [
      ['missing userId', { queue: queueName, jobType: 'video', title: 'A title' }, 'VALIDATION_ERROR', 'userId'],
      ['empty title', { ...valid, title: '' }, 'VALIDATION_ERROR', 'title'],
      [
        'data holding __seenn',
        { ...valid, data: { [DESCRIPTOR_KEY]: { userId: 'mallory' } } },
        'VALIDATION_ERROR',
        'data',
      ],
      ['opts.jobId', { ...valid, opts: { jobId: 'mine' } }, 'VALIDATION_ERROR', 'opts.jobId'],
      [
        'opts.deduplication',
        { ...valid, opts: { deduplication: { id: 'x' } } },
        'VALIDATION_ERROR',
        'opts.deduplication',
      ],
      ['an array as data', { ...valid, data: [1, 2] }, 'VALIDATION_ERROR', 'data'],
      ['a string as data', { ...valid, data: 'hello' }, 'VALIDATION_ERROR', 'data'],
      ['a Date as data', { ...valid, data: new Date() }, 'VALIDATION_ERROR', 'data'],
      ['a float priority', { ...valid, opts: { priority: 1.5 } }, 'VALIDATION_ERROR', 'opts.priority'],
      [
        'two exclusive failure options',
        { ...valid, opts: { failParentOnFailure: true, ignoreDependencyOnFailure: true } },
        'VALIDATION_ERROR',
        'opts',
      ],
      ['a queue name with a colon', { ...valid, queue: 'a:b' }, 'VALIDATION_ERROR', 'queue'],
      ['an unknown field', { ...valid, user: 'eve' }, 'VALIDATION_ERROR', ''],
      [
        'an ETA that is not a time',
        { ...valid, estimatedCompletionAt: 'soon' },
        'VALIDATION_ERROR',
        'estimatedCompletionAt',
      ],
      ['metadata over 10 KB', { ...valid, metadata: { blob: 'x'.repeat(11 * 1024) } }, 'PAYLOAD_TOO_LARGE', 'metadata'],
      ['no input at all', undefined, 'VALIDATION_ERROR', ''],
    ];

    it.each(cases)('%s', async (_label, input, code, path) => {
      const error = await rejection(seenn.jobs.start(input as Parameters<Seenn['jobs']['start']>[0]));
      expect(error.code).toBe(code);
      expect(error.name).toBe('ValidationError');
      const issues = error.details['issues'] as { path: string; message: string }[];
      expect(issues.length).toBeGreaterThan(0);
      if (path !== '') expect(issues.map((issue) => issue.path)).toContain(path);
    });

    it('left no trace in BullMQ or the Seenn store', async () => {
      const counts = await inspect(queueName).getJobCounts();
      expect(Object.values(counts).every((count) => count === 0)).toBe(true);
      expect(await keysOf(`${queueName}:*`)).toEqual([]);
      expect(await keysOf('a:b:*')).toEqual([]);
      expect(await keysOf(`seenn:*:u:{${userTag('eve')}}:eve:*`)).toEqual([]);
      const owners = await keysOf('seenn:*:owner:*');
      const ownersOfEve = await Promise.all(owners.map((key) => redis.get(key)));
      expect(ownersOfEve.filter((user) => user === 'eve')).toEqual([]);
    });
  });
});
