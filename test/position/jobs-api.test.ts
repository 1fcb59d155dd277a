import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecord, reduce, type BullJobFacts } from '../../src/model/reducer.js';
import { rankIndexKeys } from '../../src/position/lookup.js';
import type { JobRecord } from '../../src/model/record.js';
import { Seenn } from '../../src/seenn.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('posapi');
let redis: Redis;
let seenn: Seenn;
let queue: Queue;

async function store(record: JobRecord): Promise<void> {
  await seenn.context.store.claimOwner(record.job.id, record.job.userId);
  expect(
    (await seenn.context.store.commit(record.job.userId, [{ expectedVersion: 0, record, index: true }])).status,
  ).toBe('ok');
}

function record(id: string, state: BullJobFacts['state'], createdAtMs: number): JobRecord {
  return createRecord(
    id,
    'default',
    { userId: 'ann', jobType: 'render', title: id },
    { queueName: 'api', bullId: id, createdAtMs, maxAttempts: 1, state },
  );
}

beforeAll(async () => {
  redis = connect();
  seenn = new Seenn({ connection: redis, prefix });
  queue = new Queue('api', { connection: redis, prefix });
  await queue.add('render', {}, { jobId: 'plain1' });
  await queue.add('render', {}, { jobId: 'prio', priority: 1 });
  await queue.add('render', {}, { jobId: 'plain2' });
  await queue.add('render', {}, { jobId: 'front', lifo: true });
  await queue.add('render', {}, { jobId: 'later', delay: 60_000 });
  const t = Date.now();
  await store(record('plain1', 'waiting', t));
  await store(record('prio', 'prioritized', t + 1));
  await store(record('plain2', 'waiting', t + 2));
  await store(record('front', 'waiting', t + 3));
  await store(record('later', 'delayed', t + 4));
  // A job the store still has as queued while BullMQ already runs it (the publisher lags): no position.
  await store(record('gone', 'waiting', t + 5));
  await store(reduce(record('ran', 'waiting', t + 6), { kind: 'active', at: t + 7 }));
});

afterAll(async () => {
  await queue.close();
  await seenn.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('seenn.jobs.get / list with positions', () => {
  it('gives queued jobs their position (LIFO first, priority 0 before priorities) and no one else', async () => {
    expect((await seenn.jobs.get('front'))?.queue).toEqual({ position: 1, total: 4, queueName: 'api' });
    expect((await seenn.jobs.get('plain1'))?.queue).toEqual({ position: 2, total: 4, queueName: 'api' });
    expect((await seenn.jobs.get('plain2'))?.queue).toEqual({ position: 3, total: 4, queueName: 'api' });
    expect((await seenn.jobs.get('prio'))?.queue).toEqual({ position: 4, total: 4, queueName: 'api' });
    const later = await seenn.jobs.get('later');
    expect(later?.status).toBe('pending');
    expect(later?.queue).toBeUndefined();
    expect((await seenn.jobs.get('gone'))?.queue).toBeUndefined();
    expect((await seenn.jobs.get('ran'))?.queue).toBeUndefined();
    expect(await seenn.jobs.get('nope')).toBeNull();

    const page = await seenn.jobs.list('ann', { limit: 100 });
    const byId = new Map(page.jobs.map((job) => [job.id, job.queue?.position]));
    expect(Object.fromEntries(byId)).toEqual({
      front: 1,
      plain1: 2,
      plain2: 3,
      prio: 4,
      later: undefined,
      gone: undefined,
      ran: undefined,
    });
    // Nothing derived is ever written back.
    expect((await seenn.context.store.read('ann', 'front'))?.record.job.queue).toBeUndefined();
  });

  it('follows the queue: a new plain job pushes the prioritized one back, a rate limit shows', async () => {
    await queue.add('render', {}, { jobId: 'plain3' });
    expect((await seenn.jobs.get('prio'))?.queue).toEqual({ position: 5, total: 5, queueName: 'api' });
    await queue.rateLimit(60_000);
    expect((await seenn.jobs.get('front'))?.queue).toEqual({
      position: 1,
      total: 5,
      queueName: 'api',
      state: 'rate-limited',
    });
    await queue.removeRateLimitKey();
    expect((await seenn.jobs.get('front'))?.queue).toEqual({ position: 1, total: 5, queueName: 'api' });
  });

  it('takes its position options from new Seenn({ positions }): rankIndex false writes nothing; bad ones are CONFIG_INVALID', async () => {
    const plain = new Seenn({ connection: redis, prefix, positions: { rankIndex: false } });
    try {
      await redis.del(...rankIndexKeys(prefix, 'api'));
      expect((await plain.jobs.get('front'))?.queue?.position).toBe(1);
      expect((await plain.jobs.get('prio'))?.queue).toMatchObject({ queueName: 'api' });
      expect(await redis.exists(...rankIndexKeys(prefix, 'api'))).toBe(0);
      // The default keeps the index: the same read builds it.
      expect((await seenn.jobs.get('prio'))?.queue).toMatchObject({ queueName: 'api' });
      expect(await redis.exists(...rankIndexKeys(prefix, 'api'))).toBeGreaterThan(0);
    } finally {
      await plain.close();
    }
    expect(() => new Seenn({ connection: redis, prefix, positions: { scanLimit: -1 } })).toThrowError(
      expect.objectContaining({ code: 'CONFIG_INVALID' }) as Error,
    );
    expect(() => new Seenn({ connection: redis, prefix, positions: { nope: true } as never })).toThrowError(
      expect.objectContaining({ code: 'CONFIG_INVALID' }) as Error,
    );
  });
});
