/**
 * Invariants 1 and 2 under fire: two publisher processes share a queue while a process holding
 * partitions is SIGKILLed (twice) and replaced mid-run, over more than 5,000 events. Every user's
 * replay stream must hold each change the workers made exactly once, in order per job.
 */
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { PublisherProcesses, RunningWorkload } from './publisher-processes.js';

const QUEUE = 'once';
const prefix = uniquePrefix('once');
const redis: Redis = connect();
const publishers = new PublisherProcesses(prefix, QUEUE, 800);

async function killHolder(): Promise<void> {
  const holder = await waitFor(() => publishers.alive().find((child) => child.partitions.length > 0), {
    what: 'a publisher holding partitions',
    timeoutMs: 60_000,
  });
  await publishers.kill(holder);
}

afterAll(async () => {
  await publishers.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('exactly once, in order, through publisher crashes', () => {
  it('100 jobs × 50 progress steps with two publishers, a holder SIGKILLed twice', { timeout: 240_000 }, async () => {
    publishers.start();
    publishers.start();
    await waitFor(() => publishers.alive().some((child) => child.partitions.length > 0), {
      what: 'a publisher to take partitions',
      timeoutMs: 60_000,
    });

    const run = new RunningWorkload(redis, prefix, QUEUE, {
      jobs: 100,
      steps: 50,
      users: 10,
      concurrency: 10,
      stepPauseMs: 3,
    });
    await run.start();
    await waitFor(async () => (await run.entryCount()) >= 1_000, { what: '1,000 replay entries', timeoutMs: 60_000 });
    await killHolder();
    publishers.start();
    await waitFor(async () => (await run.entryCount()) >= 3_000, { what: '3,000 replay entries', timeoutMs: 60_000 });
    await killHolder();
    publishers.start();

    await run.finish(60_000);
    expect(await run.expectExactlyOnceInOrder('two kills')).toBeGreaterThanOrEqual(5_000);
  });
});
