/**
 * `etaConfidence` calibrated against real outcomes (issue 18, item 2): predictions recorded on read
 * (first + one mid-wait per job), scored when the job completes, mapped onto the measured share of
 * hits. Real Redis and BullMQ; the reader's clock is injected, so no sleep stands in for time.
 */
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecord, reduce } from '../../src/model/reducer.js';
import type { JobRecord } from '../../src/model/record.js';
import {
  addEtaScoring,
  Calibration,
  calibratedBuckets,
  calibrationOf,
  PredictionRecorder,
  scoreEtaPredictions,
  type CalibrationBucket,
} from '../../src/position/calibration.js';
import { completionsKey, queueRunsKey, readHistory, recordCompletion, runsKey } from '../../src/position/history.js';
import { POSITION_DEFAULTS } from '../../src/position/options.js';
import { PositionReader } from '../../src/position/reader.js';
import { PositionWatcher, type PositionUpdate } from '../../src/position/watcher.js';
import { Seenn } from '../../src/seenn.js';
import { SeennKeys } from '../../src/store/keys.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';
import { nextEvent, waitFor } from '../helpers/wait.js';

const empty = (): CalibrationBucket[] => Array.from({ length: 10 }, () => ({ samples: 0, hits: 0, confidenceSum: 0 }));

/** Records ten 100 ms `render` runs of `queueName` that finished in the last five seconds (enough history for ETAs). */
async function recordRecentRuns(client: Redis, keys: SeennKeys, queueName: string): Promise<void> {
  const t = Date.now() - 5_000;
  for (let k = 0; k < 10; k += 1)
    await recordCompletion(client, keys, {
      queueName,
      finishedAtMs: t + k * 100,
      workflowId: 'render',
      durationMs: 100,
    });
}

/** Jobs of a predictions hash still waiting to be scored (scored ones leave a `done` marker). */
async function pendingPredictions(client: Redis, key: string): Promise<number> {
  return Object.values(await client.hgetall(key)).filter((value) => value !== 'done').length;
}

describe('calibration maths', () => {
  it('maps a bucket to its measured share, with a prior toward the model; empty buckets keep the model value, clamped monotone', () => {
    const histogram = empty();
    // 100 predictions at model confidence 0.7, 20 hits.
    histogram[7] = { samples: 100, hits: 20, confidenceSum: 70 };
    expect(new Calibration(histogram, 0).map(0.74)).toBe(0.2);
    expect(new Calibration(histogram, 10).map(0.74)).toBe(Math.round(((20 + 10 * 0.7) / 110) * 100) / 100);
    const calibration = new Calibration(histogram, 0);
    // No outcomes below: the model's value, but never above the measured bucket above it.
    expect(calibration.map(0.1)).toBe(0.1);
    expect(calibration.map(0.55)).toBe(0.2);
    // No outcomes above: the model's value (it is above 0.2 already).
    expect(calibration.map(0.95)).toBe(0.95);
    // Few samples: mostly the model.
    const few = empty();
    few[9] = { samples: 2, hits: 0, confidenceSum: 1.9 };
    expect(new Calibration(few, 10).map(0.95)).toBeCloseTo((0 + 10 * 0.95) / 12, 2);
    // Less than one (decayed) sample: as good as none.
    few[9] = { samples: 0.5, hits: 0, confidenceSum: 0.475 };
    expect(new Calibration(few, 10).map(0.95)).toBe(0.95);
  });

  it('keeps the mapping monotone (pool adjacent violators, weighted by samples)', () => {
    const histogram = empty();
    histogram[5] = { samples: 30, hits: 27, confidenceSum: 16.5 };
    histogram[8] = { samples: 90, hits: 45, confidenceSum: 76.5 };
    const values = calibratedBuckets(histogram, 0);
    expect(values[5]).toBeCloseTo(values[8] as number, 10);
    expect(values[5]).toBeCloseTo((27 + 45) / 120, 10);
    const calibration = new Calibration(histogram, 0);
    let last = -1;
    for (let c = 0; c <= 1.0001; c += 0.01) {
      const v = calibration.map(c);
      expect(v).toBeGreaterThanOrEqual(last);
      last = v;
    }
    expect(calibrationOf({}, 'waiting')).toBeNull();
    expect(calibrationOf({ n3: '4', h3: '9', s3: '1.2' }, 'waiting')?.[3]).toEqual({
      samples: 4,
      hits: 4,
      confidenceSum: 1.2,
    });
    // Running ETAs have their own buckets, 10–19.
    expect(calibrationOf({ n3: '4', h3: '9', s3: '1.2' }, 'running')).toBeNull();
    expect(calibrationOf({ n13: '4', h13: '1', s13: '1.2' }, 'running')?.[3]).toEqual({
      samples: 4,
      hits: 1,
      confidenceSum: 1.2,
    });
  });
});

describe('calibration against outcomes (real Redis and BullMQ, injected clock)', () => {
  const prefix = uniquePrefix('poscal');
  const keys = new SeennKeys(prefix, 'default');
  const logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
    child: () => logger,
  };
  let redis: Redis;
  const queues: Queue[] = [];
  let clock = 0;
  const now = (): number => clock;

  /** A queue `name` with 6 waiting BullMQ jobs `<name>0..5`, and a history of 30 runs of 1 s ± 2 % on one worker that ended just now. */
  async function setUpQueue(name: string): Promise<void> {
    const queue = new Queue(name, { connection: redis, prefix });
    queues.push(queue);
    await queue.addBulk(
      Array.from({ length: 6 }, (_, i) => ({ name: 'render', data: {}, opts: { jobId: `${name}${i}` } })),
    );
    let t = Date.now() - 40_000;
    for (let k = 0; k < 30; k += 1) {
      const durationMs = 980 + ((k * 7) % 41);
      t += durationMs;
      await recordCompletion(redis, keys, { queueName: name, finishedAtMs: t, workflowId: 'render', durationMs });
    }
    clock = t + 10;
  }

  /** A queued Seenn record `id` that BullMQ knows as `bullId` (many records may point at one waiting job: same ETA, distinct predictions). */
  function record(id: string, queueName: string, bullId: string): JobRecord {
    return createRecord(
      id,
      'default',
      { userId: 'u1', jobType: 'render', title: id },
      { queueName, bullId, createdAtMs: clock, maxAttempts: 1, state: 'waiting' },
    );
  }

  beforeAll(() => {
    redis = connect();
  });

  afterAll(async () => {
    for (const queue of queues) await queue.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it("records a job's first and one mid-wait prediction however often it is read, and scores them when it completes", async () => {
    await setUpQueue('rec');
    const reader = new PositionReader({ redis, keys, logger }, { now });
    const job = record('j1', 'rec', 'rec3');
    const [first] = await reader.explain([job]);
    const eta = first?.view.eta;
    expect(eta).toBeDefined();
    // No outcome yet: the model's own value.
    expect(first?.job.etaConfidence).toBe(eta?.modelConfidence);
    const madeAt = clock;
    const end = eta?.atMs as number;
    for (let i = 0; i < 50; i += 1) await reader.decorate([job]);
    // A second reader (another process): its memo is empty, the script still records nothing new.
    await new PositionReader({ redis, keys, logger }, { now }).decorate([job]);
    expect((await redis.hget(keys.etaPredictions('rec'), 'j1'))?.split(';')).toHaveLength(1);
    // Past the middle of the time left: one more, and only one.
    clock = madeAt + Math.ceil((end - madeAt) / 2);
    for (let i = 0; i < 20; i += 1) await reader.decorate([job]);
    const stored = (await redis.hget(keys.etaPredictions('rec'), 'j1'))?.split(';') ?? [];
    expect(stored).toHaveLength(2);
    expect(stored[0]).toBe(`${String(eta?.modelConfidence)},${madeAt},${end},0`);
    expect(await redis.zscore(keys.etaPredictionTimes('rec'), 'j1')).toBe(String(madeAt));

    // It completes right on its first ETA: both predictions are scored, the first a hit.
    await recordCompletion(redis, keys, { queueName: 'rec', finishedAtMs: end, jobId: 'j1' });
    expect(await redis.hget(keys.etaPredictions('rec'), 'j1')).toBe('done');
    // A read that saw the job still waiting just before it finished records nothing afterwards.
    await new PositionReader({ redis, keys, logger }, { now }).decorate([job]);
    expect(await redis.hget(keys.etaPredictions('rec'), 'j1')).toBe('done');
    // The marker stays in the order (the job cap or the TTL drops it).
    expect(await redis.zcard(keys.etaPredictionTimes('rec'))).toBe(1);
    const histogram = calibrationOf(await redis.hgetall(keys.etaCalibration('rec')), 'waiting');
    const total = (histogram ?? []).reduce((sum, b) => sum + b.samples, 0);
    const hits = (histogram ?? []).reduce((sum, b) => sum + b.hits, 0);
    expect(total).toBeCloseTo(1 + (1 - 1 / 500), 5);
    expect(hits).toBeGreaterThanOrEqual(0.99);
    expect(await redis.pttl(keys.etaCalibration('rec'))).toBeGreaterThan(0);

    // A failed job's predictions are dropped, not scored.
    await reader.decorate([record('j2', 'rec', 'rec4')]);
    expect(await redis.hexists(keys.etaPredictions('rec'), 'j2')).toBe(1);
    const before = await redis.hgetall(keys.etaCalibration('rec'));
    await recordCompletion(redis, keys, { queueName: 'rec', finishedAtMs: clock + 100_000, jobId: 'j2', failed: true });
    expect(await redis.hget(keys.etaPredictions('rec'), 'j2')).toBe('done');
    expect(await redis.hgetall(keys.etaCalibration('rec'))).toEqual(before);
  });

  it('pulls the confidence of a queue whose predictions are systematically late down to the measured share, and back up as it recovers', async () => {
    await setUpQueue('late');
    const reader = new PositionReader({ redis, keys, logger }, { now });
    const [probe] = await reader.explain([record('probe', 'late', 'late5')]);
    const model = probe?.view.eta?.modelConfidence as number;
    expect(model).toBeGreaterThan(0.5);
    expect(probe?.job.etaConfidence).toBe(model);

    // 40 jobs, each read once while queued (same place, so the same model ETA); 8 end on time, 32
    // end 50 % late (outside ±20 %).
    const window = { etaCalibrationWindowSamples: 1_000_000 };
    const score = async (id: string, onTime: boolean): Promise<void> => {
      const [read] = await reader.explain([record(id, 'late', 'late5')]);
      const madeAt = clock;
      const end = read?.view.eta?.atMs as number;
      expect(read?.view.eta?.modelConfidence).toBe(model);
      const finishedAtMs = onTime ? end : end + Math.round(0.5 * (end - madeAt));
      // No run recorded (only the outcome): the queue's service model, and so the model ETA, stay put.
      await recordCompletion(redis, keys, { queueName: 'late', finishedAtMs, jobId: id }, window);
    };
    for (let k = 0; k < 40; k += 1) await score(`l${k}`, k % 5 === 0);
    const [after] = await reader.decorate([record('after', 'late', 'late5')]);
    // (hits + k · model) / (n + k) with the prior of 10: (8 + 10 · model) / 50.
    expect(Math.abs((after?.etaConfidence as number) - (8 + 10 * model) / 50)).toBeLessThanOrEqual(0.0051);
    expect(after?.etaConfidence).toBeLessThan(model - 0.25);
    // Without a prior: exactly the measured share.
    const [measured] = await new PositionReader(
      { redis, keys, logger },
      { now, etaCalibrationPriorSamples: 0 },
    ).decorate([record('m', 'late', 'late5')]);
    expect(measured?.etaConfidence).toBe(0.2);
    // A running job's ETA is another model: the waiting ETAs' outcomes do not touch its confidence.
    const running = reduce(record('run', 'late', 'late5'), { kind: 'active', at: clock - 100 });
    const [run] = await reader.explain([running]);
    expect(run?.job.status).toBe('running');
    expect(run?.view.eta?.modelConfidence).toBeTypeOf('number');
    expect(run?.job.etaConfidence).toBe(run?.view.eta?.modelConfidence);
    expect((await redis.hget(keys.etaPredictions('late'), 'run'))?.endsWith(',1')).toBe(true);
    // Off: the model's value, and the read writes no prediction.
    const [off] = await new PositionReader({ redis, keys, logger }, { now, etaCalibration: false }).decorate([
      record('off', 'late', 'late5'),
    ]);
    expect(off?.etaConfidence).toBe(model);
    expect(await redis.hexists(keys.etaPredictions('late'), 'off')).toBe(0);

    // The queue recovers: with a window of 20, 60 on-time jobs outweigh the 32 late ones.
    for (let k = 0; k < 60; k += 1) {
      const [read] = await reader.explain([record(`r${k}`, 'late', 'late5')]);
      await recordCompletion(
        redis,
        keys,
        { queueName: 'late', finishedAtMs: read?.view.eta?.atMs as number, jobId: `r${k}` },
        { etaCalibrationWindowSamples: 20 },
      );
    }
    const [recovered] = await reader.decorate([record('rec', 'late', 'late5')]);
    expect(recovered?.etaConfidence).toBeGreaterThan(0.8 * model);
  });

  it('keeps at most etaCalibrationMaxJobs jobs of predictions per queue (oldest dropped), with a TTL', async () => {
    await setUpQueue('bound');
    const reader = new PositionReader(
      { redis, keys, logger },
      { now, etaCalibrationMaxJobs: 10, historySeconds: 3_600 },
    );
    for (let k = 0; k < 25; k += 1) {
      clock += 1;
      await reader.decorate([record(`b${k}`, 'bound', 'bound2')]);
    }
    expect(await redis.hlen(keys.etaPredictions('bound'))).toBe(10);
    expect(await redis.zrange(keys.etaPredictionTimes('bound'), 0, -1)).toEqual(
      Array.from({ length: 10 }, (_, i) => `b${15 + i}`),
    );
    for (const key of [keys.etaPredictions('bound'), keys.etaPredictionTimes('bound')]) {
      const ttl = await redis.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(3_600_000);
    }
    // A dropped job completes: nothing to score.
    await recordCompletion(redis, keys, { queueName: 'bound', finishedAtMs: clock + 5_000, jobId: 'b0' });
    expect(await redis.exists(keys.etaCalibration('bound'))).toBe(0);
  });

  it('reads the calibration with the ETA history in the same round trip, per queue', async () => {
    const history = await readHistory(
      redis,
      keys,
      [{ queueName: 'late' }, { queueName: 'nothing' }],
      POSITION_DEFAULTS,
    );
    expect(history.queues.get('late')?.calibration.waiting?.some((b) => b.samples > 0)).toBe(true);
    expect(history.queues.get('late')?.calibration.running).toBeNull();
    expect(history.queues.get('nothing')?.calibration).toEqual({ waiting: null, running: null });
  });
});

describe('scoring in batches (real Redis)', () => {
  const prefix = uniquePrefix('poscalbatch');
  const keys = new SeennKeys(prefix, 'default');
  let redis: Redis;

  beforeAll(() => {
    redis = connect();
  });

  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it("scores a read's finished jobs in one call exactly as one call per job does; a queue without predictions scores nothing", async () => {
    const settings = { etaCalibrationWindowSamples: 10, historySeconds: 600 };
    const t0 = Date.now();
    // Per job: model confidence, predicted end, finished at (hits, misses, a failed job, one finished too early).
    const jobs = [
      { id: 'a', c: 0.55, end: t0 + 10_000, finished: t0 + 10_500, failed: false },
      { id: 'b', c: 0.85, end: t0 + 10_000, finished: t0 + 20_000, failed: false },
      { id: 'c', c: 0.35, end: t0 + 5_000, finished: t0 + 5_000, failed: true },
      { id: 'd', c: 0.95, end: t0 + 8_000, finished: t0 + 8_100, failed: false },
    ];
    for (const queueName of ['one', 'batch']) {
      const recorder = new PredictionRecorder(redis, keys, { etaCalibrationMaxJobs: 100, historySeconds: 600 });
      for (const job of jobs) {
        // A waiting BullMQ job's hash (a job BullMQ finished records nothing).
        await redis.hset(keys.bullJob(queueName, job.id), 'timestamp', t0);
        recorder.note(queueName, job.id, job.id, 'waiting', job.c, job.end, t0);
      }
      await recorder.flush();
      await redis.hset(keys.etaCalibration(queueName), 'n19', '1000');
    }
    for (const job of jobs)
      await scoreEtaPredictions(
        redis,
        keys,
        { queueName: 'one', jobId: job.id, finishedAtMs: job.finished, failed: job.failed },
        settings,
      );
    const pipeline = redis.pipeline();
    // 'a' twice: scored once.
    const outcomes = [...jobs, jobs[0] as (typeof jobs)[number]].map((job) => ({
      jobId: job.id,
      finishedAtMs: job.finished,
      failed: job.failed,
    }));
    const check = addEtaScoring(pipeline, redis, keys, 'batch', outcomes, settings);
    expect(pipeline.length).toBe(1);
    const replies = (await pipeline.exec()) ?? [];
    expect(await check(replies)).toBeNull();
    const scored = replies[0]?.[1];
    expect(scored === 3 || (replies[0]?.[0]?.message ?? '').startsWith('NOSCRIPT')).toBe(true);
    expect(await redis.hgetall(keys.etaCalibration('batch'))).toEqual(await redis.hgetall(keys.etaCalibration('one')));
    expect(Number(await redis.hget(keys.etaCalibration('batch'), 'n19'))).toBeCloseTo(1000 * 0.9 ** 3, 0);
    expect(await pendingPredictions(redis, keys.etaPredictions('batch'))).toBe(0);

    const none = redis.pipeline();
    const noneCheck = addEtaScoring(none, redis, keys, 'never', outcomes, settings);
    const noneReplies = (await none.exec()) ?? [];
    expect(await noneCheck(noneReplies)).toBeNull();
    expect(await redis.exists(keys.etaCalibration('never'))).toBe(0);
    // Nothing to score: nothing added to the pipeline.
    const empty = redis.pipeline();
    addEtaScoring(empty, redis, keys, 'batch', [], settings);
    expect(empty.length).toBe(0);
  });
});

describe('a first ETA read racing the completion (real Redis and BullMQ, scripts driven in the racy order)', () => {
  const prefix = uniquePrefix('poscalrace');
  const keys = new SeennKeys(prefix, 'default');
  let redis: Redis;
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(() => {
    redis = connect();
  });

  afterAll(async () => {
    for (const close of closers) await close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('records nothing for a job BullMQ finished (or removed) after its ETA was computed and before it was recorded, once the publisher scored it', async () => {
    const queue = new Queue('race', { connection: redis, prefix });
    const worker = new Worker('race', null, { connection: connect(), prefix, autorun: false });
    closers.push(
      () => queue.close(),
      () => worker.close(),
    );
    await queue.add('render', {}, { jobId: 'done1' });
    await queue.add('render', {}, { jobId: 'gone1' });
    await queue.add('render', {}, { jobId: 'wait1' });
    const settings = { etaCalibrationMaxJobs: 100, historySeconds: 600 };
    const recorder = new PredictionRecorder(redis, keys, settings);
    const t0 = Date.now();
    // 1. A read computes the first ETA of each job while all three wait (noted, not written yet).
    recorder.note('race', 's-done1', 'done1', 'waiting', 0.6, t0 + 10_000, t0);
    recorder.note('race', 's-gone1', 'gone1', 'waiting', 0.6, t0 + 20_000, t0);
    recorder.note('race', 's-wait1', 'wait1', 'waiting', 0.6, t0 + 30_000, t0);
    // 2. BullMQ finishes `done1` (a worker completes it) and `gone1` is removed (removeOnComplete, a cancel).
    const job = await worker.getNextJob('token');
    expect(job?.id).toBe('done1');
    await job?.moveToCompleted('ok', 'token', false);
    expect(await queue.remove('gone1')).toBe(1);
    // 3. The publisher applies `done1`'s completion and scores it: no prediction recorded yet, nothing to score.
    expect(
      await scoreEtaPredictions(
        redis,
        keys,
        { queueName: 'race', jobId: 's-done1', finishedAtMs: Date.now(), failed: false },
        {
          etaCalibrationWindowSamples: 500,
          historySeconds: 600,
        },
      ),
    ).toBe(0);
    // 4. The read records its predictions: only the job still waiting gets one; none is left unscored for good.
    await recorder.flush();
    expect(await redis.hkeys(keys.etaPredictions('race'))).toEqual(['s-wait1']);
    expect(await redis.zrange(keys.etaPredictionTimes('race'), 0, -1)).toEqual(['s-wait1']);
    // The finished job is done for this recorder (no Redis call for it again); later reads record nothing either.
    recorder.note('race', 's-done1', 'done1', 'waiting', 0.6, t0 + 10_000, t0 + 60_000);
    expect(recorder.pendingJobs).toBe(0);
    const other = new PredictionRecorder(redis, keys, settings);
    other.note('race', 's-done1', 'done1', 'waiting', 0.6, t0 + 10_000, t0 + 1);
    await other.flush();
    expect(await redis.hexists(keys.etaPredictions('race'), 's-done1')).toBe(0);
  });
});

describe('calibration through the publisher (real workers)', () => {
  const prefix = uniquePrefix('poscalpub');
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

  it('records the ETA a watcher gives a watched job (live positions)', async () => {
    const keys = seenn.context.keys;
    await recordRecentRuns(redis, keys, 'watched');
    const job = await seenn.jobs.start({ queue: 'watched', userId: 'u1', jobType: 'render', title: 'w' });
    const watcher = new PositionWatcher(seenn.context, { positionIntervalMs: 50 });
    try {
      const next = nextEvent<[PositionUpdate]>(watcher, 'position');
      watcher.watch('u1', job.id);
      const [update] = await next;
      expect(update.job.etaConfidence).toBeTypeOf('number');
      await waitFor(async () => (await redis.hexists(keys.etaPredictions('watched'), job.id)) === 1, {
        what: 'the watcher to record the prediction',
      });
    } finally {
      await watcher.close();
    }
  });

  it(
    'records the predictions of reads while queued and scores them when the publisher sees the jobs complete',
    { timeout: 30_000 },
    async () => {
      const keys = seenn.context.keys;
      await recordRecentRuns(redis, keys, 'pub');
      const ids: string[] = [];
      for (let k = 0; k < 3; k += 1)
        ids.push((await seenn.jobs.start({ queue: 'pub', userId: 'u1', jobType: 'render', title: `j${k}` })).id);
      for (const id of ids) expect((await seenn.jobs.get(id))?.etaConfidence).toBeTypeOf('number');
      expect(await redis.hlen(keys.etaPredictions('pub'))).toBe(3);

      const publisher = seenn.publisher({ queues: ['pub'] });
      await publisher.start();
      const workerConnection = connect();
      const worker = new Worker(
        'pub',
        seenn.processor(async () => ({})),
        { connection: workerConnection, prefix },
      );
      try {
        await waitFor(
          async () =>
            (await Promise.all(ids.map((id) => seenn.jobs.get(id)))).every((job) => job?.status === 'completed'),
          { what: 'the jobs to complete', timeoutMs: 20_000 },
        );
        await waitFor(async () => (await pendingPredictions(redis, keys.etaPredictions('pub'))) === 0, {
          what: 'the predictions to be scored',
        });
        const histogram = calibrationOf(await redis.hgetall(keys.etaCalibration('pub')), 'waiting');
        expect((histogram ?? []).reduce((sum, b) => sum + b.samples, 0)).toBeGreaterThan(2.9);
      } finally {
        await worker.close();
        await workerConnection.quit();
        await publisher.close();
      }
    },
  );
  it(
    "writes the publisher's completion history and scores with the instance's positions options (durationSamples, throughputSamples, historySeconds, etaCalibrationWindowSamples)",
    { timeout: 30_000 },
    async () => {
      const optsPrefix = uniquePrefix('poscalopts');
      const tuned = new Seenn({
        connection: redis,
        prefix: optsPrefix,
        positions: { durationSamples: 3, throughputSamples: 5, historySeconds: 600, etaCalibrationWindowSamples: 10 },
      });
      const keys = tuned.context.keys;
      // 10 runs recorded with the defaults, so the queue's jobs get ETAs (and predictions) on read.
      await recordRecentRuns(redis, keys, 'opts');
      // A histogram entry of the other kind: every prediction scored multiplies it by 1 − 1/window.
      await redis.hset(keys.etaCalibration('opts'), 'n19', '1000');
      const ids: string[] = [];
      for (let k = 0; k < 3; k += 1)
        ids.push((await tuned.jobs.start({ queue: 'opts', userId: 'u1', jobType: 'render', title: `j${k}` })).id);
      for (const id of ids) expect((await tuned.jobs.get(id))?.etaConfidence).toBeTypeOf('number');

      const publisher = tuned.publisher({ queues: ['opts'] });
      await publisher.start();
      const workerConnection = connect();
      const worker = new Worker(
        'opts',
        tuned.processor(async () => ({})),
        { connection: workerConnection, prefix: optsPrefix },
      );
      try {
        await waitFor(
          async () =>
            (await Promise.all(ids.map((id) => tuned.jobs.get(id)))).every((job) => job?.status === 'completed'),
          { what: 'the jobs to complete', timeoutMs: 20_000 },
        );
        await waitFor(async () => (await pendingPredictions(redis, keys.etaPredictions('opts'))) === 0, {
          what: 'the predictions to be scored',
        });
        expect(await redis.llen(runsKey(keys, 'opts', 'render'))).toBe(3);
        expect(await redis.llen(completionsKey(keys, 'opts'))).toBe(5);
        expect(await redis.llen(queueRunsKey(keys, 'opts'))).toBe(5);
        const ttlMs = await redis.pttl(completionsKey(keys, 'opts'));
        expect(ttlMs).toBeGreaterThan(0);
        expect(ttlMs).toBeLessThanOrEqual(600_000);
        // 3 to 6 predictions scored (first ETAs, and mid-wait ones of the reads above): 1000 · 0.9^k ≤ 729
        // with a window of 10; with the default window (500) it would stay above 988.
        const decayed = Number(await redis.hget(keys.etaCalibration('opts'), 'n19'));
        expect(decayed).toBeLessThan(730);
        expect(decayed).toBeGreaterThan(500);
      } finally {
        await worker.close();
        await workerConnection.quit();
        await publisher.close();
        await tuned.close();
        await deletePrefix(redis, optsPrefix);
      }
    },
  );
});
