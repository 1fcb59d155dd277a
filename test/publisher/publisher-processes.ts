/**
 * Publisher processes for kill tests (fixtures/publisher-process.ts), the workload they publish, and
 * the check that every user's replay stream holds each change the workers made exactly once, in
 * order per job.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { derivedJobId } from '../../src/index.js';
import type { SeennJob } from '../../src/model/job.js';
import { JobStore, RETENTION_DEFAULTS } from '../../src/store/job-store.js';
import { SeennKeys } from '../../src/store/keys.js';
import { connect } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const fixture = fileURLToPath(new URL('./fixtures/publisher-process.ts', import.meta.url));

/** One publisher process and what it last said about its partitions. */
export interface PublisherProcess {
  process: ChildProcess;
  /** The partitions it holds, as it last printed them. */
  partitions: number[];
  exited: Promise<unknown>;
  /** Whether it is still running. */
  alive(): boolean;
}

/** Starts publisher processes of one queue and kills them all at the end. */
export class PublisherProcesses {
  readonly all: PublisherProcess[] = [];

  constructor(
    private readonly prefix: string,
    private readonly queue: string,
    private readonly leaseMs: number,
  ) {}

  /** Starts one more publisher process. */
  start(): PublisherProcess {
    const proc = spawn(process.execPath, ['--import', 'tsx', fixture, this.prefix, this.queue, String(this.leaseMs)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: process.env,
    });
    const child: PublisherProcess = {
      process: proc,
      partitions: [],
      exited: once(proc, 'exit'),
      alive: () => proc.exitCode === null && proc.signalCode === null,
    };
    let pending = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('partitions '))
          child.partitions = line.slice('partitions '.length).split(',').filter(Boolean).map(Number);
      }
    });
    this.all.push(child);
    return child;
  }

  /** The running processes. */
  alive(): PublisherProcess[] {
    return this.all.filter((child) => child.alive());
  }

  /** SIGKILLs one process and waits for it to exit. */
  async kill(child: PublisherProcess): Promise<void> {
    child.process.kill('SIGKILL');
    await child.exited;
    child.partitions = [];
  }

  /** SIGKILLs every process still running. */
  async close(): Promise<void> {
    for (const child of this.all) child.process.kill('SIGKILL');
    await Promise.all(this.all.map((child) => child.exited));
  }
}

/**
 * A workload of plain BullMQ jobs, each reporting `steps` progress values, spread over `users` users
 * (keep `jobs / users × (steps + 3)` under the replay stream's 1,000 entries, or the check sees trimmed streams).
 */
export interface Workload {
  jobs: number;
  steps: number;
  users: number;
  /** Worker concurrency. */
  concurrency: number;
  /** Pause between two progress steps of a job (paces the run so kills land mid-run; not a wait for a condition). */
  stepPauseMs: number;
  /** When set, every job waits after this step until {@link RunningWorkload.release} is called. */
  gateAtStep?: number;
}

/** A running workload: its jobs, what the workers wrote, and how to wait for it and check it. */
export class RunningWorkload {
  readonly store: JobStore;
  /** BullMQ id → the progress values its worker wrote, in order. */
  readonly written = new Map<string, number[]>();
  private ids: { bullId: string; seennId: string; userId: string }[] = [];
  private queue: Queue | undefined;
  private worker: Worker | undefined;
  private opened: (() => void) | undefined;
  private readonly gate = new Promise<void>((resolve) => (this.opened = resolve));

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly queueName: string,
    readonly workload: Workload,
  ) {
    this.store = new JobStore(redis, new SeennKeys(prefix, 'default'), RETENTION_DEFAULTS);
  }

  /** Every replay entry the workload should produce: queued, running, each step, completed. */
  get expectedEntries(): number {
    return this.workload.jobs * (this.workload.steps + 3);
  }

  /** Adds the jobs and starts the worker (its events stream kept long enough that nothing is trimmed). */
  async start(): Promise<void> {
    const { jobs, steps, users, concurrency, stepPauseMs } = this.workload;
    this.queue = new Queue(this.queueName, {
      connection: this.redis,
      prefix: this.prefix,
      streams: { events: { maxLen: jobs * (steps + 10) } },
    });
    this.worker = new Worker(
      this.queueName,
      async (job) => {
        const values: number[] = [];
        this.written.set(job.id as string, values);
        for (let step = 1; step <= steps; step += 1) {
          const progress = Math.round((step * 100) / (steps + 1));
          await job.updateProgress(progress);
          values.push(progress);
          if (step === this.workload.gateAtStep) await this.gate;
          await new Promise((resolve) => setTimeout(resolve, stepPauseMs));
        }
        return { done: true };
      },
      { connection: connect(), prefix: this.prefix, concurrency },
    );
    const added = await this.queue.addBulk(
      Array.from({ length: jobs }, (_, i) => ({
        name: 'step',
        data: { userId: `user${i % users}`, title: `Job ${i}` },
      })),
    );
    this.ids = added.map((job) => ({
      bullId: job.id as string,
      seennId: derivedJobId(this.queueName, job.id as string),
      userId: (job.data as { userId: string }).userId,
    }));
  }

  /** Lets the jobs waiting at the gate (`gateAtStep`) go on. */
  release(): void {
    this.opened?.();
  }

  /** Replay entries written so far, over every user. */
  async entryCount(): Promise<number> {
    const lengths = await Promise.all(
      Array.from({ length: this.workload.users }, (_, u) => this.redis.xlen(this.store.keys.stream(`user${u}`))),
    );
    return lengths.reduce((sum, n) => sum + n, 0);
  }

  /** Entries in BullMQ's events stream of the queue. */
  sourceEvents(): Promise<number> {
    return this.redis.xlen(this.store.keys.bullEvents(this.queueName));
  }

  /** Waits until every job is completed in the store, then stops the worker. */
  async finish(timeoutMs: number): Promise<void> {
    await waitFor(
      async () => {
        const snapshots = await Promise.all(this.ids.map(({ userId, seennId }) => this.store.read(userId, seennId)));
        return snapshots.every((snapshot) => snapshot?.record.job.status === 'completed');
      },
      { what: 'every job completed in the store', timeoutMs, intervalMs: 200 },
    );
    await this.worker?.close();
    await this.queue?.close();
  }

  /** Checks every user's replay stream: each change the workers made exactly once, in order per job. Answers the entries checked. */
  async expectExactlyOnceInOrder(context: string): Promise<number> {
    let checked = 0;
    for (let u = 0; u < this.workload.users; u += 1) {
      const entries = await this.store.readStream(`user${u}`, '0-0', 1_000_000);
      const byJob = new Map<string, SeennJob[]>();
      for (const entry of entries) {
        const job = JSON.parse(entry.data) as SeennJob;
        byJob.set(job.id, [...(byJob.get(job.id) ?? []), job]);
      }
      for (const { bullId, seennId, userId } of this.ids.filter((id) => id.userId === `user${u}`)) {
        const seen = (byJob.get(seennId) ?? []).map((job) => [job.status, job.progress]);
        const expected = [
          ['queued', 0],
          ['running', 0],
          ...(this.written.get(bullId) ?? []).map((progress) => ['running', progress]),
          ['completed', 100],
        ];
        expect(seen, `job ${seennId} of ${userId} (${context})`).toEqual(expected);
        checked += seen.length;
      }
    }
    expect(checked).toBe(this.expectedEntries);
    return checked;
  }
}

/** A small seeded PRNG (mulberry32): the same seed replays the same kill instants. */
export { seededRandom } from '../helpers/random.js';
