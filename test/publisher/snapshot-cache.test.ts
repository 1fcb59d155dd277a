/**
 * The publisher's snapshot cache (`src/publisher/snapshot-cache.ts`) may hold a snapshot someone else
 * moved since. A commit decided on it is version-checked; a decision NOT to commit is not. This pins
 * why that is safe for the most plausible writers outside a job's own events: a cancel through a
 * handle between two events of a running BullMQ job, and the children of a flow parent applied by
 * another publisher (another partition, queue or process). The events are applied by the publisher's own code
 * (`applyJobEvents`), driven one by one against real Redis and BullMQ, so the stale entry is there for
 * certain when they run.
 */
import { FlowProducer, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SourceEvent } from '../../src/model/source-event.js';
import { Seenn } from '../../src/index.js';
import { applyJobEvents } from '../../src/publisher/apply-event.js';
import { JobResolver } from '../../src/publisher/job-resolver.js';
import { QueueEffects } from '../../src/publisher/queue-effects.js';
import { SnapshotCache } from '../../src/publisher/snapshot-cache.js';
import { describeByData } from './harness-describe.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';

const QUEUE = 'cached';

describe('a decision not to commit, made on a stale cached snapshot (real Redis and BullMQ)', () => {
  const prefix = uniquePrefix('snapcache');
  let redis: Redis;
  let seenn: Seenn;
  let worker: Worker;

  beforeAll(() => {
    redis = connect();
    seenn = new Seenn({ connection: redis, prefix });
    worker = new Worker(QUEUE, null, { connection: connect(), prefix, autorun: false });
  });

  afterAll(async () => {
    await worker.close();
    await seenn.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('a cancel through a handle between two events of a running job: the events after it change nothing, whatever the cache holds', async () => {
    const ctx = seenn.context;
    const { store } = ctx;
    const snapshots = new SnapshotCache(store);
    const resolver = new JobResolver(ctx, QUEUE, null, (error) => {
      throw error;
    });
    const started = await seenn.jobs.start({ queue: QUEUE, userId: 'u1', jobType: 'render', title: 'Render' });
    const jobId = started.id;
    const bull = await worker.getNextJob('token');
    expect(bull?.id).toBe(jobId);
    let seq = 0;
    const t0 = Date.now();
    /** Applies `events` to the job as one read of the publisher would, with ids after every earlier one. */
    const apply = async (...events: SourceEvent[]): Promise<void> => {
      const effects = new QueueEffects(ctx, QUEUE);
      const jobEvents = events.map((event) => ({ id: `${t0}-${(seq += 1)}`, event }));
      await applyJobEvents(ctx, QUEUE, resolver, snapshots, jobId, jobEvents, effects);
      await effects.flush();
    };
    const progress = (value: number): SourceEvent => ({ kind: 'progress', at: Date.now(), data: value });

    // The publisher applies `active` and a progress of 50, and caches what it wrote.
    await apply({ kind: 'active', at: Date.now() }, progress(50));
    const cached = await snapshots.read('u1', jobId);
    expect(cached?.record.job).toMatchObject({ status: 'running', progress: 50 });
    expect(await store.read('u1', jobId)).toEqual(cached);

    // The backend cancels the job through its handle: the store moves on, the cache does not.
    await seenn.jobs.handle(jobId).cancel({ reason: 'changed my mind' });
    const cancelled = await store.read('u1', jobId);
    expect(cancelled?.record.job.status).toBe('cancelled');
    expect(cancelled?.version).toBe((cached?.version ?? 0) + 1);
    // The cancel keeps the applied source id (a write without one never moves it).
    expect(cancelled?.src).toBe(cached?.src);
    expect(await snapshots.read('u1', jobId)).toEqual(cached);
    const entriesAfterCancel = await store.readStream('u1', '0-0', 1_000);
    expect(entriesAfterCancel.at(-1)?.event).toBe('job.cancelled');

    // The same progress again: a no-op on the cached snapshot, decided without any version check. On
    // the stored one it is a no-op too (a cancelled job is final), so nothing is lost.
    await apply(progress(50));
    expect(await store.read('u1', jobId)).toEqual(cancelled);
    expect(await snapshots.read('u1', jobId)).toEqual(cached);
    // A change on the cached snapshot: its commit meets the moved version, and the fresh read ends it.
    await apply(progress(80));
    expect(await store.read('u1', jobId)).toEqual(cancelled);
    expect((await snapshots.read('u1', jobId))?.version).toBe(cancelled?.version);
    // BullMQ reports the end of the aborted attempt: still nothing.
    await apply({ kind: 'failed', at: Date.now(), reason: 'changed my mind' });
    await apply({ kind: 'completed', at: Date.now(), returnvalue: null });

    // The user saw the job cancelled, and nothing after it: no event lost, none duplicated.
    expect(await store.read('u1', jobId)).toEqual(cancelled);
    expect(await store.readStream('u1', '0-0', 1_000)).toEqual(entriesAfterCancel);
    expect((await seenn.jobs.get(jobId))?.status).toBe('cancelled');
  });

  it("a flow parent whose children another publisher moves: the parent's own events on the stale cached parent end where fresh reads would", async () => {
    const ctx = seenn.context;
    const { store } = ctx;
    const flows = new FlowProducer({ connection: redis, prefix });
    try {
      await flows.add({
        name: 'parent',
        queueName: 'par',
        data: { userId: 'u2', title: 'Parent' },
        opts: { jobId: 'p1' },
        children: ['c1', 'c2'].map((id) => ({
          name: 'child',
          queueName: 'kid',
          data: { userId: 'u2', title: id },
          opts: { jobId: id },
        })),
      });
    } finally {
      await flows.close();
    }
    const fail = (error: unknown): never => {
      throw error;
    };
    // Publisher A holds the parent's partition; publisher B (another process) the children's.
    const a = { snapshots: new SnapshotCache(store), resolver: new JobResolver(ctx, 'par', describeByData, fail) };
    const b = { snapshots: new SnapshotCache(store), resolver: new JobResolver(ctx, 'kid', describeByData, fail) };
    let seq = 0;
    const t0 = Date.now();
    const apply = async (on: typeof a, queueName: string, bullId: string, ...events: SourceEvent[]): Promise<void> => {
      const effects = new QueueEffects(ctx, queueName);
      const jobEvents = events.map((event) => ({ id: `${t0}-${(seq += 1)}`, event }));
      await applyJobEvents(ctx, queueName, on.resolver, on.snapshots, bullId, jobEvents, effects);
      await effects.flush();
    };
    const at = (): number => Date.now();
    const parentId = (await a.resolver.resolve('p1'))?.seennId as string;

    await apply(a, 'par', 'p1', { kind: 'waiting-children', at: at() });
    const cached = await a.snapshots.read('u2', parentId);
    expect(cached?.record.job).toMatchObject({ status: 'pending', progress: 0 });
    // B applies the children's first events: the parent runs (one child at 50 of 2: 25), A's entry is stale.
    await apply(b, 'kid', 'c1', { kind: 'waiting', at: at() });
    await apply(b, 'kid', 'c2', { kind: 'waiting', at: at() });
    await apply(b, 'kid', 'c1', { kind: 'active', at: at() });
    await apply(b, 'kid', 'c1', { kind: 'progress', at: at(), data: 50 });
    const moved = await store.read('u2', parentId);
    expect(moved?.record.job).toMatchObject({ status: 'running', progress: 25 });
    expect(await a.snapshots.read('u2', parentId)).toEqual(cached);

    // A no-op on A's stale parent (BullMQ reports it waiting for its children again): a no-op on the stored one too.
    await apply(a, 'par', 'p1', { kind: 'waiting-children', at: at() });
    expect(await store.read('u2', parentId)).toEqual(moved);

    // The children finish (B); BullMQ releases the parent and runs it (A, its entry still stale).
    for (const id of ['c1', 'c2']) {
      if (id === 'c2') await apply(b, 'kid', id, { kind: 'active', at: at() });
      await apply(b, 'kid', id, { kind: 'completed', at: at(), returnvalue: null });
    }
    const released = await store.read('u2', parentId);
    expect(released?.record.job).toMatchObject({ status: 'running', progress: 100 });
    expect(await a.snapshots.read('u2', parentId)).toEqual(cached);
    await apply(a, 'par', 'p1', { kind: 'waiting', at: at(), prev: 'waiting-children' });
    await apply(a, 'par', 'p1', { kind: 'active', at: at() });
    await apply(a, 'par', 'p1', { kind: 'completed', at: at(), returnvalue: { ok: true } });
    const parent = await seenn.jobs.get(parentId);
    expect(parent).toMatchObject({
      status: 'completed',
      progress: 100,
      result: { ok: true },
      children: { total: 2, completed: 2, failed: 0, running: 0, pending: 0 },
    });
    // The user saw the parent move forward only: pending, running (its children), completed.
    const statuses = (await store.readStream('u2', '0-0', 1_000))
      .filter((entry) => entry.event.startsWith('job.'))
      .map((entry) => JSON.parse(entry.data) as { id: string; status: string })
      .filter((job) => job.id === parentId)
      .map((job) => job.status);
    expect(statuses).toEqual(['pending', 'running', 'completed']);
  });
});
