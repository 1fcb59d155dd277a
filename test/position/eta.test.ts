import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Descriptor } from '../../src/model/descriptor.js';
import { createRecord, reduce } from '../../src/model/reducer.js';
import type { JobRecord } from '../../src/model/record.js';
import { durationStats, queuedEta, runningEta, throughputOf } from '../../src/position/eta.js';
import { completionsKey, recordCompletion, runsKey } from '../../src/position/history.js';
import { POSITION_DEFAULTS } from '../../src/position/options.js';
import { PositionReader } from '../../src/position/reader.js';
import { SeennKeys } from '../../src/store/keys.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';

const settings = POSITION_DEFAULTS;

describe('ETA maths', () => {
  it('gives nothing without history, for a paused queue, or beyond etaMaxMs', () => {
    const durations = durationStats([1_000, 1_000, 1_000, 1_000]);
    const throughput = throughputOf([0, 500, 1_000, 1_500, 2_000], 2_000, 60_000, 3);
    expect(durationStats([])).toBeNull();
    expect(queuedEta({ nowMs: 2_000, position: 1, durations: null, throughput, paused: false }, settings)).toBeNull();
    expect(queuedEta({ nowMs: 2_000, position: 1, durations, throughput: null, paused: false }, settings)).toBeNull();
    expect(queuedEta({ nowMs: 2_000, position: 1, durations, throughput, paused: true }, settings)).toBeNull();
    expect(queuedEta({ nowMs: 2_000, position: 1_000_000, durations, throughput, paused: false }, settings)).toBeNull();
    expect(queuedEta({ nowMs: 2_000, position: 1, durations: durationStats([1_000, 1_000]), throughput, paused: false }, settings)).toBeNull();
    expect(runningEta({ nowMs: 2_000, startedAtMs: 1_500, progress: 50, durations: null }, settings)).toBeNull();
  });

  it('queued: position ÷ throughput + median run time', () => {
    const durations = durationStats([900, 1_000, 1_100]);
    const throughput = throughputOf([0, 500, 1_000, 1_500, 2_000], 2_000, 60_000, 3);
    expect(throughput).toEqual({ perMs: 1 / 500, samples: 5 });
    const eta = queuedEta({ nowMs: 2_000, position: 4, durations, throughput, paused: false }, settings);
    expect(eta).toMatchObject({ atMs: 2_000 + 4 * 500 + 1_000, basedOn: 3 });
    expect(eta?.confidence).toBeGreaterThan(0);
    expect(eta?.confidence).toBeLessThanOrEqual(1);
    // Completions outside the window do not count; a queue that stops finishing slows down.
    expect(throughputOf([0, 500, 1_000], 100_000, 60_000, 3)).toBeNull();
    expect((throughputOf([0, 500, 1_000, 1_500, 2_000], 4_000, 60_000, 3)?.perMs ?? 0) < 1 / 500).toBe(true);
  });

  it('running: blends the history (given the time spent) with the progress rate', () => {
    const durations = durationStats([1_000, 1_000, 1_000, 1_000, 1_000]);
    expect(runningEta({ nowMs: 10_400, startedAtMs: 10_000, progress: 40, durations }, settings)?.atMs).toBe(11_000);
    // No progress yet: the history alone.
    expect(runningEta({ nowMs: 10_400, startedAtMs: 10_000, progress: 0, durations }, settings)?.atMs).toBe(11_000);
    // Longer than every past run: only the progress speaks, with less confidence.
    const late = runningEta({ nowMs: 12_000, startedAtMs: 10_000, progress: 80, durations }, settings);
    expect(late?.atMs).toBe(12_500);
    // Longer than every past run and no progress: no ETA rather than a guess.
    expect(runningEta({ nowMs: 12_000, startedAtMs: 10_000, progress: 0, durations }, settings)).toBeNull();
    // More spread, less confidence.
    const tight = runningEta({ nowMs: 10_100, startedAtMs: 10_000, progress: 0, durations }, settings);
    const loose = runningEta({ nowMs: 10_100, startedAtMs: 10_000, progress: 0, durations: durationStats([300, 700, 1_000, 1_500, 3_000]) }, settings);
    expect((loose?.confidence ?? 1) < (tight?.confidence ?? 0)).toBe(true);
  });
});

describe('ETA from history (real Redis and BullMQ, injected clock)', () => {
  const prefix = uniquePrefix('poseta');
  const keys = new SeennKeys(prefix, 'default');
  let redis: Redis;
  let queue: Queue;
  const T0 = 1_800_000_000_000;
  let clock = T0;
  const now = (): number => clock;
  const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => logger };

  function record(id: string, extra: Partial<Descriptor> = {}): JobRecord {
    return createRecord(id, 'default', { userId: 'u1', jobType: 'render', title: id, ...extra }, { queueName: 'eta', bullId: id, createdAtMs: T0, maxAttempts: 1, state: 'waiting' });
  }

  beforeAll(async () => {
    redis = connect();
    queue = new Queue('eta', { connection: redis, prefix });
    await queue.addBulk(Array.from({ length: 10 }, (_, i) => ({ name: 'render', data: {}, opts: { jobId: `e${i}` } })));
  });

  afterAll(async () => {
    await queue.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('gives no ETA without history, then one within 10% on a synthetic workload; explicit ETA wins; paused gives none', async () => {
    const reader = new PositionReader({ redis, keys, logger }, { now });
    const tenth = record('e9');
    const [bare] = await reader.decorate([tenth]);
    expect(bare?.queue).toEqual({ position: 10, total: 10, queueName: 'eta' });
    expect(bare?.estimatedCompletionAt).toBeUndefined();
    expect(bare?.etaConfidence).toBeUndefined();

    // Synthetic workload: two workers, runs of 1 s ± 10%, so one completion every 500 ms.
    const runs = 30;
    for (let k = 0; k < runs; k += 1) {
      const durationMs = 1_000 * (0.9 + 0.2 * ((k * 7919) % 101) / 100);
      await recordCompletion(redis, keys, { queueName: 'eta', finishedAtMs: T0 + k * 500, workflowId: 'render', durationMs });
    }
    clock = T0 + (runs - 1) * 500 + 100;
    const [estimated] = await reader.decorate([tenth]);
    const expectedRemainingMs = 10 * 500 + 1_000;
    const remainingMs = Date.parse(estimated?.estimatedCompletionAt ?? '') - clock;
    expect(Math.abs(remainingMs - expectedRemainingMs)).toBeLessThanOrEqual(0.1 * expectedRemainingMs);
    expect(estimated?.etaBasedOn).toBe(runs);
    expect(estimated?.etaConfidence).toBeGreaterThan(0.5);
    expect(estimated?.etaConfidence).toBeLessThanOrEqual(1);

    // The workflow id, not the job type, keys the history when it is set.
    const [otherWorkflow] = await reader.decorate([record('e9', { workflowId: 'render-4k' })]);
    expect(otherWorkflow?.estimatedCompletionAt).toBeUndefined();

    // A running job: 400 ms into a ~1 s run, 40% done.
    clock += 400;
    let running = reduce(record('e0'), { kind: 'active', at: clock - 400 });
    running = reduce(running, { kind: 'progress', at: clock, data: { seenn: 1, attempt: 1, progress: 40 } });
    const [run] = await reader.decorate([running]);
    expect(run?.status).toBe('running');
    expect(run?.queue).toBeUndefined();
    expect(Math.abs(Date.parse(run?.estimatedCompletionAt ?? '') - (clock + 600))).toBeLessThanOrEqual(100);

    // The backend's own estimate wins.
    const explicit = '2030-01-01T00:00:00.000Z';
    const [given] = await reader.decorate([record('e9', { estimatedCompletionAt: explicit })]);
    expect(given).toMatchObject({ estimatedCompletionAt: explicit, queue: { position: 10 } });
    expect(given?.etaConfidence).toBeUndefined();
    expect(given?.etaBasedOn).toBeUndefined();

    // A paused queue: position shown as paused, no ETA.
    await queue.pause();
    const [paused] = await reader.decorate([tenth]);
    expect(paused?.queue).toEqual({ position: 10, total: 10, queueName: 'eta', state: 'paused' });
    expect(paused?.estimatedCompletionAt).toBeUndefined();
    await queue.resume();

    // A queue that has finished nothing for a long time: the window is empty, no ETA.
    clock += 3_600_000;
    const [stale] = await reader.decorate([tenth]);
    expect(stale?.estimatedCompletionAt).toBeUndefined();
  });

  it('gives a running job no queue runs (a Seenn-only job) an ETA from its workflow\'s queue-less history', async () => {
    await redis.lpush(runsKey(keys, undefined, 'handwork'), 1_000, 1_000, 1_000, 1_000);
    const reader = new PositionReader({ redis, keys, logger }, { now });
    const base = record('h1', { jobType: 'handwork' });
    const queueless: JobRecord = { job: { ...base.job, status: 'running', startedAt: new Date(clock - 400).toISOString() }, x: { attempt: 1, maxAttempts: 1 } };
    const [job] = await reader.decorate([queueless]);
    expect(Date.parse(job?.estimatedCompletionAt ?? '')).toBe(clock + 600);
    expect(job?.etaBasedOn).toBe(4);
  });

  it('keeps a bounded sample and rejects bad completions without writing', async () => {
    for (let k = 0; k < 8; k += 1) await recordCompletion(redis, keys, { queueName: 'trim', finishedAtMs: T0 + k, workflowId: 'w', durationMs: k }, { durationSamples: 5, throughputSamples: 3 });
    expect(await redis.lrange(runsKey(keys, 'trim', 'w'), 0, -1)).toEqual(['7', '6', '5', '4', '3']);
    expect(await redis.llen(completionsKey(keys, 'trim'))).toBe(3);
    expect(await redis.pttl(runsKey(keys, 'trim', 'w'))).toBeGreaterThan(0);

    // Throughput only (a failed job, or one with no workflow).
    await recordCompletion(redis, keys, { queueName: 'solo', finishedAtMs: T0 });
    expect(await redis.llen(completionsKey(keys, 'solo'))).toBe(1);

    for (const bad of [
      { queueName: 'bad', finishedAtMs: -1 },
      { queueName: 'a:b', finishedAtMs: T0 },
      { queueName: 'bad', finishedAtMs: T0, durationMs: Number.NaN, workflowId: 'w2' },
      { queueName: 'bad', finishedAtMs: T0, extra: true },
    ]) {
      await expect(recordCompletion(redis, keys, bad as never)).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
    }
    expect(await redis.exists(completionsKey(keys, 'bad'), completionsKey(keys, 'a:b'), runsKey(keys, 'bad', 'w2'))).toBe(0);
  });
});
