/**
 * A stale hint costs time, never a wrong answer: jobs whose hinted place in `wait` is out of date
 * (moved to `prioritized` or to the front by changePriority, or gone) are still placed exactly.
 * (Regression: a job moved from `wait` to `prioritized` was answered "position unknown".)
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lookupPositions } from '../../src/position/lookup.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';

const QUEUE = 'stale';
const prefix = uniquePrefix('stale');
let redis: Redis;
let queue: Queue;

beforeAll(() => {
  redis = connect();
  queue = new Queue(QUEUE, { connection: redis, prefix });
});

afterAll(async () => {
  await queue.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('hinted lookups with stale hints', () => {
  it('places a hinted job that moved to prioritized, to the front, or away', async () => {
    const jobs = await queue.addBulk(Array.from({ length: 6 }, (_, i) => ({ name: `j${i}`, data: {} })));
    const ids = jobs.map((job) => job.id as string);
    const first = await lookupPositions(
      redis,
      prefix,
      QUEUE,
      ids.map((bullId) => ({ bullId })),
      100_000,
    );
    expect(first.places.map((place) => ('position' in place ? place.position : null))).toEqual([1, 2, 3, 4, 5, 6]);
    const hints = first.places.map((place) => ('hint' in place ? place.hint : undefined));

    await jobs[1]?.changePriority({ priority: 2 }); // j1 leaves wait for prioritized
    await jobs[4]?.changePriority({ lifo: true }); // j4 jumps to the front of wait
    await jobs[2]?.remove(); // j2 is gone

    for (const subset of [[1], [1, 4], [0, 1, 2, 3, 4, 5]]) {
      const requests = subset.map((i) => {
        const hint = hints[i];
        return hint === undefined ? { bullId: ids[i] as string } : { bullId: ids[i] as string, hint };
      });
      const answer = await lookupPositions(redis, prefix, QUEUE, requests, 100_000);
      const got = Object.fromEntries(subset.map((i, k) => [i, answer.places[k]]));
      // Order now: j4 (front), j0, j3, j5, then prioritized j1.
      const expected: Record<number, unknown> = {
        0: { state: 'waiting', position: 2 },
        1: { state: 'prioritized', position: 5 },
        2: { state: 'missing' },
        3: { state: 'waiting', position: 3 },
        4: { state: 'waiting', position: 1 },
        5: { state: 'waiting', position: 4 },
      };
      for (const i of subset)
        expect(got[i], `j${i} asked with ${JSON.stringify(subset)}`).toMatchObject(expected[i] as object);
    }
  });
});
