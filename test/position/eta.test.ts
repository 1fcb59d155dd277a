import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Descriptor } from '../../src/model/descriptor.js';
import { createRecord, reduce } from '../../src/model/reducer.js';
import type { JobRecord } from '../../src/model/record.js';
import {
  delayedEta,
  durationStats,
  nthStartMs,
  queuedEta,
  runningEta,
  serviceModelOf,
  type Run,
} from '../../src/position/eta.js';
import { completionsKey, recordCompletion, runsKey } from '../../src/position/history.js';
import { POSITION_DEFAULTS } from '../../src/position/options.js';
import { PositionReader } from '../../src/position/reader.js';
import { SeennKeys } from '../../src/store/keys.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';

const settings = POSITION_DEFAULTS;

/** Runs of `slots` workers taking the next job `gapMs` after their previous one, durations in turn from `durations`. */
function backlogged(slots: number, durations: readonly number[], gapMs: number, t0 = 0): Run[] {
  const free = Array.from({ length: slots }, () => t0);
  return durations.map((durationMs, k) => {
    const slot = k % slots;
    const start = (free[slot] as number) + (k < slots ? 0 : gapMs);
    free[slot] = start + durationMs;
    return { finishedAtMs: start + durationMs, durationMs };
  });
}

const idle = { paused: false, rateLimitedMs: 0, active: 0, activeStartedAtMs: [] };

describe('ETA maths', () => {
  it('gives nothing without history, for a paused or rate-limited queue, with no worker, or beyond etaMaxMs', () => {
    const runs = backlogged(1, [1_000, 1_000, 1_000, 1_000], 0);
    const service = serviceModelOf(runs, 3);
    const durations = durationStats([1_000, 1_000, 1_000, 1_000]);
    const nowMs = 4_100;
    const base = { nowMs, position: 1, durations, service, state: idle };
    expect(durationStats([])).toBeNull();
    expect(serviceModelOf(runs.slice(0, 2), 3)).toBeNull();
    expect(queuedEta(base, settings)).not.toBeNull();
    expect(queuedEta({ ...base, durations: null }, settings)).toBeNull();
    expect(queuedEta({ ...base, service: null }, settings)).toBeNull();
    expect(queuedEta({ ...base, state: { ...idle, paused: true } }, settings)).toBeNull();
    expect(queuedEta({ ...base, state: { ...idle, rateLimitedMs: 500 } }, settings)).toBeNull();
    expect(queuedEta({ ...base, position: 1_000_000 }, settings)).toBeNull();
    expect(queuedEta({ ...base, durations: durationStats([1_000, 1_000]) }, settings)).toBeNull();
    // Nothing runs and nothing finished within throughputWindowMs: no worker serves the queue.
    expect(queuedEta({ ...base, nowMs: nowMs + settings.throughputWindowMs }, settings)).toBeNull();
    expect(
      queuedEta(
        {
          ...base,
          nowMs: nowMs + settings.throughputWindowMs,
          state: { ...idle, active: 1, activeStartedAtMs: [nowMs] },
        },
        settings,
      ),
    ).not.toBeNull();
    expect(runningEta({ nowMs: 2_000, startedAtMs: 1_500, progress: 50, durations: null }, settings)).toBeNull();
  });

  it('learns how the queue is served, not how jobs arrived: slots, run time and the backlogged gap', () => {
    // Three workers × concurrency 2, backlogged: each slot takes its next job 5 ms after the last.
    const busy = serviceModelOf(
      backlogged(
        6,
        Array.from({ length: 60 }, (_, k) => 400 + ((k * 37) % 41) - 20),
        5,
      ),
      3,
    );
    expect(busy).toMatchObject({ slots: 6, gapMs: 5 });
    expect(busy?.meanRunMs).toBeCloseTo(400, -1);
    // One worker, jobs of 400 ms arriving every 460 ms: the idle 60 ms are arrivals, not service.
    const arrivals: Run[] = Array.from({ length: 20 }, (_, k) => ({ finishedAtMs: k * 460 + 400, durationMs: 400 }));
    const served = serviceModelOf(arrivals, 3);
    expect(served).toMatchObject({ slots: 1, gapMs: 0, meanRunMs: 400 });
    // The 8th in line waits for 8 runs, not 8 arrival gaps (the old model said 8 × 460).
    const eta = queuedEta(
      {
        nowMs: 20_000,
        position: 8,
        durations: durationStats(arrivals.map((run) => run.durationMs)),
        service: served,
        state: idle,
      },
      settings,
    );
    expect(eta?.atMs).toBe(20_000 + 7 * 400 + 400);
    // A queue that never had two jobs at once but runs four now: the active jobs count.
    const wide = queuedEta(
      {
        nowMs: 20_000,
        position: 8,
        durations: durationStats([400, 400, 400]),
        service: served,
        state: { ...idle, active: 4, activeStartedAtMs: [19_900, 19_900, 19_700, 19_700] },
      },
      settings,
    );
    // Slots free at 300, 300, 100, 100 ms, then every 400: the 8th start is the second round's last.
    expect(wide?.atMs).toBe(20_000 + 700 + 400);
  });

  it('queued: the time to serve the jobs ahead (what runs now, then one run per slot per cycle) + its own run', () => {
    const durations = durationStats([1_000, 1_000, 1_000, 1_000]);
    const service = serviceModelOf(backlogged(1, [1_000, 1_000, 1_000, 1_000], 10), 3);
    expect(service).toMatchObject({ slots: 1, gapMs: 10, meanRunMs: 1_000 });
    // The running job is 300 ms in: it frees the worker in 700 ms (+10); the 3rd in line starts two
    // cycles later and runs its own 1 000 ms.
    const eta = queuedEta(
      { nowMs: 50_000, position: 3, durations, service, state: { ...idle, active: 1, activeStartedAtMs: [49_700] } },
      settings,
    );
    expect(eta?.atMs).toBe(50_000 + 710 + 2 * 1_010 + 1_000);
    expect(eta?.basedOn).toBe(4);
    // Its own workflow's run time, not the queue's mean.
    const short = queuedEta(
      {
        nowMs: 50_000,
        position: 1,
        durations: durationStats([200, 200, 200]),
        service,
        state: { ...idle, active: 1, activeStartedAtMs: [49_700] },
      },
      settings,
    );
    expect(short?.atMs).toBe(50_000 + 710 + 200);
    expect(nthStartMs([0, 0], 100, 5)).toBe(200);
    expect(nthStartMs([50, 300], 400, 3)).toBe(450);
  });

  it('delayed: its delay, then the queue', () => {
    const durations = durationStats([1_000, 1_000, 1_000]);
    const service = serviceModelOf(backlogged(2, [1_000, 1_000, 1_000, 1_000], 0), 3);
    // Due in 10 s, the queue drains long before: run-at + its run.
    expect(delayedEta({ nowMs: 0, runAtMs: 10_000, queued: 3, durations, service, state: idle }, settings)?.atMs).toBe(
      11_000,
    );
    // Due in 100 ms behind 7 queued jobs on 2 slots: it starts when the 8th slot frees (3 cycles).
    expect(delayedEta({ nowMs: 0, runAtMs: 100, queued: 7, durations, service, state: idle }, settings)?.atMs).toBe(
      3_000 + 1_000,
    );
    expect(
      delayedEta({ nowMs: 0, runAtMs: 100, queued: 7, durations, service, state: { ...idle, paused: true } }, settings),
    ).toBeNull();
  });

  it('confidence is the modelled chance of landing within ±20 %: high for steady runs, low for scattered ones', () => {
    const steady = Array.from({ length: 40 }, (_, k) => 1_000 + ((k * 13) % 21) - 10);
    const scattered = Array.from({ length: 40 }, (_, k) => 200 + ((k * 7919) % 97) * 30);
    const at = (runs: number[], position: number): number => {
      const history = backlogged(1, runs, 0);
      const service = serviceModelOf(history, 3);
      return (
        queuedEta(
          {
            nowMs: (history.at(-1)?.finishedAtMs ?? 0) + 100,
            position,
            durations: durationStats(runs),
            service,
            state: idle,
          },
          settings,
        )?.confidence ?? -1
      );
    };
    expect(at(steady, 1)).toBeGreaterThan(0.9);
    expect(at(scattered, 1)).toBeLessThan(0.5);
    expect(at(steady, 5)).toBeGreaterThan(0.8);
    // Few samples: shrunk.
    expect(at(steady.slice(0, 3), 1)).toBeLessThan(at(steady, 1));
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
    const loose = runningEta(
      { nowMs: 10_100, startedAtMs: 10_000, progress: 0, durations: durationStats([300, 700, 1_000, 1_500, 3_000]) },
      settings,
    );
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
  const logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
    child: () => logger,
  };

  function record(id: string, extra: Partial<Descriptor> = {}): JobRecord {
    return createRecord(
      id,
      'default',
      { userId: 'u1', jobType: 'render', title: id, ...extra },
      { queueName: 'eta', bullId: id, createdAtMs: T0, maxAttempts: 1, state: 'waiting' },
    );
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

    // Synthetic workload: two workers, backlogged, runs of 1 s ± 10 %, 5 ms between one run and the next.
    const runs = 30;
    const durations = Array.from({ length: runs }, (_, k) =>
      Math.round(1_000 * (0.9 + (0.2 * ((k * 7919) % 101)) / 100)),
    );
    const history = backlogged(2, durations, 5, T0);
    for (const [k, run] of history.entries())
      await recordCompletion(redis, keys, {
        queueName: 'eta',
        finishedAtMs: run.finishedAtMs,
        workflowId: 'render',
        durationMs: durations[k] as number,
      });
    clock = Math.max(...history.map((run) => run.finishedAtMs)) + 100;
    const [estimated] = await reader.decorate([tenth]);
    // Nothing runs now: both slots take jobs at once; the 10th starts after four cycles per slot.
    const mean = durations.reduce((sum, d) => sum + d, 0) / runs;
    const expectedRemainingMs = 5 + 4 * (mean + 5) + 1_000;
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

  it("gives a running job no queue runs (a Seenn-only job) an ETA from its workflow's queue-less history", async () => {
    await redis.lpush(runsKey(keys, undefined, 'handwork'), 1_000, 1_000, 1_000, 1_000);
    const reader = new PositionReader({ redis, keys, logger }, { now });
    const base = record('h1', { jobType: 'handwork' });
    const queueless: JobRecord = {
      job: { ...base.job, status: 'running', startedAt: new Date(clock - 400).toISOString() },
      x: { attempt: 1, maxAttempts: 1 },
    };
    const [job] = await reader.decorate([queueless]);
    expect(Date.parse(job?.estimatedCompletionAt ?? '')).toBe(clock + 600);
    expect(job?.etaBasedOn).toBe(4);
  });

  it('gives a delayed (pending) job an ETA: its delay, then the queue; none when the job is not delayed', async () => {
    const dly = new Queue('dly', { connection: redis, prefix });
    const nowMs = Date.now();
    for (const run of backlogged(1, [200, 200, 200, 200], 0, nowMs - 1_000))
      await recordCompletion(redis, keys, {
        queueName: 'dly',
        finishedAtMs: run.finishedAtMs,
        workflowId: 'render',
        durationMs: run.durationMs,
      });
    await dly.add('render', {}, { jobId: 'd1', delay: 30_000 });
    const reader = new PositionReader({ redis, keys, logger });
    const pending = createRecord(
      'd1',
      'default',
      { userId: 'u1', jobType: 'render', title: 'd1' },
      { queueName: 'dly', bullId: 'd1', createdAtMs: nowMs, maxAttempts: 1, state: 'delayed' },
    );
    expect(pending.job.status).toBe('pending');
    const [job] = await reader.decorate([pending]);
    const runAtMs = (await dly.getJob('d1'))?.timestamp ?? 0;
    expect(job?.queue).toBeUndefined();
    expect(Math.abs(Date.parse(job?.estimatedCompletionAt ?? '') - (runAtMs + 30_000 + 200))).toBeLessThanOrEqual(5);
    // A pending job BullMQ does not hold as delayed (here: unknown to BullMQ) gets none.
    const [unknown] = await reader.decorate([{ ...pending, x: { ...pending.x, bullId: 'nope' } }]);
    expect(unknown?.estimatedCompletionAt).toBeUndefined();
    await dly.close();
  });

  it('keeps a bounded sample and rejects bad completions without writing', async () => {
    for (let k = 0; k < 8; k += 1)
      await recordCompletion(
        redis,
        keys,
        { queueName: 'trim', finishedAtMs: T0 + k, workflowId: 'w', durationMs: k },
        { durationSamples: 5, throughputSamples: 3 },
      );
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
    expect(
      await redis.exists(completionsKey(keys, 'bad'), completionsKey(keys, 'a:b'), runsKey(keys, 'bad', 'w2')),
    ).toBe(0);
  });
});
