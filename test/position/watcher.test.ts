import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SeennJob } from '../../src/model/job.js';
import type { JobRecord } from '../../src/model/record.js';
import { createRecord } from '../../src/model/reducer.js';
import { recordCompletion } from '../../src/position/history.js';
import { PositionReader } from '../../src/position/reader.js';
import { PositionWatcher, type PositionTick, type PositionUpdate } from '../../src/position/watcher.js';
import { Seenn } from '../../src/seenn.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';
import { nextEvent, waitFor } from '../helpers/wait.js';

const prefix = uniquePrefix('poswatch');
let redis: Redis;
let seenn: Seenn;

beforeAll(() => {
  redis = connect();
  seenn = new Seenn({ connection: redis, prefix });
});

afterAll(async () => {
  await seenn.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

/** Adds plain jobs `ids` to `queueName` and stores a queued Seenn record for each of `tracked`. */
async function setUp(queueName: string, ids: string[], tracked: string[], userId = 'u1'): Promise<Queue> {
  const queue = new Queue(queueName, { connection: redis, prefix });
  await queue.addBulk(ids.map((id) => ({ name: 'render', data: {}, opts: { jobId: id } })));
  for (const id of tracked) {
    const record = createRecord(
      id,
      'default',
      { userId, jobType: 'render', title: `Job ${id}` },
      { queueName, bullId: id, createdAtMs: Date.now(), maxAttempts: 1, state: 'waiting' },
    );
    await seenn.context.store.claimOwner(id, userId);
    expect((await seenn.context.store.commit(userId, [{ expectedVersion: 0, record, index: true }])).status).toBe('ok');
  }
  return queue;
}

describe('PositionWatcher', () => {
  it('counts a watched job down as the jobs ahead finish, never emitting twice within the interval', async () => {
    const intervalMs = 100;
    const ids = Array.from({ length: 12 }, (_, i) => `cd${i}`);
    const queue = await setUp('countdown', ids, ['cd11']);
    const watcher = new PositionWatcher(seenn.context, { positionIntervalMs: intervalMs });
    const updates: PositionUpdate[] = [];
    watcher.on('position', (update) => updates.push(update));
    const stop = watcher.watch('u1', 'cd11');
    await waitFor(() => updates.length > 0, { what: 'the first position' });
    expect(updates[0]?.job.queue).toEqual({ position: 12, total: 12, queueName: 'countdown' });
    expect(updates[0]).toMatchObject({ userId: 'u1', job: { id: 'cd11', status: 'queued', title: 'Job cd11' } });

    // A worker finishes a job every ~30 ms: faster than the interval, so updates must be thinned out.
    // It holds the job just ahead of ours until we have seen position 1.
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const worker = new Worker('countdown', (job) => (job.id === 'cd10' ? gate : delay(30)), {
      connection: connect(),
      prefix,
      concurrency: 1,
    });
    await waitFor(() => updates.some((update) => update.job.queue?.position === 1), {
      what: 'position 1',
      timeoutMs: 15_000,
    });
    release();
    await worker.close();
    stop();
    await watcher.close();

    const positions = updates.map((update) => update.job.queue?.position as number);
    expect(positions[0]).toBe(12);
    expect(positions.at(-1)).toBe(1);
    for (let i = 1; i < positions.length; i += 1) expect(positions[i]).toBeLessThan(positions[i - 1] as number);
    for (let i = 1; i < updates.length; i += 1)
      expect((updates[i] as PositionUpdate).atMs - (updates[i - 1] as PositionUpdate).atMs).toBeGreaterThanOrEqual(
        intervalMs,
      );
    expect(updates.length).toBeGreaterThanOrEqual(3);
    expect(
      updates.every(
        (update) => update.job.queue?.total !== undefined && update.job.queue.position <= update.job.queue.total,
      ),
    ).toBe(true);
    await queue.close();
  });

  it('recomputes only watched queued jobs, stays quiet while nothing changes, and shows a paused queue', async () => {
    const queue = await setUp('quiet', ['q0', 'q1', 'q2', 'q3', 'q4'], ['q2', 'q4']);
    const watcher = new PositionWatcher(seenn.context, { positionIntervalMs: 50 });
    const updates: PositionUpdate[] = [];
    const ticks: PositionTick[] = [];
    watcher.on('position', (update) => updates.push(update));
    watcher.on('tick', (tick) => ticks.push(tick));
    // The client already has the job as the reader decorates it: the same position is not sent again.
    const stored = await seenn.context.store.read('u1', 'q2');
    const [known] = await new PositionReader(seenn.context).decorate([stored?.record as JobRecord]);
    expect(known?.queue).toEqual({ position: 3, total: 5, queueName: 'quiet' });
    const stopA = watcher.watch('u1', 'q2', known);
    const stopB = watcher.watch('u1', 'q2');
    expect(watcher.size).toBe(1);
    await waitFor(() => ticks.filter((tick) => tick.jobs > 0).length >= 4, { what: 'four ticks' });
    expect(updates).toEqual([]);
    for (const tick of ticks.filter((t) => t.jobs > 0)) expect(tick).toMatchObject({ queues: 1, jobs: 1 });

    await queue.pause();
    const [paused] = await nextEvent<[PositionUpdate]>(watcher, 'position');
    expect(paused.job.queue).toEqual({ position: 3, total: 5, queueName: 'quiet', state: 'paused' });
    await queue.resume();
    const [resumed] = await nextEvent<[PositionUpdate]>(watcher, 'position');
    expect(resumed.job.queue).toEqual({ position: 3, total: 5, queueName: 'quiet' });

    // A live event says the job runs: it is no longer recomputed, and the event passes through.
    const running: SeennJob = {
      ...resumed.job,
      status: 'running',
      updatedAt: new Date(Date.parse(resumed.job.updatedAt) + 1).toISOString(),
    };
    delete running.queue;
    expect(watcher.noteChange(running)).toEqual(running);
    // (A running job without an explicit ETA still gets ticks that refresh its ETA history.)
    const [tick] = await nextEvent<[PositionTick]>(watcher, 'tick');
    expect(tick).toMatchObject({ queues: 0, jobs: 0 });

    // Back in the queue (a retry): the last position is not reused, a fresh one is computed.
    const requeued: SeennJob = {
      ...running,
      status: 'queued',
      updatedAt: new Date(Date.parse(running.updatedAt) + 1).toISOString(),
    };
    expect(watcher.noteChange(requeued).queue).toBeUndefined();
    const [again] = await nextEvent<[PositionUpdate]>(watcher, 'position');
    expect(again.job.queue?.position).toBe(3);
    // A live event while queued keeps the position the client already has.
    const message: SeennJob = {
      ...requeued,
      message: 'still waiting',
      updatedAt: new Date(Date.parse(requeued.updatedAt) + 1).toISOString(),
    };
    expect(watcher.noteChange(message)).toMatchObject({ message: 'still waiting', queue: { position: 3, total: 5 } });
    // An older object than the one the watcher has is passed through untouched and changes nothing.
    expect(watcher.noteChange(requeued)).toBe(requeued);

    stopA();
    expect(watcher.size).toBe(1);
    stopB();
    stopB();
    expect(watcher.size).toBe(0);
    await watcher.close();
    await queue.close();
  });

  it('adds a computed ETA from history to queued updates and to running jobs passed through noteChange', async () => {
    const queue = await setUp('etaw', ['t0', 't1', 't2'], ['t2']);
    const start = Date.now();
    for (let k = 0; k < 6; k += 1) {
      await recordCompletion(seenn.context.redis, seenn.context.keys, {
        queueName: 'etaw',
        finishedAtMs: start - 3_000 + k * 500,
        workflowId: 'render',
        durationMs: 1_000,
      });
    }
    const watcher = new PositionWatcher(seenn.context, { positionIntervalMs: 50 });
    watcher.watch('u1', 't2');
    const [update] = await nextEvent<[PositionUpdate]>(watcher, 'position');
    expect(update.job.queue?.position).toBe(3);
    expect(update.job.etaBasedOn).toBe(6);
    const remainingMs = Date.parse(update.job.estimatedCompletionAt ?? '') - update.atMs;
    expect(remainingMs).toBeGreaterThan(1_000);
    expect(remainingMs).toBeLessThan(3 * 1_000 + 1_000);

    const running: SeennJob = {
      ...update.job,
      status: 'running',
      startedAt: new Date().toISOString(),
      progress: 0,
      updatedAt: new Date(Date.parse(update.job.updatedAt) + 1).toISOString(),
    };
    delete running.queue;
    delete running.estimatedCompletionAt;
    delete running.etaConfidence;
    delete running.etaBasedOn;
    const sent = watcher.noteChange(running);
    expect(sent.queue).toBeUndefined();
    expect(sent.etaBasedOn).toBe(6);
    expect(Date.parse(sent.estimatedCompletionAt ?? '')).toBeGreaterThan(Date.now());
    await watcher.close();
    await queue.close();
  });

  it('never looks up a job watched while an earlier load is still reading (issue 11: no `<prefix>:undefined:…` script call)', async () => {
    const queue = await setUp('race', ['r0', 'r1', 'r2'], ['r0', 'r2']);
    // The store is the real one; only its snapshot read waits at a gate, so the second watch lands
    // while the first tick's load() is still running.
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let reads = 0;
    const store = Object.create(seenn.context.store) as typeof seenn.context.store;
    store.readMany = async (userId, jobIds) => {
      reads += 1;
      if (reads === 1) await gate;
      return seenn.context.store.readMany(userId, jobIds);
    };
    const watcher = new PositionWatcher(
      { redis: seenn.context.redis, keys: seenn.context.keys, logger: seenn.context.logger, store },
      { positionIntervalMs: 50 },
    );
    const ticks: PositionTick[] = [];
    const updates: PositionUpdate[] = [];
    watcher.on('tick', (tick) => ticks.push(tick));
    watcher.on('position', (update) => updates.push(update));
    watcher.watch('u1', 'r0');
    await waitFor(() => reads === 1, { what: 'the first load to start' });
    watcher.watch('u1', 'r2');
    open();
    await waitFor(() => updates.some((u) => u.job.id === 'r0') && updates.some((u) => u.job.id === 'r2'), {
      what: 'both positions',
    });
    // Every tick placed jobs of the one queue only: the entry that was not loaded yet was not due.
    for (const tick of ticks) expect(tick.queues).toBeLessThanOrEqual(1);
    expect(updates.find((u) => u.job.id === 'r0')?.job.queue).toEqual({ position: 1, total: 3, queueName: 'race' });
    expect(updates.find((u) => u.job.id === 'r2')?.job.queue).toEqual({ position: 3, total: 3, queueName: 'race' });
    await watcher.close();
    await queue.close();
  });

  it('rejects bad options with a coded error', () => {
    expect(() => new PositionWatcher(seenn.context, { positionIntervalMs: 0 })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
    expect(() => new PositionWatcher(seenn.context, { scanLimit: 1.5 } as never)).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
    expect(() => new PositionWatcher(seenn.context, { bogus: 1 } as never)).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });
});
