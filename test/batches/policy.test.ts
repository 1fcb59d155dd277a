/**
 * The failure policy both ways, through real workers and a real publisher: by default the first
 * failed child fails the parent at once (later children still update its counters, never its
 * status); with `failParentOnChildFailure: false` the parent carries on and completes at 100 with the
 * failure counted. Also the `sequential` and `weighted` modes end to end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHILD_FAILURE_CODE, type SeennJob } from '../../src/index.js';
import { BatchBed, Driver, expectOrderly } from './harness.js';

const QUEUE = 'parts';
let bed: BatchBed;
const driver = new Driver();

beforeAll(async () => {
  bed = await new BatchBed([QUEUE]).start();
  bed.worker(QUEUE, driver.processor, 10);
});

afterAll(async () => {
  await bed.close();
});

function ids(children: SeennJob[]): [string, string, string] {
  return children.map((child) => child.id) as [string, string, string];
}

describe('failure policy', () => {
  it('by default the first failed child fails the parent at once, with details', async () => {
    const { parent, children } = await bed.seenn.jobs.createBatch({
      queue: QUEUE,
      userId: 'erin',
      jobType: 'export',
      parentTitle: 'Export',
      childTitles: ['a', 'b', 'c'],
    });
    const [a, b, c] = ids(children);
    await bed.waitForJob(parent.id, (job) => job.children?.running === 3, 'all running');
    driver.complete(a);
    driver.fail(b, 'disk full', 'DISK_FULL');
    const failed = await bed.waitForJob(parent.id, (job) => job.status === 'failed', 'parent failed');
    expect(failed.error).toEqual({
      code: CHILD_FAILURE_CODE,
      message: 'Child job 1 (b) failed: disk full',
      details: {
        childJobId: b,
        childIndex: 1,
        childStatus: 'failed',
        childError: { code: 'DISK_FULL', message: 'disk full' },
      },
    });
    expect(failed.children).toEqual({ total: 3, completed: 1, failed: 1, running: 1, pending: 0 });
    expect(failed.progress).toBe(66);

    // The last child still finishes: counters move, the parent's status, progress and error do not.
    driver.complete(c);
    const after = await bed.waitForJob(parent.id, (job) => job.children?.completed === 2, 'counters after the end');
    expect(after).toMatchObject({
      status: 'failed',
      progress: 66,
      error: failed.error,
      completedAt: failed.completedAt,
    });
    expect(after.children).toEqual({ total: 3, completed: 2, failed: 1, running: 0, pending: 0 });

    const entries = await bed.parentEntries('erin', parent.id);
    expect(expectOrderly(entries).terminal.event).toBe('job.failed');
    expect(entries[entries.length - 1]).toMatchObject({
      event: 'child.progress',
      status: 'failed',
      children: { completed: 2 },
    });
  });

  it('with failParentOnChildFailure false the parent carries on and completes with the failure counted', async () => {
    const { parent, children } = await bed.seenn.jobs.createBatch({
      queue: QUEUE,
      userId: 'frank',
      jobType: 'export',
      parentTitle: 'Tolerant',
      childTitles: ['a', 'b', 'c'],
      failParentOnChildFailure: false,
    });
    const [a, b, c] = ids(children);
    await bed.waitForJob(parent.id, (job) => job.children?.running === 3, 'all running');
    driver.fail(a, 'bad input');
    const carrying = await bed.waitForJob(parent.id, (job) => job.children?.failed === 1, 'one failed');
    expect(carrying).toMatchObject({ status: 'running', progress: 33 });
    driver.complete(b);
    driver.complete(c);
    const done = await bed.waitForJob(parent.id, (job) => job.status === 'completed', 'completed');
    expect(done).toMatchObject({
      progress: 100,
      children: { total: 3, completed: 2, failed: 1, running: 0, pending: 0 },
    });
    expect(done.error).toBeUndefined();
    expect(expectOrderly(await bed.parentEntries('frank', parent.id)).terminal).toMatchObject({
      event: 'job.completed',
      progress: 100,
    });
  });
});

describe('modes end to end', () => {
  it('sequential moves with finished children only', async () => {
    const { parent, children } = await bed.seenn.jobs.createBatch({
      queue: QUEUE,
      userId: 'gina',
      jobType: 'steps',
      parentTitle: 'Steps',
      childTitles: ['1', '2', '3', '4'],
      childProgressMode: 'sequential',
    });
    await bed.waitForJob(parent.id, (job) => job.children?.running === 4, 'all running');
    const [first, second, third, fourth] = children.map((child) => child.id) as [string, string, string, string];
    driver.progress(first, 90);
    await bed.waitForJob(first, (job) => job.progress === 90);
    expect((await bed.seenn.jobs.get(parent.id))?.progress).toBe(0);
    driver.complete(first);
    await bed.waitForJob(parent.id, (job) => job.progress === 25, '25 %');
    driver.complete(second);
    driver.complete(third);
    await bed.waitForJob(parent.id, (job) => job.progress === 75, '75 %');
    driver.complete(fourth);
    await bed.waitForJob(parent.id, (job) => job.status === 'completed' && job.progress === 100, 'done');
  });

  it('weighted uses each child weight', async () => {
    const { parent, children } = await bed.seenn.jobs.createBatch({
      queue: QUEUE,
      userId: 'hank',
      jobType: 'upload',
      parentTitle: 'Upload',
      childProgressMode: 'weighted',
      children: [{ title: 'big', weight: 8 }, { title: 'small' }, { title: 'tiny', weight: 1 }],
    });
    await bed.waitForJob(parent.id, (job) => job.children?.running === 3, 'all running');
    const [big, small, tiny] = ids(children);
    driver.progress(big, 50);
    // 8 · 50 / 10
    await bed.waitForJob(parent.id, (job) => job.progress === 40, '40 %');
    driver.complete(small);
    // (400 + 100) / 10
    await bed.waitForJob(parent.id, (job) => job.progress === 50, '50 %');
    driver.complete(big);
    await bed.waitForJob(parent.id, (job) => job.progress === 90, '90 %');
    driver.complete(tiny);
    await bed.waitForJob(parent.id, (job) => job.status === 'completed' && job.progress === 100, 'done');
  });
});
