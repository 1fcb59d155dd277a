/**
 * The children index the `applyChanges` script keeps: a child's commit puts it in its parent's
 * sorted set (same user slot) at its `childIndex`, a second job at a taken index is refused
 * (`index-taken`) with nothing written, and the index lives as long as any job can.
 */
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { SeennJob } from '../../src/model/job.js';
import type { JobRecord } from '../../src/model/record.js';
import { JobStore, RETENTION_DEFAULTS } from '../../src/store/job-store.js';
import { SeennKeys, userTag } from '../../src/store/keys.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('kids');
const redis: Redis = connect();
const store = new JobStore(redis, new SeennKeys(prefix, 'default'), RETENTION_DEFAULTS);

afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
});

function childRecord(id: string, childIndex: number): JobRecord {
  const at = new Date().toISOString();
  const job: SeennJob = {
    id,
    jobId: id,
    appId: 'default',
    userId: 'u',
    jobType: 't',
    title: id,
    status: 'queued',
    progress: 0,
    createdAt: at,
    updatedAt: at,
    parent: { parentJobId: 'P', childIndex },
  };
  return { job, x: { attempt: 0, maxAttempts: 1 } };
}

describe('children index', () => {
  it('keeps children by childIndex, refuses a taken index and writes nothing then', async () => {
    for (const [id, index] of [
      ['c2', 2],
      ['c0', 0],
      ['c1', 1],
    ] as const) {
      expect(
        (await store.commit('u', [{ expectedVersion: 0, record: childRecord(id, index), index: true }])).status,
      ).toBe('ok');
    }
    expect(await store.childIds('u', 'P')).toEqual(['c0', 'c1', 'c2']);
    const ttl = await redis.pttl(store.keys.children('u', 'P'));
    expect(ttl).toBeGreaterThan((store.childrenTtlSeconds() - 60) * 1000);

    const streamBefore = await redis.xlen(store.keys.stream('u'));
    const answer = await store.commit('u', [
      {
        expectedVersion: 0,
        record: childRecord('intruder', 1),
        event: { name: 'job.started', data: '{}' },
        index: true,
      },
    ]);
    expect(answer).toEqual({ status: 'index-taken', jobId: 'intruder' });
    expect(await store.read('u', 'intruder')).toBeNull();
    expect(await redis.xlen(store.keys.stream('u'))).toBe(streamBefore);
    expect(await store.childIds('u', 'P')).toEqual(['c0', 'c1', 'c2']);

    // Rewriting a child at its own index is fine.
    expect(
      (
        await store.commit('u', [
          {
            expectedVersion: 1,
            record: { ...childRecord('c1', 1), job: { ...childRecord('c1', 1).job, status: 'running' } },
          },
        ])
      ).status,
    ).toBe('ok');
  });

  it('all keys of one commit share the user hash tag', () => {
    const tag = `{${userTag('u')}}`;
    for (const key of [
      store.keys.stream('u'),
      store.keys.userJobs('u'),
      store.keys.job('u', 'c0'),
      store.keys.children('u', 'P'),
    ])
      expect(key).toContain(tag);
  });
});
