/**
 * The finished-job index (`keys.finishedJobs`): the commit script adds a job when it stops being
 * unfinished (scored by when it finished) and takes it out when it starts again; its member `''` says
 * since when the index holds every finished job, and `JobStore.syncIds` answers from it only that far
 * back. Real Redis.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord } from '../../src/model/record.js';
import { JobStore, RETENTION_DEFAULTS } from '../../src/store/job-store.js';
import type { SeennKeys } from '../../src/store/keys.js';
import { openStoreBed, queuedRecord as queued, sortedSetPairs, type StoreBed } from '../helpers/store-bed.js';

let bed: StoreBed;
let redis: Redis;
let store: JobStore;
let keys: SeennKeys;

/** `record` at `atMs`: running, or completed then. */
function at(record: JobRecord, status: 'running' | 'completed', atMs: number): JobRecord {
  const iso = new Date(atMs).toISOString();
  const { completedAt: _completedAt, ...job } = record.job;
  return {
    ...record,
    job: {
      ...job,
      status,
      updatedAt: iso,
      ...(status === 'completed' ? { progress: 100, completedAt: iso } : { progress: 50, startedAt: iso }),
    },
  };
}

/** The index as [member, score] pairs, lowest score first ('' is the "complete since" member). */
function finishedIndex(userId: string): Promise<[string, number][]> {
  return sortedSetPairs(redis, keys.finishedJobs(userId), 'asc');
}

beforeAll(() => {
  bed = openStoreBed('finished-jobs');
  ({ redis, keys, store } = bed);
});

afterAll(() => bed.close());

describe('the finished-job index', () => {
  it('holds a job from its end, scored by when it finished, and lets it go when it runs again', async () => {
    const user = 'life';
    const created = queued('j1', 1_000, user);
    expect((await store.commit(user, [{ expectedVersion: 0, record: created, index: true }])).status).toBe('ok');
    // A user with no job index before this commit: nothing can be missing, the index is complete since 0.
    expect(await finishedIndex(user)).toEqual([['', 0]]);
    expect(await redis.pttl(keys.finishedJobs(user))).toBeGreaterThan(0);

    await store.commit(user, [{ expectedVersion: 1, src: '5-0', record: at(created, 'completed', 4_000) }]);
    expect(await finishedIndex(user)).toEqual([
      ['', 0],
      ['j1', 4_000],
    ]);
    // Retried: unfinished again, so out of this index and back in the other.
    await store.commit(user, [{ expectedVersion: 2, src: '6-0', record: at(created, 'running', 5_000) }]);
    expect(await finishedIndex(user)).toEqual([['', 0]]);
    expect(await redis.zrange(keys.openJobs(user), 0, -1)).toEqual(['j1']);
    await store.commit(user, [{ expectedVersion: 3, src: '7-0', record: at(created, 'completed', 9_000) }]);
    expect(await finishedIndex(user)).toEqual([
      ['', 0],
      ['j1', 9_000],
    ]);
  });

  it('is trusted only activeJobSeconds after its first write for a user whose jobs were written before it existed', async () => {
    const user = 'legacy';
    await store.commit(user, [{ expectedVersion: 0, record: queued('old', 2_000, user), index: true }]);
    // What a user written before the index existed looks like: a job index, no finished-job index.
    await redis.del(keys.finishedJobs(user));
    const before = Date.now();
    await store.commit(user, [{ expectedVersion: 0, record: queued('new', 3_000, user), index: true }]);
    const after = Date.now();
    const [[member, since] = ['none', Number.NaN]] = await finishedIndex(user);
    expect(member).toBe('');
    // The server's clock plus activeJobSeconds (a job an older writer left unfinished may be missing
    // from the unfinished-job index until it changes or expires), within a second of this process's.
    const activeJobMs = RETENTION_DEFAULTS.activeJobSeconds * 1000;
    expect(since).toBeGreaterThanOrEqual(before + activeJobMs - 1_000);
    expect(since).toBeLessThanOrEqual(after + activeJobMs + 1_000);
    // It lives until its first trim, which cannot come before that instant plus an eighth of replaySeconds.
    expect(await redis.pttl(keys.finishedJobs(user))).toBeGreaterThan(
      activeJobMs + RETENTION_DEFAULTS.replaySeconds * 1000,
    );
    // Asked for jobs finished before that instant, the index does not answer (the caller reads the list).
    expect(await store.syncIds(user, since - 1, 10)).toBeNull();
    expect(await store.syncIds(user, since, 10)).toEqual({ open: ['new', 'old'], finished: [] });
    // Without the index at all, neither.
    await redis.del(keys.finishedJobs(user));
    expect(await store.syncIds(user, since, 10)).toBeNull();
  });

  it('syncIds answers nothing to sync for a user without jobs', async () => {
    expect(await store.syncIds('nobody', Date.now() - 60_000, 10)).toEqual({ open: [], finished: [] });
  });

  it('syncIds lists the unfinished jobs and those finished since the instant asked, up to the limit of each', async () => {
    const user = 'window';
    for (let i = 0; i < 3; i += 1)
      await store.commit(user, [{ expectedVersion: 0, record: queued(`open-${i}`, 10_000 + i, user), index: true }]);
    // Five jobs finished at 20,000 … 24,000.
    for (let i = 0; i < 5; i += 1)
      await store.commit(user, [
        {
          expectedVersion: 0,
          record: at(queued(`done-${i}`, 11_000 + i, user), 'completed', 20_000 + i * 1_000),
          index: true,
        },
      ]);
    expect(await store.syncIds(user, 22_000, 10)).toEqual({
      open: ['open-2', 'open-1', 'open-0'],
      finished: ['done-4', 'done-3', 'done-2'],
    });
    expect(await store.syncIds(user, 0, 2)).toEqual({ open: ['open-2', 'open-1'], finished: ['done-4', 'done-3'] });

    // readIndexed: in order; an expired snapshot is left out and its id leaves its own index.
    await redis.del(keys.job(user, 'done-3'), keys.job(user, 'open-1'));
    const read = await store.readIndexed(user, [
      { id: 'open-2', index: 'open' },
      { id: 'open-1', index: 'open' },
      { id: 'done-4', index: 'finished' },
      { id: 'done-3', index: 'finished' },
    ]);
    expect(read.map((record) => record.job.id)).toEqual(['open-2', 'done-4']);
    expect(await store.syncIds(user, 22_000, 10)).toEqual({
      open: ['open-2', 'open-0'],
      finished: ['done-4', 'done-2'],
    });
  });

  it('drops entries older than the index TTL now and then, and says it is complete from that horizon', async () => {
    const user = 'trim';
    // The index lives replaySeconds (10 s here) after its last entry joined it.
    const short = new JobStore(redis, keys, { ...RETENTION_DEFAULTS, replaySeconds: 10 });
    const t = 1_000_000;
    await short.commit(user, [
      { expectedVersion: 0, record: at(queued('a', t - 1_000, user), 'completed', t), index: true },
    ]);
    // The first end moves '' (0 for a new user) up to that end's horizon, t - 10 s.
    expect(await finishedIndex(user)).toEqual([
      ['', t - 10_000],
      ['a', t],
    ]);
    // An end within an eighth of the TTL of the horizon trims nothing.
    await short.commit(user, [
      { expectedVersion: 0, record: at(queued('b', t, user), 'completed', t + 1_000), index: true },
    ]);
    expect((await finishedIndex(user)).map(([member]) => member)).toEqual(['', 'a', 'b']);
    // 25 s later: the entries before its horizon (t + 15 s) go, and '' rises to it.
    await short.commit(user, [
      { expectedVersion: 0, record: at(queued('c', t + 20_000, user), 'completed', t + 25_000), index: true },
    ]);
    expect(await finishedIndex(user)).toEqual([
      ['', t + 15_000],
      ['c', t + 25_000],
    ]);
    // The index lives 1.25 × replaySeconds from its last trim.
    const ttl = await redis.pttl(keys.finishedJobs(user));
    expect(ttl).toBeGreaterThan(10_000);
    expect(ttl).toBeLessThanOrEqual(12_500);
    expect(await short.syncIds(user, t + 14_999, 10)).toBeNull();
    expect(await short.syncIds(user, t + 15_000, 10)).toEqual({ open: [], finished: ['c'] });
  });
});
