/**
 * No lost update: 200 children of one parent, in two queues, run by two worker processes, all
 * complete at the same instant (a barrier), while two publishers — separate Seenn instances, each
 * reading one queue — apply the changes concurrently. The parent must end at exactly 100 % with
 * `completed: 200`, and its replay entries must be in order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Seenn } from '../../src/index.js';
import type { Publisher } from '../../src/publisher/index.js';
import { connect, deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { expectOrderly, parentEntries } from './harness.js';

const CHILDREN = 200;
const QUEUES = ['render-a', 'render-b'];
const fixture = fileURLToPath(new URL('./fixtures/barrier-worker.ts', import.meta.url));
const prefix = uniquePrefix('par');
const channel = `${prefix}:go`;
const redis: Redis = connect();
const processes: { child: ChildProcess; exited: Promise<unknown> }[] = [];
const instances: Seenn[] = [];
const errors: Error[] = [];

function startWorkerProcess(): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, prefix, channel, String(CHILDREN), ...QUEUES], {
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

/** A publisher of its own Seenn instance (own connection, own in-process parent lock) for one queue. */
async function startPublisher(queue: string): Promise<Publisher> {
  const seenn = new Seenn({ connection: connect(), prefix });
  instances.push(seenn);
  const publisher = seenn.publisher({ queues: [queue], blockMs: 100, leaseMs: 5_000 });
  publisher.on('error', (error) => errors.push(error));
  await publisher.start();
  return publisher;
}

afterAll(async () => {
  // Jobs still at the barrier (a failed run) must finish for the workers to close.
  await redis.publish(channel, 'go');
  for (const { child } of processes) child.kill('SIGTERM');
  await Promise.all(processes.map(({ exited }) => exited));
  await Promise.all(instances.map(async (seenn) => {
    const connection = seenn.context.redis;
    await seenn.close();
    await connection.quit();
  }));
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('many children at once', () => {
  it(`${CHILDREN} children completing together across two worker processes and two publishers`, { timeout: 120_000 }, async () => {
    await Promise.all([startWorkerProcess(), startWorkerProcess()]);
    await Promise.all(QUEUES.map((queue) => startPublisher(queue)));
    const producer = new Seenn({ connection: connect(), prefix });
    instances.push(producer);

    const { parent, children } = await producer.jobs.createBatch({
      queue: QUEUES[0] as string,
      userId: 'zoe',
      jobType: 'render',
      parentTitle: 'Render everything',
      children: Array.from({ length: CHILDREN }, (_, i) => ({ title: `Frame ${i}`, queue: QUEUES[i % 2] as string, data: { i } })),
    });
    expect(children).toHaveLength(CHILDREN);

    // Every child is running at 50 % and waits at the barrier.
    await waitFor(async () => {
      const job = await producer.jobs.get(parent.id);
      return job?.children?.running === CHILDREN && job.progress === 50;
    }, { what: 'all children running at 50 %', timeoutMs: 60_000 });
    expect(await redis.publish(channel, 'go')).toBe(2);

    const done = await waitFor(async () => {
      const job = await producer.jobs.get(parent.id);
      return job?.status === 'completed' ? job : null;
    }, { what: 'the parent to complete', timeoutMs: 60_000 });
    expect(done).toMatchObject({ progress: 100, children: { total: CHILDREN, completed: CHILDREN, failed: 0, running: 0, pending: 0 } });

    const entries = await parentEntries(producer.context.store, 'zoe', parent.id);
    const { terminal } = expectOrderly(entries);
    expect(entries[entries.length - 1]).toBe(terminal);
    expect(terminal).toMatchObject({ event: 'job.completed', progress: 100, children: { completed: CHILDREN } });
    // Every completion moved the counter exactly once, in commit order.
    const completedSeen = new Set(entries.map((entry) => entry.children.completed));
    expect(Math.max(...completedSeen)).toBe(CHILDREN);

    const read = await producer.jobs.getWithChildren(parent.id);
    expect(read?.children.map((child) => child.parent?.childIndex)).toEqual(Array.from({ length: CHILDREN }, (_, i) => i));
    expect(read?.children.every((child) => child.status === 'completed')).toBe(true);
    expect(errors).toEqual([]);
  });
});
