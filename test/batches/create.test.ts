/**
 * `createParent` → `createChild` one at a time, driven by real BullMQ workers through a real
 * publisher: the counters after every step, the seed's 69 % example, `getWithChildren`, a child in
 * another queue than its parent, and the coded errors that change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SeennJob } from '../../src/index.js';
import { codeOf } from '../helpers/seenn-bed.js';
import { BatchBed, Driver, expectOrderly } from './harness.js';

const QUEUE = 'tracks';
const OTHER = 'covers';
let bed: BatchBed;
const driver = new Driver();

beforeAll(async () => {
  bed = await new BatchBed([QUEUE, OTHER]).start();
  bed.worker(QUEUE, driver.processor, 10);
  bed.worker(OTHER, driver.processor, 10);
});

afterAll(async () => {
  await bed.close();
});

/** The parent once its counters (and optionally status and progress) are as expected. */
function parentWith(id: string, expected: Partial<SeennJob>): Promise<SeennJob> {
  return bed.waitForJob(
    id,
    (job) =>
      JSON.stringify({ ...job, ...expected, children: { ...job.children, ...expected.children } }) ===
      JSON.stringify(job),
    `parent ${JSON.stringify(expected)}`,
  );
}

describe('createParent → createChild, one at a time', () => {
  it("counts after every step and shows the seed's 69 % under average", async () => {
    const parent = await bed.seenn.jobs.createParent({
      queue: QUEUE,
      userId: 'alice',
      jobType: 'album',
      title: 'Album',
      childCount: 5,
      childProgressMode: 'average',
    });
    expect(parent).toMatchObject({
      status: 'pending',
      progress: 0,
      childProgressMode: 'average',
      children: { total: 5, completed: 0, failed: 0, running: 0, pending: 5 },
    });
    expect(parent.parent).toBeUndefined();

    // Children are picked up as soon as they are created; each waits for the test's steps.
    const ids: string[] = [];
    for (let index = 0; index < 5; index += 1) {
      const child = await bed.seenn.jobs.createChild({
        parentJobId: parent.id,
        childIndex: index,
        userId: 'alice',
        jobType: 'track',
        title: `Track ${index}`,
        data: { index },
      });
      expect(child).toMatchObject({ status: 'queued', parent: { parentJobId: parent.id, childIndex: index } });
      ids.push(child.id);
      await parentWith(parent.id, {
        status: 'running',
        children: { total: 5, completed: 0, failed: 0, running: index + 1, pending: 4 - index },
      });
      const read = await bed.seenn.jobs.getWithChildren(parent.id);
      expect(read?.children.map((c) => c.parent?.childIndex)).toEqual(Array.from({ length: index + 1 }, (_, i) => i));
    }

    driver.complete(ids[0] as string);
    await parentWith(parent.id, {
      progress: 20,
      children: { total: 5, completed: 1, failed: 0, running: 4, pending: 0 },
    });
    driver.progress(ids[3] as string, 45);
    await parentWith(parent.id, {
      progress: 29,
      children: { total: 5, completed: 1, failed: 0, running: 4, pending: 0 },
    });
    driver.complete(ids[1] as string);
    await parentWith(parent.id, {
      progress: 49,
      children: { total: 5, completed: 2, failed: 0, running: 3, pending: 0 },
    });
    driver.complete(ids[2] as string);
    // 100 + 100 + 100 + 45 + 0 over 5 children.
    const at69 = await parentWith(parent.id, {
      status: 'running',
      progress: 69,
      children: { total: 5, completed: 3, failed: 0, running: 2, pending: 0 },
    });
    expect(at69.startedAt).toBeDefined();
    expect(at69.completedAt).toBeUndefined();

    driver.complete(ids[3] as string);
    await parentWith(parent.id, {
      progress: 80,
      children: { total: 5, completed: 4, failed: 0, running: 1, pending: 0 },
    });
    driver.complete(ids[4] as string);
    const done = await parentWith(parent.id, {
      status: 'completed',
      progress: 100,
      children: { total: 5, completed: 5, failed: 0, running: 0, pending: 0 },
    });
    expect(done.completedAt).toBeDefined();

    const read = await bed.seenn.jobs.getWithChildren(parent.id);
    expect(read?.parent).toEqual(done);
    expect(read?.children.map((c) => [c.id, c.parent?.childIndex, c.status, c.progress])).toEqual(
      ids.map((id, i) => [id, i, 'completed', 100]),
    );

    const entries = await bed.parentEntries('alice', parent.id);
    expect(entries[0]?.event).toBe('job.started');
    expect(entries.map((e) => e.progress)).toEqual(expect.arrayContaining([20, 29, 49, 69, 80, 100]));
    expect(expectOrderly(entries).terminal).toMatchObject({ event: 'job.completed', progress: 100 });
  });

  it('refuses bad children with coded errors and changes nothing', async () => {
    const parent = await bed.seenn.jobs.createParent({
      queue: QUEUE,
      userId: 'bob',
      jobType: 'album',
      title: 'Two',
      childCount: 2,
    });
    const first = await bed.seenn.jobs.createChild({
      parentJobId: parent.id,
      childIndex: 0,
      jobType: 'track',
      title: 'A',
    });
    await parentWith(parent.id, {
      status: 'running',
      children: { total: 2, completed: 0, failed: 0, running: 1, pending: 1 },
    });
    const before = await bed.seenn.context.store.read('bob', parent.id);
    const bullCount = await bed.queue(QUEUE).count();
    const activeBefore = (await bed.queue(QUEUE).getActiveCount()) + bullCount;

    expect(
      await codeOf(
        bed.seenn.jobs.createChild({ parentJobId: parent.id, childIndex: 0, jobType: 'track', title: 'again' }),
      ),
    ).toBe('CONFLICT');
    expect(
      await codeOf(
        bed.seenn.jobs.createChild({ parentJobId: parent.id, childIndex: 2, jobType: 'track', title: 'too far' }),
      ),
    ).toBe('VALIDATION_ERROR');
    expect(
      await codeOf(
        bed.seenn.jobs.createChild({
          parentJobId: parent.id,
          childIndex: 1,
          userId: 'mallory',
          jobType: 'track',
          title: 'not yours',
        }),
      ),
    ).toBe('VALIDATION_ERROR');
    expect(
      await codeOf(
        bed.seenn.jobs.createChild({ parentJobId: 'no-such-parent', childIndex: 0, jobType: 'track', title: 'orphan' }),
      ),
    ).toBe('NOT_FOUND');
    expect(
      await codeOf(
        bed.seenn.jobs.createChild({
          parentJobId: first.id,
          childIndex: 0,
          jobType: 'track',
          title: 'child of a child',
        }),
      ),
    ).toBe('VALIDATION_ERROR');
    expect(
      await codeOf(
        bed.seenn.jobs.createChild({
          parentJobId: parent.id,
          childIndex: 1,
          jobType: 'track',
          title: 'bad weight',
          weight: -1,
        }),
      ),
    ).toBe('VALIDATION_ERROR');
    expect(
      await codeOf(
        bed.seenn.jobs.createChild({ parentJobId: parent.id, childIndex: -1, jobType: 'track', title: 'negative' }),
      ),
    ).toBe('VALIDATION_ERROR');
    const noQueue = await bed.seenn.jobs.createParent({
      userId: 'bob',
      jobType: 'album',
      title: 'No queue',
      childCount: 1,
    });
    // Without a queue anywhere the child is a Seenn-only job: worker data makes no sense there.
    expect(
      await codeOf(
        bed.seenn.jobs.createChild({
          parentJobId: noQueue.id,
          childIndex: 0,
          jobType: 'track',
          title: 'where?',
          data: { file: 'x' },
        }),
      ),
    ).toBe('VALIDATION_ERROR');
    expect(
      await codeOf(
        bed.seenn.jobs.createParent({ queue: QUEUE, userId: 'bob', jobType: 'album', title: 'Zero', childCount: 0 }),
      ),
    ).toBe('VALIDATION_ERROR');
    expect(
      await codeOf(
        bed.seenn.jobs.createParent({ queue: QUEUE, userId: 'bob', jobType: 'album', title: 'Many', childCount: 1001 }),
      ),
    ).toBe('VALIDATION_ERROR');
    expect(
      await codeOf(
        bed.seenn.jobs.createBatch({
          queue: QUEUE,
          userId: 'bob',
          jobType: 'album',
          parentTitle: 'Both',
          childTitles: ['a'],
          children: [{ title: 'b' }],
        }),
      ),
    ).toBe('VALIDATION_ERROR');
    expect(
      await codeOf(bed.seenn.jobs.createBatch({ queue: QUEUE, userId: 'bob', jobType: 'album', parentTitle: 'None' })),
    ).toBe('VALIDATION_ERROR');
    expect(
      await codeOf(
        bed.seenn.jobs.createBatch({
          queue: QUEUE,
          userId: 'bob',
          jobType: 'album',
          parentTitle: 'Reserved',
          children: [{ title: 'x', data: { __seenn: 1 } }],
        }),
      ),
    ).toBe('VALIDATION_ERROR');

    expect(await bed.seenn.context.store.read('bob', parent.id)).toEqual(before);
    expect((await bed.queue(QUEUE).getActiveCount()) + (await bed.queue(QUEUE).count())).toBe(activeBefore);
    const read = await bed.seenn.jobs.getWithChildren(parent.id);
    expect(read?.children.map((c) => c.id)).toEqual([first.id]);
    driver.complete(first.id);
  });

  it('a child in another queue than its parent (and its siblings) counts the same', async () => {
    const { parent, children } = await bed.seenn.jobs.createBatch({
      queue: QUEUE,
      userId: 'carol',
      jobType: 'album',
      parentTitle: 'Mixed',
      children: [{ title: 'Track' }, { title: 'Cover art', queue: OTHER, jobType: 'cover' }],
    });
    expect(children.map((c) => [c.parent?.childIndex, c.status])).toEqual([
      [0, 'queued'],
      [1, 'queued'],
    ]);
    const [track, cover] = children as SeennJob[] as [SeennJob, SeennJob];
    expect((await bed.queue(OTHER).getJob(cover.id))?.name).toBe('cover');
    await parentWith(parent.id, {
      status: 'running',
      children: { total: 2, completed: 0, failed: 0, running: 2, pending: 0 },
    });
    driver.progress(cover.id, 60);
    await parentWith(parent.id, { progress: 30 });
    driver.complete(cover.id, { url: 'cover.png' });
    await parentWith(parent.id, {
      progress: 50,
      children: { total: 2, completed: 1, failed: 0, running: 1, pending: 0 },
    });
    driver.complete(track.id);
    await parentWith(parent.id, { status: 'completed', progress: 100 });
    const read = await bed.seenn.jobs.getWithChildren(parent.id);
    expect(read?.children.map((c) => [c.id, c.result])).toEqual([
      [track.id, { ok: true }],
      [cover.id, { url: 'cover.png' }],
    ]);
  });

  it('getWithChildren: null for an unknown id, no children for a job that is no parent', async () => {
    expect(await bed.seenn.jobs.getWithChildren('nope')).toBeNull();
    const plain = await bed.seenn.jobs.start({ queue: OTHER, userId: 'dave', jobType: 'one', title: 'Alone' });
    const read = await bed.seenn.jobs.getWithChildren(plain.id);
    expect(read?.parent.id).toBe(plain.id);
    expect(read?.children).toEqual([]);
    driver.complete(plain.id);
    await bed.waitForJob(plain.id, (job) => job.status === 'completed');
  });
});
