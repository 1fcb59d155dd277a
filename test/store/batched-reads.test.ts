/**
 * The publisher's batched reads before it applies a read's events (issue 10): the owners of many jobs
 * (`JobStore.ownersOf`) and the snapshots of many jobs of many users (`JobStore.readEach`) answer in
 * the order asked, `null` for what does not exist, and on one Redis a MONITOR sees one MGET per 1,000
 * ids and no GET, and one HMGET per snapshot (sent in one pipeline); on a cluster run
 * (SEENN_TEST_CLUSTER=1, `.ci/run`) the same answers come per slot. `JobResolver.prefetchOwners` then lets `resolve` answer
 * without a round trip.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Seenn } from '../../src/seenn.js';
import { JobResolver } from '../../src/publisher/job-resolver.js';
import { newJobId } from '../../src/model/ids.js';
import type { JobStore } from '../../src/store/job-store.js';
import { connect, deletePrefix, redisClusterNodes, uniquePrefix, watchCommands } from '../helpers/redis.js';

const prefix = uniquePrefix('batched-reads');
const QUEUE = 'br';
let redis: Redis;
let seenn: Seenn;
let store: JobStore;

beforeAll(() => {
  redis = connect();
  seenn = new Seenn({ connection: redis, prefix });
  store = seenn.context.store;
});

afterAll(async () => {
  await seenn.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

/** The commands Redis ran on this test's keys while `fn` ran, by name (MONITOR; one Redis only). */
async function commandsDuring(fn: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const stop = await watchCommands(redis, ([command = '', key = '']) => {
    if (key.startsWith(`${prefix}:`)) seen.push(command.toLowerCase());
  });
  try {
    await fn();
  } finally {
    await stop();
  }
  return seen;
}

/** Starts `count` Seenn-only jobs of `userId`; their ids. */
async function startJobs(userId: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1)
    ids.push((await seenn.jobs.start({ queue: QUEUE, userId, jobType: 'render', title: `Job ${i}` })).id);
  return ids;
}

describe('batched reads', () => {
  it('answers the owners of many jobs in order, null for none, in one MGET per 1,000 ids on one Redis', async () => {
    const kim = await startJobs('kim', 3);
    const lee = await startJobs('lee', 2);
    const unknown = newJobId();
    const asked = [kim[0], lee[0], unknown, kim[1], lee[1], kim[2]] as string[];
    let owners: (string | null)[] = [];
    const read = async (): Promise<void> => {
      owners = await store.ownersOf(asked);
    };
    if (redisClusterNodes() === null) {
      expect(await commandsDuring(read)).toEqual(['mget']);
      // More ids than one MGET takes: one MGET per 1,000, answers still in order.
      const many = [...Array.from({ length: 2_400 }, () => newJobId()), kim[2] as string];
      let manyOwners: (string | null)[] = [];
      expect(
        await commandsDuring(async () => {
          manyOwners = await store.ownersOf(many);
        }),
      ).toEqual(['mget', 'mget', 'mget']);
      expect(manyOwners).toHaveLength(2_401);
      expect(manyOwners.slice(0, 2_400).every((owner) => owner === null)).toBe(true);
      expect(manyOwners[2_400]).toBe('kim');
    } else await read();
    expect(owners).toEqual(['kim', 'lee', null, 'kim', 'lee', 'kim']);
    expect(await store.ownersOf([])).toEqual([]);
  });

  it('reads the snapshots of jobs of several users in order, null for none, one HMGET each and nothing else', async () => {
    const ann = await startJobs('ann', 2);
    const bo = await startJobs('bo', 1);
    const asked = [
      { userId: 'bo', jobId: bo[0] as string },
      { userId: 'ann', jobId: ann[1] as string },
      { userId: 'ann', jobId: newJobId() },
      { userId: 'ann', jobId: ann[0] as string },
    ];
    let read: Awaited<ReturnType<JobStore['readEach']>> = [];
    const run = async (): Promise<void> => {
      read = await store.readEach(asked);
    };
    if (redisClusterNodes() === null) expect(await commandsDuring(run)).toEqual(['hmget', 'hmget', 'hmget', 'hmget']);
    else await run();
    expect(read.map((snapshot) => snapshot?.record.job.id ?? null)).toEqual([bo[0], ann[1], null, ann[0]]);
    expect(read.map((snapshot) => snapshot?.record.job.userId ?? null)).toEqual(['bo', 'ann', null, 'ann']);
    expect(read.every((snapshot) => snapshot === null || snapshot.version === 1)).toBe(true);
    expect(await store.readEach([])).toEqual([]);
  });

  it('lets the resolver answer jobs whose owners it fetched at once without another read', async () => {
    const ids = await startJobs('cy', 3);
    const resolver = new JobResolver(seenn.context, QUEUE, null, () => undefined);
    await resolver.prefetchOwners(ids);
    const resolve = async (): Promise<void> => {
      for (const id of ids) expect(await resolver.resolve(id)).toEqual({ seennId: id, userId: 'cy' });
    };
    if (redisClusterNodes() === null) expect(await commandsDuring(resolve)).toEqual([]);
    else await resolve();
  });
});
