import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecord } from '../../src/model/reducer.js';
import { calibrationOf, PredictionRecorder } from '../../src/position/calibration.js';
import { completionsKey, queueRunsKey, readHistory, recordCompletion, runsKey } from '../../src/position/history.js';
import { lookupPositions, rankIndexKeys } from '../../src/position/lookup.js';
import { HISTORY_DEFAULTS } from '../../src/position/options.js';
import { PositionWatcher, type PositionUpdate } from '../../src/position/watcher.js';
import { JobStore, RETENTION_DEFAULTS } from '../../src/store/job-store.js';
import { SeennKeys } from '../../src/store/keys.js';
import { nextEvent, waitFor } from '../helpers/wait.js';
import { startTwoMasters, type TwoMasters } from './two-masters.js';

const T0 = 1_800_000_000_000;
const keys = new SeennKeys('bull', 'default');
const logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => logger,
};
let cluster: TwoMasters;
let client: Cluster;
// The position functions take an ioredis `Redis`; a `Cluster` speaks the same commands (typing the
// connection as `Redis | Cluster` is the connection work of issue 11, outside src/position).
let redis: Redis;

beforeAll(async () => {
  cluster = await startTwoMasters();
  client = cluster.connect();
  redis = client as unknown as Redis;
}, 30_000);

afterAll(async () => {
  await client?.quit();
  await cluster?.stop();
});

describe('queue positions and ETA history on a two-master Redis Cluster (issue 11)', () => {
  it('keeps every ETA history key of a queue in the queue slot, for queues on different masters', async () => {
    // Queues tagged per queue land on different masters; the workflows' names are chosen so that a
    // key without the queue's tag would land on the other master.
    expect(await cluster.masterOf('bull:{video}:wait')).not.toBe(await cluster.masterOf('bull:{images}:wait'));
    for (let k = 0; k < 5; k += 1) {
      await recordCompletion(redis, keys, {
        queueName: '{video}',
        finishedAtMs: T0 + k * 100,
        workflowId: 'render',
        durationMs: 100,
      });
      await recordCompletion(redis, keys, {
        queueName: '{images}',
        finishedAtMs: T0 + k * 50,
        workflowId: 'encode',
        durationMs: 50 + k,
      });
    }
    for (const [queue, workflow] of [
      ['{video}', 'render'],
      ['{images}', 'encode'],
    ] as const) {
      const slot = await client.call('CLUSTER', 'KEYSLOT', `bull:${queue}:wait`);
      for (const key of [completionsKey(keys, queue), queueRunsKey(keys, queue), runsKey(keys, queue, workflow)]) {
        expect(await client.call('CLUSTER', 'KEYSLOT', key)).toBe(slot);
      }
    }
    const history = await readHistory(
      redis,
      keys,
      [
        { queueName: '{video}', workflowId: 'render' },
        { queueName: '{images}', workflowId: 'encode' },
        { queueName: '{images}' },
      ],
      HISTORY_DEFAULTS,
    );
    expect(history.queues.get('{video}')?.durations.get('render')).toEqual([100, 100, 100, 100, 100]);
    expect(history.queues.get('{images}')?.durations.get('encode')).toEqual([54, 53, 52, 51, 50]);
    expect(history.queues.get('{images}')?.finishedAtMs).toHaveLength(5);
    expect(history.queues.get('{video}')?.runs[0]).toEqual({ finishedAtMs: T0 + 400, durationMs: 100 });
  });

  it('keeps each queue ETA predictions and calibration in the queue slot, and scores them there (issue 18)', async () => {
    const recorder = new PredictionRecorder(redis, keys, { etaCalibrationMaxJobs: 100, historySeconds: 3_600 });
    for (const queue of ['{video}', '{images}']) {
      // Their BullMQ hashes (waiting jobs): the record script reads them in the same slot.
      for (const id of ['a', 'b']) await client.hset(keys.bullJob(queue, id), 'timestamp', T0);
      recorder.note(queue, `${queue}-a`, 'a', 'waiting', 0.75, T0 + 1_000, T0);
      recorder.note(queue, `${queue}-b`, 'b', 'waiting', 0.95, T0 + 2_000, T0);
    }
    // One script per queue, each on its own master.
    await recorder.flush();
    for (const queue of ['{video}', '{images}']) {
      await recordCompletion(redis, keys, { queueName: queue, finishedAtMs: T0 + 1_050, jobId: `${queue}-a` });
      await recordCompletion(redis, keys, { queueName: queue, finishedAtMs: T0 + 5_000, jobId: `${queue}-b` });
      const slot = await client.call('CLUSTER', 'KEYSLOT', `bull:${queue}:wait`);
      for (const key of [keys.etaPredictions(queue), keys.etaPredictionTimes(queue), keys.etaCalibration(queue)])
        expect(await client.call('CLUSTER', 'KEYSLOT', key)).toBe(slot);
      const histogram = calibrationOf(await client.hgetall(keys.etaCalibration(queue)), 'waiting');
      // The later score decays the earlier one by 1 − 1/500.
      expect(histogram?.[7]?.samples).toBeCloseTo(0.998, 6);
      expect(histogram?.[7]?.hits).toBeCloseTo(0.998, 6);
      expect(histogram?.[9]?.samples).toBe(1);
      expect(histogram?.[9]?.hits).toBe(0);
      // Scored: each job's predictions give way to a `done` marker.
      expect(Object.values(await client.hgetall(keys.etaPredictions(queue))).every((value) => value === 'done')).toBe(
        true,
      );
    }
  });

  it('keeps each queue rank index in the queue slot and places jobs by it (issue 18)', async () => {
    for (const name of ['{video}', '{images}']) {
      const queue = new Queue(name, { connection: client, prefix: 'bull' });
      await queue.addBulk(Array.from({ length: 50 }, (_, i) => ({ name: 't', data: {}, opts: { jobId: `r${i}` } })));
      await lookupPositions(redis, 'bull', name, [], 1_000);
      const snapshot = await lookupPositions(redis, 'bull', name, [{ bullId: 'r10' }], 1_000);
      expect(snapshot.places[0]).toMatchObject({ state: 'waiting', position: 11 });
      expect(snapshot.rankIndex).toMatchObject({ state: 'complete', hits: 1 });
      const slot = await client.call('CLUSTER', 'KEYSLOT', `bull:${name}:wait`);
      for (const key of rankIndexKeys('bull', name)) {
        expect(await client.call('CLUSTER', 'KEYSLOT', key)).toBe(slot);
        expect(await client.exists(key)).toBe(1);
      }
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('answers a CROSSSLOT as a coded Seenn error, and a watcher still places the jobs of the other queues', async () => {
    // An untagged queue's BullMQ keys spread over both masters.
    expect(await cluster.masterOf('bull:plain:wait')).not.toBe(await cluster.masterOf('bull:plain:prioritized'));
    await expect(lookupPositions(redis, 'bull', 'plain', [{ bullId: 'p1' }], 1_000)).rejects.toMatchObject({
      name: 'SeennError',
      code: 'STORE_ERROR',
      details: { queueName: 'plain', redisError: 'CROSSSLOT' },
    });

    const queue = new Queue('{video}', { connection: client, prefix: 'bull' });
    await queue.addBulk(['v1', 'v2'].map((id) => ({ name: 'render', data: {}, opts: { jobId: id } })));
    const store = new JobStore(redis, keys, RETENTION_DEFAULTS);
    for (const [id, queueName] of [
      ['v2', '{video}'],
      ['p1', 'plain'],
    ] as const) {
      const record = createRecord(
        id,
        'default',
        { userId: 'u1', jobType: 'render', title: id },
        { queueName, bullId: id, createdAtMs: T0, maxAttempts: 1, state: 'waiting' },
      );
      expect((await store.commit('u1', [{ expectedVersion: 0, record, index: true }])).status).toBe('ok');
    }
    const watcher = new PositionWatcher({ redis, keys, logger, store }, { positionIntervalMs: 50 });
    const errors: Error[] = [];
    watcher.on('error', (error) => errors.push(error));
    const positions: PositionUpdate[] = [];
    watcher.on('position', (update) => positions.push(update));
    watcher.watch('u1', 'p1');
    watcher.watch('u1', 'v2');
    const [update] = await nextEvent<[PositionUpdate]>(watcher, 'position');
    expect(update.job).toMatchObject({ id: 'v2', queue: { position: 2, total: 2, queueName: '{video}' } });
    await waitFor(() => errors.length > 0, { what: 'the error of the untagged queue' });
    expect(errors[0]).toMatchObject({ code: 'STORE_ERROR', details: { queueName: 'plain', redisError: 'CROSSSLOT' } });
    await watcher.close();
    expect(positions.every((p) => p.job.id === 'v2')).toBe(true);
    await queue.close();
  });
});
