/**
 * Job handles on Seenn-only jobs: the seed's backend code, through the store's one commit path.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejectionOf } from '../helpers/seenn-bed.js';
import { Seenn } from '../../src/seenn.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('handles');
let redis: Redis;
let seenn: Seenn;
/** A second instance on its own connection: another process, as far as the store can tell. */
let other: Seenn;
let otherRedis: Redis;

beforeAll(() => {
  redis = connect();
  otherRedis = connect();
  seenn = new Seenn({ connection: redis, prefix });
  other = new Seenn({ connection: otherRedis, prefix });
});

afterAll(async () => {
  await seenn.close();
  await other.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
  await otherRedis.quit();
});

/** The replay entries of one job, oldest first: `[event, job]`. */
async function entriesOf(userId: string, jobId: string): Promise<[string, Record<string, unknown>][]> {
  const entries = await seenn.context.store.readStream(userId, '0-0', 10_000);
  return entries
    .map(({ event, data }) => [event, JSON.parse(data) as Record<string, unknown>] as [string, Record<string, unknown>])
    .filter(([, job]) => job['id'] === jobId);
}

/** The coded error a promise rejects with. */
async function codeOf(promise: Promise<unknown>): Promise<{ code: string; details: Record<string, unknown> }> {
  const { code, details } = await rejectionOf(promise);
  return { code, details };
}

describe('Seenn-only jobs driven by their handle', () => {
  it('starts pending with non-enumerable methods, JSON equal to the stored job', async () => {
    const job = await seenn.jobs.start({
      userId: 'ann',
      jobType: 'import',
      title: 'Import CSV',
      metadata: { file: 'a.csv' },
    });
    expect(job.status).toBe('pending');
    expect(typeof job.setProgress).toBe('function');
    expect(Object.keys(job)).not.toContain('setProgress');
    expect(JSON.parse(JSON.stringify(job))).toEqual(await seenn.jobs.get(job.id));
    expect(await entriesOf('ann', job.id)).toEqual([['job.started', expect.objectContaining({ status: 'pending' })]]);
  });

  it('runs with setProgress: message, stage and queue stay when left out, metadata merges', async () => {
    const job = await seenn.jobs.start({
      userId: 'ann',
      jobType: 'import',
      title: 'Import',
      metadata: { file: 'a.csv' },
    });
    const same = await job.setProgress(10, {
      message: 'Reading',
      stage: { name: 'read', current: 1, total: 3, description: 'Reading rows' },
      metadata: { rows: 10 },
    });
    expect(same).toBe(job);
    expect(job).toMatchObject({
      status: 'running',
      progress: 10,
      message: 'Reading',
      stage: { name: 'read', current: 1, total: 3, description: 'Reading rows' },
      metadata: { file: 'a.csv', rows: 10 },
    });
    expect(job.startedAt).toBeDefined();
    const startedAt = job.startedAt;
    await job.setProgress(42.4, { metadata: { rows: 40 } });
    expect(job).toMatchObject({
      progress: 42,
      message: 'Reading',
      stage: { name: 'read', current: 1, total: 3 },
      metadata: { file: 'a.csv', rows: 40 },
      startedAt,
    });
    await job.setProgress(60, { stage: { name: 'write', current: 2, total: 3 } });
    expect(job.stage).toEqual({ name: 'write', current: 2, total: 3 });
    expect(job.message).toBe('Reading');
    const stored = await seenn.jobs.get(job.id);
    expect(stored).toMatchObject({ progress: 60, message: 'Reading', metadata: { file: 'a.csv', rows: 40 } });
    expect((await entriesOf('ann', job.id)).map(([event, data]) => [event, data['progress']])).toEqual([
      ['job.started', 0],
      ['job.progress', 10],
      ['job.progress', 42],
      ['job.progress', 60],
    ]);
  });

  it('validates like the worker: bad input is a coded error and writes nothing', async () => {
    const job = await seenn.jobs.start({ userId: 'ann', jobType: 'import', title: 'Import' });
    await job.setProgress(5, { metadata: { pad: 'x'.repeat(6_000) } });
    const before = await seenn.context.store.read('ann', job.id);
    expect((await codeOf(job.setProgress(101))).code).toBe('VALIDATION_ERROR');
    expect((await codeOf(job.setProgress(Number.NaN))).code).toBe('VALIDATION_ERROR');
    expect((await codeOf(job.setProgress(10, { stage: { name: 's', current: 4, total: 3 } }))).code).toBe(
      'VALIDATION_ERROR',
    );
    expect((await codeOf(job.setProgress(10, { unknown: 1 } as never))).code).toBe('VALIDATION_ERROR');
    // Each half fits; merged they do not.
    expect((await codeOf(job.setProgress(10, { metadata: { more: 'y'.repeat(6_000) } }))).code).toBe(
      'PAYLOAD_TOO_LARGE',
    );
    expect((await codeOf(job.complete({ result: { data: 42 as never } }))).code).toBe('VALIDATION_ERROR');
    expect((await codeOf(job.complete({ result: { url: 7 as never } }))).code).toBe('VALIDATION_ERROR');
    expect((await codeOf(job.complete({ result: { data: { blob: 'z'.repeat(110_000) } } }))).code).toBe(
      'PAYLOAD_TOO_LARGE',
    );
    expect((await codeOf(job.fail({ error: { code: 'X' } } as never))).code).toBe('VALIDATION_ERROR');
    expect(await seenn.context.store.read('ann', job.id)).toEqual(before);
  });

  it('completes and fails; a finished job never changes again (CONFLICT)', async () => {
    const job = await seenn.jobs.start({ userId: 'ann', jobType: 'render', title: 'Render' });
    await job.complete({ result: { type: 'video', url: 'https://cdn/x.mp4', data: { seconds: 12 } }, message: 'Done' });
    expect(job).toMatchObject({
      status: 'completed',
      progress: 100,
      message: 'Done',
      result: { type: 'video', url: 'https://cdn/x.mp4', data: { seconds: 12 } },
    });
    expect(job.completedAt).toBeDefined();
    const stored = await seenn.context.store.read('ann', job.id);
    for (const attempt of [
      job.setProgress(10),
      job.complete(),
      job.fail({ error: { code: 'E', message: 'e' } }),
      job.cancel(),
    ]) {
      expect(await codeOf(attempt)).toMatchObject({ code: 'CONFLICT', details: { id: job.id, status: 'completed' } });
    }
    expect(await seenn.context.store.read('ann', job.id)).toEqual(stored);

    const failing = await seenn.jobs.start({ userId: 'ann', jobType: 'render', title: 'Render 2' });
    await failing.setProgress(30);
    await failing.fail({
      error: { code: 'QUOTA', message: 'Out of credits', details: { plan: 'free' } },
      retryable: false,
    });
    expect(failing).toMatchObject({
      status: 'failed',
      progress: 30,
      error: { code: 'QUOTA', message: 'Out of credits', details: { plan: 'free', retryable: false } },
    });
    expect((await entriesOf('ann', failing.id)).map(([event]) => event)).toEqual([
      'job.started',
      'job.progress',
      'job.failed',
    ]);
  });

  it("takes the seed's queue object: a Seenn-only job whose position the backend supplies", async () => {
    const job = await seenn.jobs.start({
      userId: 'ann',
      jobType: 'gen',
      title: 'Generate',
      queue: { position: 3, total: 10, queueName: 'gpu' },
    });
    expect(job).toMatchObject({ status: 'pending', queue: { position: 3, total: 10, queueName: 'gpu' } });
    await job.setProgress(0, { queue: { position: 1, total: 9, queueName: 'gpu' } });
    expect((await seenn.jobs.get(job.id))?.queue).toEqual({ position: 1, total: 9, queueName: 'gpu' });
    await job.setProgress(50, { message: 'Generating' });
    expect(job.queue).toEqual({ position: 1, total: 9, queueName: 'gpu' });
    await job.complete();
    expect(job.queue).toBeUndefined();
  });

  it('takes an ETA: explicit, or from estimatedDuration', async () => {
    const at = new Date(Date.now() + 60_000);
    const explicit = await seenn.jobs.start({
      userId: 'ann',
      jobType: 'eta',
      title: 'Explicit',
      estimatedCompletionAt: at,
    });
    expect(explicit.estimatedCompletionAt).toBe(at.toISOString());
    const byDuration = await seenn.jobs.start({
      userId: 'ann',
      jobType: 'eta',
      title: 'Duration',
      estimatedDuration: 30_000,
    });
    expect(Date.parse(byDuration.estimatedCompletionAt ?? '') - Date.parse(byDuration.createdAt)).toBe(30_000);
    expect(byDuration).toMatchObject({ etaConfidence: 0.2, etaBasedOn: 0 });
    const later = new Date(Date.now() + 120_000).toISOString();
    await byDuration.setProgress(50, { estimatedCompletionAt: later });
    expect(byDuration.estimatedCompletionAt).toBe(later);
    expect(byDuration.etaConfidence).toBeUndefined();
  });

  it('gives a handle for an existing job in another process (seenn.jobs.handle)', async () => {
    const job = await seenn.jobs.start({ userId: 'ann', jobType: 'sync', title: 'Sync' });
    const handle = other.jobs.handle(job.id);
    expect(handle.status).toBeUndefined();
    await handle.setProgress(25, { message: 'Elsewhere' });
    expect(handle).toMatchObject({ id: job.id, status: 'running', progress: 25, message: 'Elsewhere' });
    await job.refresh();
    expect(job).toMatchObject({ status: 'running', progress: 25, message: 'Elsewhere' });
    expect(await codeOf(other.jobs.handle('01NOSUCHJOB0000000000000000').refresh())).toMatchObject({
      code: 'NOT_FOUND',
      details: { id: '01NOSUCHJOB0000000000000000' },
    });
    expect(await codeOf(other.jobs.handle('01NOSUCHJOB0000000000000000').setProgress(1))).toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('refuses setProgress/complete/fail on a job a BullMQ worker drives; refresh works', async () => {
    const job = await seenn.jobs.start({ queue: 'driven', userId: 'ann', jobType: 'render', title: 'Driven' });
    expect(job.status).toBe('queued');
    for (const attempt of [job.setProgress(10), job.complete(), job.fail({ error: { code: 'E', message: 'e' } })]) {
      expect(await codeOf(attempt)).toMatchObject({ code: 'CONFLICT', details: { reason: 'worker-driven' } });
    }
    await job.refresh();
    expect(job.status).toBe('queued');
    expect(job.queue).toMatchObject({ position: 1, queueName: 'driven' });
  });
});

describe('Seenn-only batches', () => {
  it("runs the seed's createBatch with childTitles: children driven by handles, the parent completes by itself", async () => {
    const { parent, children } = await seenn.jobs.createBatch({
      userId: 'bea',
      jobType: 'thumbs',
      parentTitle: 'Thumbnails',
      childTitles: ['a', 'b', 'c', 'd', 'e'],
    });
    expect(parent).toMatchObject({
      status: 'pending',
      progress: 0,
      children: { total: 5, completed: 0, failed: 0, running: 0, pending: 5 },
      childProgressMode: 'average',
    });
    expect(children.map((child) => [child.title, child.parent?.childIndex, child.status])).toEqual([
      ['a', 0, 'pending'],
      ['b', 1, 'pending'],
      ['c', 2, 'pending'],
      ['d', 3, 'pending'],
      ['e', 4, 'pending'],
    ]);
    await Promise.all(children.map((child) => child.setProgress(50)));
    const [a, b, c, d] = children as [
      (typeof children)[0],
      (typeof children)[0],
      (typeof children)[0],
      (typeof children)[0],
    ];
    await Promise.all([a, b, c].map((child) => child.complete({ result: { url: `https://cdn/${child.title}.png` } })));
    await d.setProgress(45);
    const middle = await seenn.jobs.getWithChildren(parent.id);
    // average: (100 + 100 + 100 + 45 + 50) / 5 = 79
    expect(middle?.parent.progress).toBe(79);
    const e = children[4];
    if (e === undefined) throw new Error('five children');
    // The seed's 69 %: children at 100, 100, 100, 45 and 0.
    const fresh = await seenn.jobs.createBatch({
      userId: 'bea',
      jobType: 'thumbs',
      parentTitle: 'Again',
      childTitles: ['a', 'b', 'c', 'd', 'e'],
    });
    const kids = fresh.children;
    await Promise.all(kids.slice(0, 3).map((child) => child.complete()));
    await kids[3]?.setProgress(45);
    const view = await seenn.jobs.getWithChildren(fresh.parent.id);
    expect(view?.parent.progress).toBe(69);
    expect(view?.parent.status).toBe('running');
    expect(view?.childProgress).toEqual({ completed: 3, failed: 0, running: 1, pending: 1 });
    expect(view?.parent.childProgress).toEqual({ completed: 3, failed: 0, running: 1, pending: 1 });
    expect(Object.keys(view?.parent ?? {})).not.toContain('childProgress');
    expect(view?.children.map((child) => child.progress)).toEqual([100, 100, 100, 45, 0]);

    await d.complete();
    await e.complete();
    const done = await seenn.jobs.get(parent.id);
    expect(done).toMatchObject({
      status: 'completed',
      progress: 100,
      children: { total: 5, completed: 5, failed: 0, running: 0, pending: 0 },
    });
  });

  it('runs createParent / createChild without a queue', async () => {
    const parent = await seenn.jobs.createParent({
      userId: 'bea',
      jobType: 'upload',
      title: 'Uploads',
      childCount: 2,
      childProgressMode: 'sequential',
    });
    const first = await seenn.jobs.createChild({
      parentJobId: parent.id,
      childIndex: 0,
      jobType: 'upload',
      title: 'One',
    });
    expect(first).toMatchObject({
      status: 'pending',
      userId: 'bea',
      parent: { parentJobId: parent.id, childIndex: 0 },
    });
    expect(
      await codeOf(
        seenn.jobs.createChild({ parentJobId: parent.id, childIndex: 0, jobType: 'upload', title: 'Again' }),
      ),
    ).toMatchObject({ code: 'CONFLICT' });
    expect(
      await codeOf(seenn.jobs.createChild({ parentJobId: parent.id, childIndex: 2, jobType: 'upload', title: 'Out' })),
    ).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(
      await codeOf(
        seenn.jobs.createChild({
          parentJobId: parent.id,
          childIndex: 1,
          jobType: 'upload',
          title: 'Data',
          data: { x: 1 },
        }),
      ),
    ).toMatchObject({ code: 'VALIDATION_ERROR' });
    const second = await seenn.jobs.createChild({
      parentJobId: parent.id,
      childIndex: 1,
      jobType: 'upload',
      title: 'Two',
    });
    await first.complete();
    expect((await seenn.jobs.get(parent.id))?.progress).toBe(50);
    await second.fail({ error: { code: 'BROKEN', message: 'broken file' } });
    expect(await seenn.jobs.get(parent.id)).toMatchObject({ status: 'failed', error: { code: 'CHILD_JOB_FAILED' } });
  });
});

describe('cancelling Seenn-only jobs', () => {
  it('cancels a job with a reason; a finished job answers CONFLICT and an unknown one NOT_FOUND', async () => {
    const job = await seenn.jobs.start({ userId: 'cy', jobType: 'x', title: 'To cancel' });
    await job.setProgress(20);
    const cancelled = await seenn.jobs.cancel(job.id, { reason: 'User changed their mind' });
    expect(cancelled).toMatchObject({ status: 'cancelled', message: 'User changed their mind', progress: 20 });
    expect(cancelled.completedAt).toBeDefined();
    expect((await entriesOf('cy', job.id)).map(([event]) => event)).toEqual([
      'job.started',
      'job.progress',
      'job.cancelled',
    ]);
    expect(await codeOf(seenn.jobs.cancel(job.id))).toMatchObject({
      code: 'CONFLICT',
      details: { status: 'cancelled' },
    });
    expect(await codeOf(job.cancel())).toMatchObject({ code: 'CONFLICT' });
    expect(await codeOf(seenn.jobs.cancel('01NOSUCHJOB0000000000000000'))).toMatchObject({
      code: 'NOT_FOUND',
      details: { id: '01NOSUCHJOB0000000000000000' },
    });
    expect(await codeOf(seenn.jobs.cancel(job.id, { reason: 5 } as never))).toMatchObject({ code: 'VALIDATION_ERROR' });
  });

  it('cancels a parent and its unfinished children (the parent ends cancelled, not failed)', async () => {
    const { parent, children } = await seenn.jobs.createBatch({
      userId: 'cy',
      jobType: 'b',
      parentTitle: 'Batch',
      childTitles: ['a', 'b', 'c'],
    });
    await children[0]?.complete();
    await children[1]?.setProgress(30);
    await parent.cancel({ reason: 'stop' });
    expect(parent.status).toBe('cancelled');
    const view = await seenn.jobs.getWithChildren(parent.id);
    expect(view?.parent.status).toBe('cancelled');
    expect(view?.children.map((child) => child.status)).toEqual(['completed', 'cancelled', 'cancelled']);
    expect(view?.children[1]?.message).toBe('stop');
  });
});
