/**
 * BullMQ flows: a plain FlowProducer flow tracked through `describe` (children in two queues other
 * than the parent's, the child count taken at first sight, indexes given in order of first sight),
 * and `createBatch({ parentJob })`, whose parent BullMQ runs after its children. In both the parent
 * follows its children, stays `running` while BullMQ releases it, and completes when its own
 * processor does.
 */
import { FlowProducer } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHILD_FAILURE_CODE, derivedJobId, type SeennJob } from '../../src/index.js';
import { compareStreamIds } from '../../src/model/wire.js';
import type { DescribeFn } from '../../src/publisher/options.js';
import { waitFor } from '../helpers/wait.js';
import { BatchBed, Driver, expectOrderly } from './harness.js';

const PARENTS = 'bundles';
const PARTS_A = 'parts-a';
const PARTS_B = 'parts-b';
/** A queue the bed's publisher does not read: its events are applied late, by a publisher started later. */
const LATE = 'parts-late';

const describeByData: DescribeFn = (job) => {
  const data = job.data as { userId?: string; title?: string };
  return data.userId ? { userId: data.userId, jobType: job.name, title: data.title ?? job.name } : null;
};

let bed: BatchBed;
let flows: FlowProducer;
const driver = new Driver();

beforeAll(async () => {
  bed = await new BatchBed([PARENTS, PARTS_A, PARTS_B], { describe: describeByData }).start();
  flows = new FlowProducer({ connection: bed.redis, prefix: bed.prefix });
  for (const queue of [PARENTS, PARTS_A, PARTS_B, LATE]) bed.worker(queue, driver.processor, 5);
});

afterAll(async () => {
  await flows.close();
  await bed.close();
});

describe('flows', () => {
  it('a plain FlowProducer flow with describe is tracked like a batch', async () => {
    const tree = await flows.add({
      name: 'bundle',
      queueName: PARENTS,
      data: { userId: 'ivy', title: 'Bundle' },
      children: [
        { name: 'part', queueName: PARTS_A, data: { userId: 'ivy', title: 'A1' } },
        { name: 'part', queueName: PARTS_A, data: { userId: 'ivy', title: 'A2' } },
        { name: 'part', queueName: PARTS_B, data: { userId: 'ivy', title: 'B1' } },
      ],
    });
    const parentId = derivedJobId(PARENTS, tree.job.id as string);
    const childBullIds = (tree.children ?? []).map((node) => node.job.id as string);
    const childIds = (tree.children ?? []).map((node) => derivedJobId(node.job.queueName, node.job.id as string));

    await bed.waitForJob(
      parentId,
      (job) => job.status === 'running' && job.children?.running === 3,
      'children running',
    );
    const [first] = await bed.parentEntries('ivy', parentId);
    expect(first).toMatchObject({ event: 'job.started', status: 'pending', progress: 0, children: { total: 3 } });
    expect(await bed.seenn.jobs.get(parentId)).toMatchObject({
      title: 'Bundle',
      jobType: 'bundle',
      childProgressMode: 'average',
    });
    driver.progress(childBullIds[2] as string, 60);
    await bed.waitForJob(parentId, (job) => job.progress === 20, '20 %');
    for (const bullId of childBullIds) driver.complete(bullId);

    // Every child finished: BullMQ releases the parent to its own worker; it stays running at 100 %.
    const released = await bed.waitForJob(parentId, (job) => job.children?.completed === 3, 'children done');
    expect(released).toMatchObject({ status: 'running', progress: 100 });
    expect(released.completedAt).toBeUndefined();
    await bed.waitForJob(parentId, (job) => job.status === 'running' && job.progress === 100, 'parent still running');
    driver.complete(tree.job.id as string, { bundled: 3 });
    const done = await bed.waitForJob(parentId, (job) => job.status === 'completed', 'parent completed');
    expect(done).toMatchObject({
      progress: 100,
      result: { bundled: 3 },
      children: { total: 3, completed: 3, failed: 0, running: 0, pending: 0 },
    });

    const read = await bed.seenn.jobs.getWithChildren(parentId);
    expect(read?.children.map((child) => child.parent)).toEqual(
      [0, 1, 2].map((childIndex) => ({ parentJobId: parentId, childIndex })),
    );
    expect(new Set(read?.children.map((child) => child.id))).toEqual(new Set(childIds));

    const entries = await bed.parentEntries('ivy', parentId);
    // Never back to pending or queued once a child ran, though BullMQ moved the parent to `wait`.
    const statuses = entries.map((entry) => entry.status);
    expect(
      statuses.slice(statuses.indexOf('running')).every((status) => status === 'running' || status === 'completed'),
    ).toBe(true);
    expect(expectOrderly(entries).terminal.event).toBe('job.completed');
  });

  it('createBatch with parentJob: BullMQ runs the parent after its children', async () => {
    const { parent, children } = await bed.seenn.jobs.createBatch({
      queue: PARENTS,
      userId: 'jack',
      jobType: 'assemble',
      parentTitle: 'Assemble',
      children: [
        { title: 'left', queue: PARTS_A },
        { title: 'right', queue: PARTS_B },
      ],
      parentJob: { data: { recipe: 'glue' } },
    });
    expect(parent).toMatchObject({ status: 'pending', children: { total: 2, pending: 2 } });
    const bullParent = await bed.queue(PARENTS).getJob(parent.id);
    expect(await bullParent?.getState()).toBe('waiting-children');
    expect(bullParent?.data).toMatchObject({ recipe: 'glue' });
    const [left, right] = children as SeennJob[] as [SeennJob, SeennJob];
    expect((await bed.queue(PARTS_A).getJob(left.id))?.opts.failParentOnFailure).toBe(true);

    await bed.waitForJob(parent.id, (job) => job.children?.running === 2, 'children running');
    driver.complete(left.id);
    driver.complete(right.id);
    await bed.waitForJob(
      parent.id,
      (job) => job.children?.completed === 2 && job.status === 'running',
      'released, running',
    );
    driver.complete(parent.id, { assembled: true });
    const done = await bed.waitForJob(parent.id, (job) => job.status === 'completed', 'completed');
    expect(done).toMatchObject({ progress: 100, result: { assembled: true } });
    expect(expectOrderly(await bed.parentEntries('jack', parent.id)).terminal.event).toBe('job.completed');
  });

  it('a failed child fails a flow parent at once, and BullMQ failing it later changes nothing', async () => {
    const { parent, children } = await bed.seenn.jobs.createBatch({
      queue: PARENTS,
      userId: 'kim',
      jobType: 'assemble',
      parentTitle: 'Doomed',
      children: [
        { title: 'ok', queue: PARTS_A },
        { title: 'broken', queue: PARTS_B },
      ],
      parentJob: {},
    });
    const [ok, broken] = children as SeennJob[] as [SeennJob, SeennJob];
    await bed.waitForJob(parent.id, (job) => job.children?.running === 2, 'children running');
    driver.fail(broken.id, 'snapped', 'SNAPPED');
    const failed = await bed.waitForJob(parent.id, (job) => job.status === 'failed', 'parent failed');
    expect(failed.error).toMatchObject({ code: CHILD_FAILURE_CODE, details: { childJobId: broken.id, childIndex: 1 } });
    driver.complete(ok.id);
    await bed.waitForJob(parent.id, (job) => job.children?.completed === 1, 'counters updated');
    // BullMQ fails its parent too (failParentOnFailure) once a worker picks it up.
    const bullParent = await bed.queue(PARENTS).getJob(parent.id);
    await expect.poll(async () => bullParent?.getState(), { timeout: 10_000 }).toBe('failed');
    // …and the publisher has read that failure from the parent's events stream before we look.
    const events = await bed.redis.xrange(bed.seenn.context.keys.bullEvents(PARENTS), '-', '+');
    const failure = events.find(([, fields]) => fields.includes('failed') && fields.includes(parent.id));
    expect(failure).toBeDefined();
    await waitFor(
      async () =>
        compareStreamIds(
          (await bed.redis.get(bed.seenn.context.keys.checkpoint(PARENTS))) ?? '0-0',
          failure?.[0] ?? '',
        ) >= 0,
      { what: 'the publisher past the failure' },
    );
    const entries = await bed.parentEntries('kim', parent.id);
    expect(expectOrderly(entries).terminal.event).toBe('job.failed');
    expect((await bed.seenn.jobs.get(parent.id))?.error).toEqual(failed.error);
  });

  it("BullMQ failing a flow parent before the child's own failure is applied still names the child", async () => {
    const { parent, children } = await bed.seenn.jobs.createBatch({
      queue: PARENTS,
      userId: 'lou',
      jobType: 'assemble',
      parentTitle: 'Early news',
      children: [
        { title: 'fine', queue: PARTS_A },
        { title: 'late breaker', queue: LATE },
      ],
      parentJob: {},
    });
    const [fine, late] = children as SeennJob[] as [SeennJob, SeennJob];
    await bed.waitForJob(parent.id, (job) => job.children?.running === 1, 'the first child running');
    // The LATE child runs and fails in BullMQ, which fails the parent; nobody reads LATE's events yet.
    await expect
      .poll(async () => (await bed.queue(LATE).getJob(late.id))?.getState(), { timeout: 10_000 })
      .toBe('active');
    driver.fail(late.id, 'too late', 'LATE');
    const failed = await bed.waitForJob(parent.id, (job) => job.status === 'failed', 'parent failed by BullMQ');
    expect(failed.error).toEqual({
      code: CHILD_FAILURE_CODE,
      message: 'Child job 1 (late breaker) failed',
      details: { childJobId: late.id, childIndex: 1, childStatus: 'failed' },
    });
    expect(failed.children).toMatchObject({ failed: 0, running: 1 });

    // The child's own events arrive later: counters move, the parent's status and error stay.
    const latePublisher = bed.seenn.publisher({ queues: [LATE], blockMs: 100, leaseMs: 2_000 });
    await latePublisher.start();
    const counted = await bed.waitForJob(parent.id, (job) => job.children?.failed === 1, 'the late failure counted');
    expect(counted).toMatchObject({ status: 'failed', error: failed.error });
    driver.complete(fine.id);
    await bed.waitForJob(parent.id, (job) => job.children?.completed === 1, 'the other child counted');
    await latePublisher.close();
    expect(expectOrderly(await bed.parentEntries('lou', parent.id)).terminal.event).toBe('job.failed');
  });
});
