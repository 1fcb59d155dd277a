/**
 * The rank index (issue 18): built in chunks by the lookups themselves, then a job anywhere in `wait`
 * is placed by one bisection with no scan; it keeps up with jobs that leave `wait` and come back, and
 * a job the index has wrong still gets its exact position (from the list) while the index starts
 * afresh. lookup.random.test.ts checks it against BullMQ's lists over thousands of operations.
 */
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  lookupPositions,
  RANK_INDEX_CHUNK,
  rankIndexKeys,
  type JobPlace,
  type QueueSnapshot,
} from '../../src/position/lookup.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('rank');
let redis: Redis;

beforeAll(() => {
  redis = connect();
});

afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
});

/** Every ready job's 1-based position, straight from BullMQ's lists. */
async function truth(queueName: string): Promise<Map<string, number>> {
  const [wait, prioritized] = await Promise.all([
    redis.lrange(`${prefix}:${queueName}:wait`, 0, -1),
    redis.zrange(`${prefix}:${queueName}:prioritized`, 0, -1),
  ]);
  return new Map([...wait.reverse(), ...prioritized].map((id, i) => [id, i + 1]));
}

async function one(queueName: string, bullId: string): Promise<{ snapshot: QueueSnapshot; place: JobPlace }> {
  const snapshot = await lookupPositions(redis, prefix, queueName, [{ bullId }], 100_000);
  return { snapshot, place: snapshot.places[0] as JobPlace };
}

/** Asks every id alone and compares with {@link truth}; answers how many the index placed. */
async function expectAllExact(queueName: string, ids: readonly string[]): Promise<number> {
  const expected = await truth(queueName);
  let hits = 0;
  for (const id of ids) {
    const { snapshot, place } = await one(queueName, id);
    const position = place.state === 'waiting' || place.state === 'prioritized' ? place.position : null;
    expect({ id, position }).toEqual({ id, position: expected.get(id) ?? null });
    hits += snapshot.rankIndex.hits;
  }
  return hits;
}

describe('the rank index', () => {
  it('is built in chunks by lookups, then places any job by one bisection without a scan', async () => {
    const name = 'big';
    const size = 2 * RANK_INDEX_CHUNK + 500;
    const queue = new Queue(name, { connection: redis, prefix });
    for (let i = 0; i < size; i += 1_000) {
      await queue.addBulk(
        Array.from({ length: Math.min(1_000, size - i) }, (_, k) => ({
          name: 't',
          data: {},
          opts: { jobId: `n${i + k}` },
        })),
      );
    }
    const states: string[] = [];
    let snapshot = await lookupPositions(redis, prefix, name, [], 100_000);
    states.push(snapshot.rankIndex.state);
    while (snapshot.rankIndex.state !== 'complete') {
      snapshot = await lookupPositions(redis, prefix, name, [], 100_000);
      states.push(snapshot.rankIndex.state);
    }
    // One chunk per call: the consumer end first, then toward the producer end.
    expect(states).toEqual(['building', 'building', 'complete']);
    expect(await redis.zcard(rankIndexKeys(prefix, name)[0])).toBe(size);

    const expected = await truth(name);
    for (const id of ['n0', 'n1', `n${size / 2}`, `n${RANK_INDEX_CHUNK}`, `n${size - 2}`, `n${size - 1}`]) {
      const { snapshot: alone, place } = await one(name, id);
      expect(place).toMatchObject({ state: 'waiting', position: expected.get(id) });
      expect(alone.rankIndex).toEqual({ state: 'complete', hits: 1, numbered: 0 });
      expect(alone.elementsRead).toBe(0);
    }
    // Deeper than the scan budget from both ends: found anyway.
    const deep = await lookupPositions(redis, prefix, name, [{ bullId: `n${size / 2}` }], 100);
    expect(deep.places[0]).toMatchObject({ state: 'waiting', position: expected.get(`n${size / 2}`) });

    // More than a chunk added at once: numbered from the block's edge on the next lookups.
    const more = RANK_INDEX_CHUNK + 200;
    await queue.addBulk(Array.from({ length: more }, (_, k) => ({ name: 't', data: {}, opts: { jobId: `late${k}` } })));
    const catchUp: string[] = [];
    for (let k = 0; k < 3; k += 1)
      catchUp.push((await lookupPositions(redis, prefix, name, [], 100_000)).rankIndex.state);
    expect(catchUp).toEqual(['building', 'complete', 'complete']);
    const after = await truth(name);
    for (const id of ['n0', `n${size - 1}`, 'late0', `late${more / 2}`, `late${more - 1}`]) {
      const { snapshot: alone, place } = await one(name, id);
      expect(place).toMatchObject({ state: 'waiting', position: after.get(id) });
      expect(alone.rankIndex.hits).toBe(1);
    }
    await queue.obliterate({ force: true });
    await queue.close();
  });

  it('keeps up with jobs that arrive at either end, leave, and come back', async () => {
    const name = 'moves';
    const queue = new Queue(name, { connection: redis, prefix });
    const worker = new Worker(name, null, { connection: connect(), prefix, autorun: false });
    const ids = Array.from({ length: 40 }, (_, i) => `m${i}`);
    await queue.addBulk(ids.map((id) => ({ name: 't', data: {}, opts: { jobId: id, attempts: 3 } })));
    expect(await expectAllExact(name, ids)).toBe(ids.length);

    // Taken, then failed and retried (back of the line), put back by a rate limit (front), a LIFO add,
    // a removal and a re-add under the same id, new plain jobs.
    const taken: Job[] = [];
    for (let k = 0; k < 4; k += 1) taken.push((await worker.getNextJob(`tok${k}`, { block: false })) as Job);
    await (taken[0] as Job).moveToFailed(new Error('boom'), 'tok0', false);
    await (taken[1] as Job).moveToWait('tok1');
    await (taken[2] as Job).moveToCompleted('ok', 'tok2', false);
    await queue.add('t', {}, { jobId: 'lifo1', lifo: true });
    await queue.remove('m20');
    await queue.add('t', {}, { jobId: 'm20' });
    await queue.addBulk(['late1', 'late2'].map((id) => ({ name: 't', data: {}, opts: { jobId: id } })));
    const all = [...ids, 'lifo1', 'late1', 'late2'];
    const hits = await expectAllExact(name, all);
    // Every job still waiting is placed by the index (m2 and m3 are not in wait).
    expect(hits).toBe((await truth(name)).size);

    // Paused: jobs stay in wait and keep their positions.
    await queue.pause();
    await queue.add('t', {}, { jobId: 'while-paused' });
    await expectAllExact(name, [...all, 'while-paused']);
    await queue.resume();
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
  });

  it('finishes building while workers drain the queue faster than it numbers, and absorbs a burst of LIFO jobs', async () => {
    const name = 'drained';
    const chunk = 50;
    const queue = new Queue(name, { connection: redis, prefix });
    const worker = new Worker(name, null, { connection: connect(), prefix, autorun: false });
    await queue.addBulk(Array.from({ length: 1_000 }, (_, i) => ({ name: 't', data: {}, opts: { jobId: `d${i}` } })));
    const look = async (bullId: string): Promise<QueueSnapshot> => {
      const snapshot = await lookupPositions(redis, prefix, name, [{ bullId }], 100_000, true, chunk);
      expect(snapshot.places[0]).toMatchObject({ state: 'waiting', position: (await truth(name)).get(bullId) });
      return snapshot;
    };
    // Each lookup numbers 50 jobs; between two lookups a worker takes 80 from the consumer end.
    const states: string[] = [];
    for (let k = 0; k < 12 && states.at(-1) !== 'complete'; k += 1) {
      states.push((await look('d999')).rankIndex.state);
      for (let t = 0; t < 80; t += 1) await worker.getNextJob(`tok${k}-${t}`, { block: false });
    }
    expect(states.at(-1)).toBe('complete');
    expect(states.length).toBeLessThanOrEqual(10);
    expect((await look('d999')).rankIndex.hits).toBe(1);

    // More LIFO jobs than a chunk at once: numbered from the block's edge toward the consumer end.
    await queue.addBulk(
      Array.from({ length: 3 * chunk }, (_, i) => ({ name: 't', data: {}, opts: { jobId: `lifo${i}`, lifo: true } })),
    );
    const after: string[] = [];
    for (let k = 0; k < 5 && after.at(-1) !== 'complete'; k += 1) after.push((await look('lifo0')).rankIndex.state);
    expect(after).toEqual(['building', 'building', 'complete']);
    for (const id of ['lifo0', `lifo${3 * chunk - 1}`, 'd999', 'd990']) expect((await look(id)).rankIndex.hits).toBe(1);
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
  });

  it('gives the exact position of a job it has wrong, and starts afresh', async () => {
    const name = 'fooled';
    const queue = new Queue(name, { connection: redis, prefix });
    const ids = Array.from({ length: 30 }, (_, i) => `f${i}`);
    await queue.addBulk(ids.map((id) => ({ name: 't', data: {}, opts: { jobId: id } })));
    await expectAllExact(name, ids);
    // changePriority moves a waiting job to the front of the line without changing anything the index
    // can see on the job. One such move is caught at the end (out of order with its neighbour); two in
    // a row, in order with each other, fool the index: its numbers no longer match the list.
    for (const id of ['f20', 'f10'])
      await ((await queue.getJob(id)) as Job).changePriority({ priority: 0, lifo: true });
    const expected = await truth(name);
    const fooled = await lookupPositions(redis, prefix, name, [{ bullId: 'f15' }], 100_000);
    expect(fooled.places[0]).toMatchObject({ state: 'waiting', position: expected.get('f15') });
    expect(fooled.rankIndex.hits).toBe(0);
    // That lookup found the index wrong: the next one numbers the whole list afresh and bisects again.
    const rebuilt = await lookupPositions(redis, prefix, name, [{ bullId: 'f15' }], 100_000);
    expect(rebuilt.rankIndex).toEqual({ state: 'complete', hits: 1, numbered: ids.length });
    expect(await expectAllExact(name, ids)).toBe(ids.length);
    await queue.obliterate({ force: true });
    await queue.close();
  });

  it('is deleted when the queue is empty, and never written when switched off', async () => {
    const name = 'empty';
    const queue = new Queue(name, { connection: redis, prefix });
    await queue.add('t', {}, { jobId: 'e1' });
    await lookupPositions(redis, prefix, name, [{ bullId: 'e1' }], 100_000, false);
    expect(await redis.exists(...rankIndexKeys(prefix, name))).toBe(0);
    await lookupPositions(redis, prefix, name, [{ bullId: 'e1' }], 100_000);
    expect(await redis.exists(...rankIndexKeys(prefix, name))).toBe(3);
    await queue.remove('e1');
    const snapshot = await lookupPositions(redis, prefix, name, [{ bullId: 'e1' }], 100_000);
    expect(snapshot.places[0]).toEqual({ state: 'missing' });
    expect(await redis.exists(...rankIndexKeys(prefix, name))).toBe(0);
    await queue.close();
  });
});
