/**
 * Partitioned publishers: several publisher processes share one queue, each holding a fair share of
 * its partitions. Invariants 1 and 2 hold through crashes and joins: every user's replay stream holds
 * each change the workers made exactly once, in order per job.
 */
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { PUBLISHER_DEFAULTS } from '../../src/publisher/options.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { PublisherProcesses, RunningWorkload, seededRandom, type PublisherProcess } from './publisher-processes.js';

const LEASE_MS = 800;
const redis: Redis = connect();
const prefixes: string[] = [];
const groups: PublisherProcesses[] = [];

function bed(name: string): { prefix: string; publishers: PublisherProcesses } {
  const prefix = uniquePrefix(name);
  prefixes.push(prefix);
  const publishers = new PublisherProcesses(prefix, name, LEASE_MS);
  groups.push(publishers);
  return { prefix, publishers };
}

/** Waits until the running processes hold every partition between them, each a share. */
async function waitForCoverage(publishers: PublisherProcesses, what: string): Promise<void> {
  await waitFor(
    () => {
      const alive = publishers.alive();
      const held = alive.flatMap((child) => child.partitions);
      return (
        alive.every((child) => child.partitions.length > 0) &&
        new Set(held).size === PUBLISHER_DEFAULTS.partitions &&
        held.length === PUBLISHER_DEFAULTS.partitions
      );
    },
    { what, timeoutMs: 60_000 },
  );
}

afterAll(async () => {
  await Promise.all(groups.map((group) => group.close()));
  for (const prefix of prefixes) await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('partitioned publishers on one queue', () => {
  it(
    'three processes over ≥ 20,000 events, two SIGKILLed at random instants and one restarted: each change exactly once, in order',
    { timeout: 240_000 },
    async () => {
      const seed = Number(process.env['SEENN_TEST_SEED'] ?? Date.now() % 1_000_000);
      const random = seededRandom(seed);
      const context = `seed ${seed} (SEENN_TEST_SEED=${seed} replays it)`;
      const { prefix, publishers } = bed('shared');
      for (let i = 0; i < 3; i += 1) publishers.start();
      await waitForCoverage(publishers, 'three processes to share the partitions');

      const run = new RunningWorkload(redis, prefix, 'shared', {
        jobs: 400,
        steps: 50,
        users: 40,
        concurrency: 20,
        stepPauseMs: 3,
      });
      await run.start();
      const total = run.expectedEntries;
      // Two kills at random instants of the run, then a fresh process.
      const instants = [0.1 + random() * 0.25, 0.4 + random() * 0.25];
      for (const instant of instants) {
        await waitFor(async () => (await run.entryCount()) >= Math.floor(total * instant), {
          what: `${Math.round(instant * 100)} % of the changes (${context})`,
          timeoutMs: 120_000,
        });
        const alive = publishers.alive();
        const victim = alive[Math.floor(random() * alive.length)] as PublisherProcess;
        await publishers.kill(victim);
      }
      publishers.start();

      await run.finish(120_000);
      expect(await run.sourceEvents(), 'source events').toBeGreaterThanOrEqual(20_000);
      await run.expectExactlyOnceInOrder(context);
      // The survivor and the restarted process hold every partition between them.
      await waitForCoverage(publishers, `the two running processes to share the partitions (${context})`);
      expect(publishers.alive()).toHaveLength(2);
    },
  );

  it('a process joining mid-run takes partitions over without a gap or a duplicate', { timeout: 240_000 }, async () => {
    const { prefix, publishers } = bed('joined');
    const first = publishers.start();
    await waitForCoverage(publishers, 'the first process to hold every partition');
    expect(first.partitions).toHaveLength(PUBLISHER_DEFAULTS.partitions);

    // Every job runs to step 20 of 40 and waits there until the joiner holds its share.
    const run = new RunningWorkload(redis, prefix, 'joined', {
      jobs: 200,
      steps: 40,
      users: 20,
      concurrency: 200,
      stepPauseMs: 2,
      gateAtStep: 20,
    });
    await run.start();
    await waitFor(async () => (await run.entryCount()) >= 200 * 22, {
      what: 'every job at its gate, published',
      timeoutMs: 120_000,
    });
    const joiner = publishers.start();
    await waitForCoverage(publishers, 'the joiner to take its share');
    expect(joiner.partitions.length).toBe(PUBLISHER_DEFAULTS.partitions / 2);
    expect(first.partitions.length).toBe(PUBLISHER_DEFAULTS.partitions / 2);
    run.release();

    await run.finish(120_000);
    await run.expectExactlyOnceInOrder('one process joined half-way');
  });
});
