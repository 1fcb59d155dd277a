/**
 * The publisher's snapshot cache (`src/publisher/snapshot-cache.ts`) may hold a snapshot someone else
 * moved since. A commit decided on it is version-checked; a decision NOT to commit is not. This pins
 * why that is safe for the most plausible writer outside the events stream: a cancel through a handle
 * between two events of a running BullMQ job. The events are applied by the publisher's own code
 * (`applyJobEvents`), driven one by one against real Redis and BullMQ, so the stale entry is there for
 * certain when they run.
 */
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SourceEvent } from '../../src/model/source-event.js';
import { Seenn } from '../../src/index.js';
import { applyJobEvents } from '../../src/publisher/apply-event.js';
import { JobResolver } from '../../src/publisher/job-resolver.js';
import { QueueEffects } from '../../src/publisher/queue-effects.js';
import { SnapshotCache } from '../../src/publisher/snapshot-cache.js';
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
});
