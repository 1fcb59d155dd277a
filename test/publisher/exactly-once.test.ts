/**
 * Invariants 1 and 2 under fire: two publisher processes share a queue while the lease holder is
 * SIGKILLed (twice) and restarted mid-run, over more than 5,000 events. Every user's replay stream
 * must hold each change the workers made exactly once, in order per job.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { derivedJobId } from '../../src/index.js';
import type { SeennJob } from '../../src/model/job.js';
import { JobStore, RETENTION_DEFAULTS } from '../../src/store/job-store.js';
import { SeennKeys } from '../../src/store/keys.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const JOBS = 100;
const STEPS = 50;
const USERS = 10;
const LEASE_MS = 800;
const QUEUE = 'once';
const prefix = uniquePrefix('once');
const fixture = fileURLToPath(new URL('./fixtures/publisher-process.ts', import.meta.url));
const redis: Redis = connect();
const store = new JobStore(redis, new SeennKeys(prefix, 'default'), RETENTION_DEFAULTS);

interface Child {
  process: ChildProcess;
  holds: boolean;
  exited: Promise<unknown>;
}
const children: Child[] = [];

function startPublisher(): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', fixture, prefix, QUEUE, String(LEASE_MS)], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  const child: Child = { process: proc, holds: false, exited: once(proc, 'exit') };
  proc.stdout?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (line === 'lease held') child.holds = true;
      if (line === 'lease lost') child.holds = false;
    }
  });
  children.push(child);
  return child;
}

async function killHolder(): Promise<void> {
  const holder = await waitFor(() => children.find((child) => child.holds && child.process.exitCode === null && child.process.signalCode === null), { what: 'a publisher holding the lease', timeoutMs: 20_000 });
  holder.process.kill('SIGKILL');
  await holder.exited;
  holder.holds = false;
}

async function entryCount(): Promise<number> {
  const lengths = await Promise.all(Array.from({ length: USERS }, (_, u) => redis.xlen(store.keys.stream(`user${u}`))));
  return lengths.reduce((sum, n) => sum + n, 0);
}

afterAll(async () => {
  for (const child of children) child.process.kill('SIGKILL');
  await Promise.all(children.map((child) => child.exited));
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('exactly once, in order, through publisher crashes', () => {
  it(`${JOBS} jobs × ${STEPS} progress steps with two publishers, the holder SIGKILLed twice`, { timeout: 120_000 }, async () => {
    startPublisher();
    startPublisher();
    await waitFor(() => children.some((child) => child.holds), { what: 'one publisher to take the lease', timeoutMs: 20_000 });

    const queue = new Queue(QUEUE, { connection: redis, prefix });
    const written = new Map<string, number[]>();
    const worker = new Worker(
      QUEUE,
      async (job) => {
        const values: number[] = [];
        written.set(job.id as string, values);
        for (let step = 1; step <= STEPS; step += 1) {
          const progress = step * 2;
          await job.updateProgress(progress);
          values.push(progress);
          // Paces the workload so the kills land mid-run; not a wait for a condition.
          await new Promise((resolve) => setTimeout(resolve, 3));
        }
        return { done: true };
      },
      { connection: connect(), prefix, concurrency: 10 },
    );
    const added = await queue.addBulk(Array.from({ length: JOBS }, (_, i) => ({ name: 'step', data: { userId: `user${i % USERS}`, title: `Job ${i}` } })));

    await waitFor(async () => (await entryCount()) >= 1_000, { what: '1,000 replay entries', timeoutMs: 60_000 });
    await killHolder();
    startPublisher();
    await waitFor(async () => (await entryCount()) >= 3_000, { what: '3,000 replay entries', timeoutMs: 60_000 });
    await killHolder();
    startPublisher();

    const ids = added.map((job) => ({ bullId: job.id as string, seennId: derivedJobId(QUEUE, job.id as string), userId: (job.data as { userId: string }).userId }));
    await waitFor(
      async () => {
        const snapshots = await Promise.all(ids.map(({ userId, seennId }) => store.read(userId, seennId)));
        return snapshots.every((snapshot) => snapshot?.record.job.status === 'completed');
      },
      { what: 'every job completed in the store', timeoutMs: 60_000, intervalMs: 200 },
    );
    await worker.close();
    await queue.close();

    let checked = 0;
    for (let u = 0; u < USERS; u += 1) {
      const entries = await store.readStream(`user${u}`, '0-0', 100_000);
      const byJob = new Map<string, SeennJob[]>();
      for (const entry of entries) {
        const job = JSON.parse(entry.data) as SeennJob;
        byJob.set(job.id, [...(byJob.get(job.id) ?? []), job]);
      }
      for (const { bullId, seennId, userId } of ids.filter((id) => id.userId === `user${u}`)) {
        const jobs = byJob.get(seennId) ?? [];
        const expected = [
          ['queued', 0],
          ['running', 0],
          ...(written.get(bullId) ?? []).map((progress) => ['running', progress]),
          ['completed', 100],
        ];
        expect(jobs.map((job) => [job.status, job.progress]), `job ${seennId} of ${userId}`).toEqual(expected);
        checked += jobs.length;
      }
    }
    expect(checked).toBe(JOBS * (STEPS + 3));
    expect(checked).toBeGreaterThanOrEqual(5_000);
  });
});
