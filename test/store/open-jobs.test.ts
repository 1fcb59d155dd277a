/**
 * The unfinished-job index (`keys.openJobs`): the commit script keeps it beside the user's job index,
 * writing it only when a job's openness changes (its snapshot's `o` field says whether the index holds
 * it), and `JobStore.listOpen` reads the user's unfinished jobs from it without touching the finished
 * ones. Real Redis.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord } from '../../src/model/record.js';
import type { JobStore } from '../../src/store/job-store.js';
import type { SeennKeys } from '../../src/store/keys.js';
import { dropExpiredCall } from '../../src/store/lua/drop-expired.js';
import { runCall } from '../../src/store/scripts.js';
import { openStoreBed, queuedRecord as queued, sortedSetPairs, type StoreBed } from '../helpers/store-bed.js';

let bed: StoreBed;
let redis: Redis;
let store: JobStore;
let keys: SeennKeys;

function withStatus(record: JobRecord, status: 'running' | 'completed'): JobRecord {
  const at = new Date(Date.parse(record.job.createdAt) + 1_000).toISOString();
  return {
    ...record,
    job: {
      ...record.job,
      status,
      updatedAt: at,
      ...(status === 'completed' ? { progress: 100, completedAt: at } : { progress: 50, startedAt: at }),
    },
  };
}

/** The index as [id, score] pairs, newest first. */
function openIndex(userId: string): Promise<[string, number][]> {
  return sortedSetPairs(redis, keys.openJobs(userId), 'desc');
}

beforeAll(() => {
  bed = openStoreBed('open-jobs');
  ({ redis, keys, store } = bed);
});

afterAll(() => bed.close());

describe('the unfinished-job index', () => {
  it('holds a job from its first write until it finishes, scored by creation time, and is written only when that changes', async () => {
    const user = 'life';
    const created = queued('j1', 1_000, user);
    expect((await store.commit(user, [{ expectedVersion: 0, record: created, index: true }])).status).toBe('ok');
    expect(await openIndex(user)).toEqual([['j1', 1_000]]);
    expect(await redis.hget(keys.job(user, 'j1'), 'o')).toBe('1');
    expect(await redis.pttl(keys.openJobs(user))).toBeGreaterThan(0);

    // A change that leaves the job unfinished does not write the index: an entry taken out by hand
    // stays out (the snapshot still says the index holds it).
    await redis.zrem(keys.openJobs(user), 'j1');
    const running = withStatus(created, 'running');
    expect((await store.commit(user, [{ expectedVersion: 1, src: '5-0', record: running }])).status).toBe('ok');
    expect(await openIndex(user)).toEqual([]);
    await redis.zadd(keys.openJobs(user), 1_000, 'j1');

    const done = withStatus(created, 'completed');
    expect((await store.commit(user, [{ expectedVersion: 2, src: '6-0', record: done }])).status).toBe('ok');
    expect(await openIndex(user)).toEqual([]);
    expect(await redis.hget(keys.job(user, 'j1'), 'o')).toBe('0');
    // The user's job index still lists it.
    expect(await redis.zrange(keys.userJobs(user), 0, -1)).toEqual(['j1']);
  });

  it('adds an unfinished job whose snapshot predates the index at its next write', async () => {
    const user = 'legacy';
    const created = queued('old', 2_000, user);
    await store.commit(user, [{ expectedVersion: 0, record: created, index: true }]);
    // What a snapshot written before the index existed looks like: no `o`, not in the index.
    await redis.hdel(keys.job(user, 'old'), 'o');
    await redis.del(keys.openJobs(user));
    expect(await store.listOpen(user, 10)).toEqual([]);

    await store.commit(user, [{ expectedVersion: 1, src: '7-0', record: withStatus(created, 'running') }]);
    expect(await openIndex(user)).toEqual([['old', 2_000]]);
    expect((await store.listOpen(user, 10)).map((record) => record.job.id)).toEqual(['old']);
  });

  it('never lists a job created finished, and a commit of several jobs indexes each by its own state', async () => {
    const user = 'mixed';
    const finished = withStatus(queued('f1', 3_000, user), 'completed');
    const open = queued('o1', 3_001, user);
    expect(
      (
        await store.commit(user, [
          { expectedVersion: 0, record: finished, index: true },
          { expectedVersion: 0, record: open, index: true },
        ])
      ).status,
    ).toBe('ok');
    expect(await openIndex(user)).toEqual([['o1', 3_001]]);
    expect(await redis.hget(keys.job(user, 'f1'), 'o')).toBe('0');
  });

  it('listOpen reads the newest unfinished jobs only, whatever the history, and drops ids whose snapshot expired', async () => {
    const user = 'history';
    // Two unfinished jobs, then 30 newer finished ones.
    for (const [id, at] of [
      ['q1', 10_000],
      ['q2', 10_001],
      ['q3', 10_002],
    ] as const)
      await store.commit(user, [{ expectedVersion: 0, record: queued(id, at, user), index: true }]);
    for (let i = 0; i < 30; i += 1)
      await store.commit(user, [
        { expectedVersion: 0, record: withStatus(queued(`f${i}`, 20_000 + i, user), 'completed'), index: true },
      ]);
    expect((await store.listOpen(user, 10)).map((record) => record.job.id)).toEqual(['q3', 'q2', 'q1']);
    expect((await store.listOpen(user, 2)).map((record) => record.job.id)).toEqual(['q3', 'q2']);

    // A snapshot gone (expired): left out, and its id leaves the index.
    await redis.del(keys.job(user, 'q2'));
    expect((await store.listOpen(user, 10)).map((record) => record.job.id)).toEqual(['q3', 'q1']);
    expect((await openIndex(user)).map(([id]) => id)).toEqual(['q3', 'q1']);
  });

  it('keeps an id a read found expired when a job with that id was created since (dropExpired)', async () => {
    const user = 'reused';
    for (const [id, createdAt] of [
      ['r1', 30_000],
      ['r2', 30_001],
    ] as const)
      await store.commit(user, [{ expectedVersion: 0, record: queued(id, createdAt, user), index: true }]);
    // Both were read as expired; r1's id was then used again by a new job (its snapshot exists).
    await redis.del(keys.job(user, 'r2'));
    const removed = await runCall(
      redis,
      dropExpiredCall(keys.openJobs(user), [
        { id: 'r1', snapshot: keys.job(user, 'r1') },
        { id: 'r2', snapshot: keys.job(user, 'r2') },
      ]),
    );
    expect(removed).toBe(1);
    expect((await openIndex(user)).map(([id]) => id)).toEqual(['r1']);
  });
});
