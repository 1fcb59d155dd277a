/**
 * A closed publisher leaves nothing behind: no membership, no partition lease, and nothing that
 * renews them later — also when it is closed while its loop is between two lease steps.
 */
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Seenn } from '../../src/index.js';
import { PUBLISHER_DEFAULTS } from '../../src/publisher/options.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const QUEUE = 'lifecycle';
const LEASE_MS = 300;
const prefix = uniquePrefix('lease');
const redis: Redis = connect();
const seenn = new Seenn({ connection: connect(), prefix });

afterAll(async () => {
  const connection = seenn.context.redis;
  await seenn.close();
  await connection.quit();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

/** Live members and lease keys of the queue. */
async function leftBehind(): Promise<{ members: number; leases: number }> {
  const { keys } = seenn.context;
  // Members whose membership has not expired (an expired one is dropped by the next lease step).
  const [seconds, micros] = await redis.time();
  const members = await redis.zcount(
    keys.publishers(QUEUE),
    Number(seconds) * 1000 + Math.floor(Number(micros) / 1000),
    '+inf',
  );
  const leases = await Promise.all(
    Array.from({ length: PUBLISHER_DEFAULTS.partitions }, (_, partition) => redis.exists(keys.lease(QUEUE, partition))),
  );
  return { members, leases: leases.reduce((sum: number, n) => sum + n, 0) };
}

describe('publisher lease lifecycle', () => {
  it(
    '20 start/close cycles, closed at any point of the loop, leave no member and no lease, and nothing renews them',
    { timeout: 60_000 },
    async () => {
      for (let cycle = 0; cycle < 20; cycle += 1) {
        const publisher = seenn.publisher({ queues: [QUEUE], blockMs: 10, leaseMs: LEASE_MS, leaseRetryMs: 10 });
        const held = new Promise<void>((resolve) => publisher.once('lease', () => resolve()));
        await publisher.start();
        // Every other cycle is closed as soon as it holds partitions, the others while the loop turns.
        if (cycle % 2 === 0) await held;
        await publisher.close();
      }
      await waitFor(
        async () => {
          const left = await leftBehind();
          return left.members === 0 && left.leases === 0;
        },
        { what: 'no member and no lease left' },
      ).catch(async (error: unknown) => {
        throw new Error(`${String(error)}: ${JSON.stringify(await leftBehind())}`);
      });
      // Nothing renews them later: after several lease periods, still nothing (a leftover renewal timer
      // would have written them again by now).
      await new Promise((resolve) => setTimeout(resolve, LEASE_MS * 4));
      expect(await leftBehind()).toEqual({ members: 0, leases: 0 });
    },
  );
});
