/**
 * When BullMQ refuses children (here: a `sizeLimit` their data exceeds), they turn `failed`
 * (`ENQUEUE_FAILED`), their parent counts them under its policy, and BullMQ's error is rethrown.
 */
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { CHILD_FAILURE_CODE, Seenn, type SeennJob } from '../../src/index.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('enq');
const redis: Redis = connect();
const seenn = new Seenn({ connection: redis, prefix });
const refused = { data: { payload: 'far too big for the limit' }, opts: { sizeLimit: 4 } };

afterAll(async () => {
  await seenn.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('children BullMQ refuses', () => {
  it('createBatch: the refused queue’s children fail, the others are added, the parent fails (default policy)', async () => {
    const error = await rejection(
      seenn.jobs.createBatch({
        queue: 'ok-q',
        userId: 'una',
        jobType: 'mix',
        parentTitle: 'Half',
        children: [{ title: 'fine' }, { title: 'refused', queue: 'strict-q', ...refused }],
      }),
    );
    expect(error.message).toMatch(/exceeds the limit/);
    const page = await seenn.jobs.list('una');
    const parent = page.jobs.find((job) => job.children !== undefined) as SeennJob;
    expect(parent).toBeDefined();
    const read = await seenn.jobs.getWithChildren(parent.id);
    const [fine, bad] = read?.children ?? [];
    expect(fine?.status).toBe('queued');
    expect(await seenn.context.queue('ok-q').getJob(fine?.id ?? '')).toBeDefined();
    expect(bad).toMatchObject({ status: 'failed', error: { code: 'ENQUEUE_FAILED' } });
    expect(await seenn.context.queue('strict-q').getJob(bad?.id ?? '')).toBeUndefined();
    expect(read?.parent).toMatchObject({
      status: 'failed',
      error: { code: CHILD_FAILURE_CODE, details: { childJobId: bad?.id, childError: { code: 'ENQUEUE_FAILED' } } },
    });
    expect(read?.parent.children).toEqual({ total: 2, completed: 0, failed: 1, running: 0, pending: 1 });
  });

  it('createChild: the child fails and its tolerant parent counts it', async () => {
    const parent = await seenn.jobs.createParent({
      queue: 'strict-q',
      userId: 'vic',
      jobType: 'p',
      title: 'Tolerant',
      childCount: 2,
      failParentOnChildFailure: false,
    });
    const error = await rejection(
      seenn.jobs.createChild({ parentJobId: parent.id, childIndex: 0, jobType: 'c', title: 'refused', ...refused }),
    );
    expect(error.message).toMatch(/exceeds the limit/);
    const read = await seenn.jobs.getWithChildren(parent.id);
    expect(read?.children.map((child) => [child.status, child.error?.code])).toEqual([['failed', 'ENQUEUE_FAILED']]);
    expect(read?.parent).toMatchObject({
      status: 'running',
      progress: 50,
      children: { total: 2, completed: 0, failed: 1, running: 0, pending: 1 },
    });
  });

  it('createBatch with parentJob: a refused flow fails the parent with ENQUEUE_FAILED', async () => {
    await rejection(
      seenn.jobs.createBatch({
        queue: 'ok-q',
        userId: 'wes',
        jobType: 'flow',
        parentTitle: 'Flow',
        children: [{ title: 'a' }, { title: 'b', ...refused }],
        parentJob: {},
      }),
    );
    const page = await seenn.jobs.list('wes');
    const parent = page.jobs.find((job) => job.children !== undefined) as SeennJob;
    expect(parent).toMatchObject({
      status: 'failed',
      error: { code: 'ENQUEUE_FAILED' },
      children: { total: 2, failed: 2, pending: 0 },
    });
    expect(await seenn.context.queue('ok-q').getJob(parent.id)).toBeUndefined();
    const entries = await seenn.context.store.readStream('wes', '0-0', 100);
    expect(entries.filter((entry) => entry.event === 'job.failed').length).toBe(3);
  });
});
