/**
 * No lost update: 200 children of one parent, run by two worker processes, all complete at the same
 * instant (a barrier), while several publishers — separate Seenn instances — apply the changes
 * concurrently: two each reading one of two queues, or three sharing one queue's partitions (each
 * the children of its own partitions). The parent must end at exactly 100 % with `completed: 200`,
 * and its replay entries must be in order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Seenn } from '../../src/index.js';
import type { SeennJob } from '../../src/model/job.js';
import { partitionOf } from '../../src/store/partitions.js';
import { PUBLISHER_DEFAULTS } from '../../src/publisher/options.js';
import { connect, deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { expectOrderly, parentEntries } from './harness.js';

const CHILDREN = 200;
const fixture = fileURLToPath(new URL('./fixtures/barrier-worker.ts', import.meta.url));
const prefix = uniquePrefix('par');
const redis: Redis = connect();
const processes: { child: ChildProcess; exited: Promise<unknown> }[] = [];
const channels: string[] = [];
const instances: Seenn[] = [];
const errors: Error[] = [];

function startWorkerProcess(channel: string, queues: readonly string[]): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, prefix, channel, String(CHILDREN), ...queues], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, SEENN_TEST_REDIS_URL: redisUrl() },
  });
  processes.push({ child, exited: once(child, 'exit') });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().split('\n').includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker process exited early (${String(code)})`)));
  });
}

/** A publisher of its own Seenn instance (own connection, own in-process parent lock), and the partitions it holds. */
async function startPublisher(queues: readonly string[]): Promise<{ partitions: readonly number[] }> {
  const seenn = new Seenn({ connection: connect(), prefix });
  instances.push(seenn);
  const publisher = seenn.publisher({ queues: [...queues], blockMs: 100, leaseMs: 2_000 });
  const started = { partitions: [] as readonly number[] };
  publisher.on('lease', ({ partitions }) => void (started.partitions = partitions));
  publisher.on('error', (error) => errors.push(error));
  await publisher.start();
  return started;
}

/**
 * Starts a batch of {@link CHILDREN} children over `queues` (worked by two barrier worker processes),
 * waits until every child runs at 50 %, calls `atBarrier`, lets them all complete at once, and checks
 * the parent: exactly 100 %, `completed: CHILDREN`, entries in order, every child at its index.
 */
async function completeTogether(
  queues: readonly string[],
  atBarrier: (children: readonly SeennJob[], producer: Seenn) => Promise<void> = async () => undefined,
): Promise<void> {
  const channel = `${prefix}:go:${channels.length}`;
  channels.push(channel);
  await Promise.all([startWorkerProcess(channel, queues), startWorkerProcess(channel, queues)]);
  const producer = new Seenn({ connection: connect(), prefix });
  instances.push(producer);

  const { parent, children } = await producer.jobs.createBatch({
    queue: queues[0] as string,
    userId: 'zoe',
    jobType: 'render',
    parentTitle: 'Render everything',
    children: Array.from({ length: CHILDREN }, (_, i) => ({
      title: `Frame ${i}`,
      queue: queues[i % queues.length] as string,
      data: { i },
    })),
  });
  expect(children).toHaveLength(CHILDREN);

  // Every child is running at 50 % and waits at the barrier.
  await waitFor(
    async () => {
      const job = await producer.jobs.get(parent.id);
      return job?.children?.running === CHILDREN && job.progress === 50;
    },
    { what: 'all children running at 50 %', timeoutMs: 60_000 },
  );
  await atBarrier(children, producer);
  expect(await redis.publish(channel, 'go')).toBe(2);

  const done = await waitFor(
    async () => {
      const job = await producer.jobs.get(parent.id);
      return job?.status === 'completed' ? job : null;
    },
    { what: 'the parent to complete', timeoutMs: 60_000 },
  );
  expect(done).toMatchObject({
    progress: 100,
    children: { total: CHILDREN, completed: CHILDREN, failed: 0, running: 0, pending: 0 },
  });

  const entries = await parentEntries(producer.context.store, 'zoe', parent.id);
  const { terminal } = expectOrderly(entries);
  expect(entries[entries.length - 1]).toBe(terminal);
  expect(terminal).toMatchObject({ event: 'job.completed', progress: 100, children: { completed: CHILDREN } });
  // Every completion moved the counter exactly once, in commit order.
  const completedSeen = new Set(entries.map((entry) => entry.children.completed));
  expect(Math.max(...completedSeen)).toBe(CHILDREN);

  const read = await producer.jobs.getWithChildren(parent.id);
  expect(read?.children.map((child) => child.parent?.childIndex)).toEqual(
    Array.from({ length: CHILDREN }, (_, i) => i),
  );
  expect(read?.children.every((child) => child.status === 'completed')).toBe(true);
  expect(errors).toEqual([]);
}

afterAll(async () => {
  // Jobs still at a barrier (a failed run) must finish for the workers to close.
  for (const channel of channels) await redis.publish(channel, 'go');
  for (const { child } of processes) child.kill('SIGTERM');
  await Promise.all(processes.map(({ exited }) => exited));
  await Promise.all(
    instances.map(async (seenn) => {
      const connection = seenn.context.redis;
      await seenn.close();
      await connection.quit();
    }),
  );
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('many children at once', () => {
  it(
    `${CHILDREN} children completing together across two worker processes and two publishers, one per queue`,
    { timeout: 120_000 },
    async () => {
      const queues = ['render-a', 'render-b'];
      await Promise.all(queues.map((queue) => startPublisher([queue])));
      await completeTogether(queues);
    },
  );

  it(
    `${CHILDREN} children completing together, applied by three publishers sharing their queue's partitions`,
    { timeout: 120_000 },
    async () => {
      const publishers = await Promise.all(Array.from({ length: 3 }, () => startPublisher(['frames'])));
      // Each publisher holds its share before the batch starts.
      await waitFor(
        () =>
          publishers.every(({ partitions }) => partitions.length > 0) &&
          new Set(publishers.flatMap(({ partitions }) => partitions)).size === PUBLISHER_DEFAULTS.partitions,
        {
          what: 'the publishers to share the partitions',
          timeoutMs: 60_000,
        },
      );
      await completeTogether(['frames'], async (children, producer) => {
        // The children fall into partitions held by every publisher.
        const holders = await Promise.all(
          children.map(async (child) => {
            const snapshot = await producer.context.store.read('zoe', child.id);
            const partition = partitionOf(snapshot?.record.x.bullId as string, PUBLISHER_DEFAULTS.partitions);
            return publishers.findIndex(({ partitions }) => partitions.includes(partition));
          }),
        );
        expect(new Set(holders).size).toBe(publishers.length);
      });
    },
  );
});
