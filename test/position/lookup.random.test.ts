/**
 * Randomised check of queue positions against BullMQ's own lists: thousands of operations (plain,
 * prioritized, LIFO and delayed adds, workers taking, finishing, retrying and putting back jobs,
 * removals, promotions, priority changes, pause/resume); after every step each job's position must
 * equal the ground truth read straight from `wait` (right end first) and `prioritized`.
 * Set SEENN_TEST_SEED to replay a run.
 */
import { FlowProducer, Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  lookupPositions,
  type JobPlace,
  type PositionHint,
  type PositionRequest,
  type QueueSnapshot,
} from '../../src/position/lookup.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';
import { seededRandom } from '../helpers/random.js';

const QUEUE = 'rand';
const prefix = uniquePrefix('posrand');
let redis: Redis;
let workerConnection: Redis;
let queue: Queue;
let worker: Worker;

beforeAll(async () => {
  redis = connect();
  workerConnection = connect();
  queue = new Queue(QUEUE, { connection: redis, prefix });
  worker = new Worker(QUEUE, null, { connection: workerConnection, prefix, autorun: false });
  await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
});

afterAll(async () => {
  await worker.close();
  await queue.close();
  await deletePrefix(redis, prefix);
  await Promise.all([redis.quit(), workerConnection.quit()]);
});

/** Ground truth: position of every ready job, straight from BullMQ's lists. */
async function groundTruth(): Promise<{ positions: Map<string, number>; total: number; paused: boolean }> {
  const [wait, prioritized, paused] = await Promise.all([
    redis.lrange(`${prefix}:${QUEUE}:wait`, 0, -1),
    redis.zrange(`${prefix}:${QUEUE}:prioritized`, 0, -1),
    redis.hget(`${prefix}:${QUEUE}:meta`, 'paused'),
  ]);
  const order = [...wait.reverse(), ...prioritized];
  return { positions: new Map(order.map((id, i) => [id, i + 1])), total: order.length, paused: paused !== null };
}

function positionOf(place: JobPlace): number | null {
  return place.state === 'waiting' || place.state === 'prioritized' ? place.position : null;
}

describe('queue positions (randomised against BullMQ)', () => {
  it('match the ground truth after every one of thousands of operations', async () => {
    const seed = Number(process.env['SEENN_TEST_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`position randomised test seed: ${seed} (replay with SEENN_TEST_SEED=${seed})`);
    const random = seededRandom(seed);
    const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(random() * items.length)];
    const steps = 2_000;
    const ids: string[] = [];
    const active = new Map<string, { job: Job; token: string }>();
    const hints = new Map<string, PositionHint>();
    const opCounts: Record<string, number> = {};
    let mismatches = 0;
    let checks = 0;
    let indexHits = 0;
    // A rank index chunk far below the queue's size, so that building it, numbering from its edge and
    // starting afresh all happen in this small queue (rank-index.test.ts uses the default chunk).
    const indexStates: Record<string, number> = {};
    const look = async (requests: PositionRequest[]): Promise<QueueSnapshot> => {
      const snapshot = await lookupPositions(redis, prefix, QUEUE, requests, 100_000, true, 8);
      indexStates[snapshot.rankIndex.state] = (indexStates[snapshot.rankIndex.state] ?? 0) + 1;
      return snapshot;
    };
    let nextId = 0;
    let paused = false;

    const add = async (opts: Record<string, unknown>): Promise<void> => {
      const id = `j${nextId++}`;
      await queue.add(
        't',
        { n: id },
        {
          jobId: id,
          attempts: random() < 0.3 ? 3 : 1,
          ...(random() < 0.3 ? { backoff: { type: 'fixed', delay: 3 } } : {}),
          ...opts,
        },
      );
      ids.push(id);
    };
    const take = async (): Promise<void> => {
      const token = `tok${nextId++}`;
      const job = (await worker.getNextJob(token, { block: false })) as Job | undefined;
      if (job?.id === undefined) return;
      active.set(job.id, { job, token });
    };
    const finishOne = async (): Promise<void> => {
      const id = pick([...active.keys()]);
      if (id === undefined) return;
      const { job, token } = active.get(id) as { job: Job; token: string };
      active.delete(id);
      const r = random();
      if (r < 0.55) await job.moveToCompleted('ok', token, false);
      else if (r < 0.85) await job.moveToFailed(new Error('boom'), token, false);
      else await job.moveToWait(token);
    };

    for (let step = 0; step < steps; step += 1) {
      const alive = ids.length;
      const r = random();
      let op: string;
      if (r < 0.2) {
        op = 'add';
        await add({});
      } else if (r < 0.3) {
        op = 'add-prioritized';
        await add({ priority: 1 + Math.floor(random() * 4) });
      } else if (r < 0.37) {
        op = 'add-lifo';
        await add({ lifo: true });
      } else if (r < 0.43) {
        op = 'add-delayed';
        await add({
          delay: 1 + Math.floor(random() * 15),
          ...(random() < 0.3 ? { priority: 1 + Math.floor(random() * 3) } : {}),
        });
      } else if (r < 0.45) {
        op = 'add-bulk';
        await queue.addBulk(
          Array.from({ length: 20 }, () => {
            const id = `j${nextId++}`;
            ids.push(id);
            return {
              name: 't',
              data: {},
              opts: {
                jobId: id,
                ...(random() < 0.2 ? { priority: 2 } : {}),
                ...(random() < 0.1 ? { lifo: true } : {}),
              },
            };
          }),
        );
      } else if (r < 0.7) {
        op = 'take';
        if (active.size < 8) await take();
        else await finishOne();
      } else if (r < 0.85) {
        op = 'finish';
        await finishOne();
      } else if (r < 0.9) {
        op = 'remove';
        const id = pick(ids);
        if (id !== undefined && !active.has(id)) await queue.remove(id).catch(() => 0);
      } else if (r < 0.93) {
        op = 'promote';
        const id = pick(ids);
        const job = id === undefined ? undefined : await queue.getJob(id);
        if (job !== undefined && (await job.isDelayed())) await job.promote();
      } else if (r < 0.96) {
        op = 'change-priority';
        const id = pick(ids);
        const job = id === undefined || active.has(id) ? undefined : await queue.getJob(id);
        if (job !== undefined && ((await job.isWaiting()) || (await job.getState()) === 'prioritized')) {
          await job
            .changePriority(random() < 0.3 ? { lifo: true } : { priority: Math.floor(random() * 4) })
            .catch(() => undefined);
        }
      } else {
        op = paused ? 'resume' : 'pause';
        if (paused) await queue.resume();
        else await queue.pause();
        paused = !paused;
      }
      opCounts[op] = (opCounts[op] ?? 0) + 1;
      // Keep the queue a workable size: drain faster when it grows.
      if (alive > 400 && !paused) for (let k = 0; k < 5; k += 1) await take().then(finishOne);

      const truth = await groundTruth();
      const check = (
        label: string,
        asked: readonly string[],
        places: readonly JobPlace[],
        total: number,
        snapPaused: boolean,
      ): void => {
        checks += 1;
        if (total !== truth.total || snapPaused !== truth.paused) {
          mismatches += 1;
          console.log(
            `step ${step} ${op} ${label}: total ${total} vs ${truth.total}, paused ${snapPaused} vs ${truth.paused}`,
          );
        }
        asked.forEach((id, i) => {
          const place = places[i] as JobPlace;
          const expected = truth.positions.get(id) ?? null;
          const got = positionOf(place);
          if (got !== expected || (expected === null && place.state === 'unknown')) {
            mismatches += 1;
            if (mismatches < 20)
              console.log(`step ${step} ${op} ${label}: ${id} expected ${expected}, got ${JSON.stringify(place)}`);
          }
        });
      };

      // 1. Stateless, every job ever added (finished and removed ones too).
      const all = await look(ids.map((bullId) => ({ bullId })));
      check('all', ids, all.places, all.total, all.paused);

      // 2. With hints from earlier lookups (possibly many steps old), for a random subset.
      const subset = ids.filter(() => random() < 0.6);
      const requests: PositionRequest[] = subset.map((bullId) => {
        const hint = hints.get(bullId);
        return hint === undefined ? { bullId } : { bullId, hint };
      });
      const hinted = await look(requests);
      check('hinted', subset, hinted.places, hinted.total, hinted.paused);
      subset.forEach((id, i) => {
        const place = hinted.places[i] as JobPlace;
        if (place.state === 'waiting' || place.state === 'prioritized') hints.set(id, place.hint);
        else hints.delete(id);
      });

      // 3. A few ids at once: the LPOS path.
      const few = Array.from({ length: 1 + Math.floor(random() * 8) }, () => pick(ids)).filter(
        (id): id is string => id !== undefined,
      );
      const small = await look(few.map((bullId) => ({ bullId })));
      check('few', few, small.places, small.total, small.paused);
      indexHits += small.rankIndex.hits;

      // 4. One id alone, as a reconnecting client asks: the rank index's bisection.
      const one = pick(ids);
      if (one !== undefined) {
        const alone = await look([{ bullId: one }]);
        check('one', [one], alone.places, alone.total, alone.paused);
        indexHits += alone.rankIndex.hits;
      }
    }
    console.log(
      `position randomised test: ${steps} steps, ${checks} lookups (${indexHits} jobs placed by the rank index; its state after each: ${JSON.stringify(indexStates)}), ${ids.length} jobs, ops ${JSON.stringify(opCounts)}, ${mismatches} mismatches`,
    );
    expect(opCounts['take'] ?? 0).toBeGreaterThan(100);
    expect(indexHits).toBeGreaterThan(steps / 2);
    expect(indexStates['building'] ?? 0).toBeGreaterThan(steps / 100);
    expect(mismatches).toBe(0);
  }, 240_000);

  it('gives a flow parent no position while it waits for its children, and puts it first in line when released', async () => {
    const name = 'flow';
    const q = new Queue(name, { connection: redis, prefix });
    const flows = new FlowProducer({ connection: redis, prefix });
    const flowWorker = new Worker(name, null, { connection: connect(), prefix, autorun: false });
    await q.addBulk(['a', 'b'].map((id) => ({ name: 't', data: {}, opts: { jobId: id } })));
    await flows.add({
      name: 'parent',
      queueName: name,
      opts: { jobId: 'parent' },
      children: [{ name: 'child', queueName: name, opts: { jobId: 'child' } }],
    });
    await q.addBulk(['d', 'e'].map((id) => ({ name: 't', data: {}, opts: { jobId: id } })));
    const look = async (): Promise<Record<string, number | string>> => {
      const asked = ['a', 'b', 'child', 'parent', 'd', 'e'];
      const snapshot = await lookupPositions(
        redis,
        prefix,
        name,
        asked.map((bullId) => ({ bullId })),
        100_000,
      );
      return Object.fromEntries(
        asked.map((id, i) => [
          id,
          positionOf(snapshot.places[i] as JobPlace) ?? (snapshot.places[i] as JobPlace).state,
        ]),
      );
    };
    expect(await look()).toEqual({ a: 1, b: 2, child: 3, parent: 'waiting-children', d: 4, e: 5 });
    for (const expected of ['a', 'b', 'child']) {
      const job = (await flowWorker.getNextJob('tok', { block: false })) as Job;
      expect(job.id).toBe(expected);
      await job.moveToCompleted('ok', 'tok', false);
    }
    expect(await look()).toEqual({ a: 'finished', b: 'finished', child: 'finished', parent: 1, d: 2, e: 3 });
    await flowWorker.close();
    await flows.close();
    await q.close();
  });

  it('answers exactly or "unknown" (never a wrong number) when the scan budget is smaller than the list', async () => {
    const name = 'budget';
    const q = new Queue(name, { connection: redis, prefix });
    const ids = Array.from({ length: 60 }, (_, i) => `b${i}`);
    await q.addBulk(ids.map((id) => ({ name: 't', data: {}, opts: { jobId: id } })));
    const wait = (await redis.lrange(`${prefix}:${name}:wait`, 0, -1)).reverse();
    const truth = new Map(wait.map((id, i) => [id, i + 1]));
    const budget = 10;
    // Without the rank index (which places jobs at any depth, see rank-index.test.ts).
    for (const batch of [ids, ids.slice(0, 3), ids.slice(28, 31), ids.slice(55)]) {
      const snapshot = await lookupPositions(
        redis,
        prefix,
        name,
        batch.map((bullId) => ({ bullId })),
        budget,
        false,
      );
      batch.forEach((id, i) => {
        const place = snapshot.places[i] as JobPlace;
        const expected = truth.get(id) as number;
        if (place.state === 'unknown') expect(expected).toBeGreaterThan(budget);
        else expect(place).toMatchObject({ state: 'waiting', position: expected });
      });
      expect(snapshot.elementsRead).toBeLessThanOrEqual(budget);
    }
    // The first to run are always found; the middle of a list longer than twice the budget is not.
    const few = await lookupPositions(
      redis,
      prefix,
      name,
      [{ bullId: 'b0' }, { bullId: 'b30' }, { bullId: 'b59' }],
      budget,
      false,
    );
    expect(few.places.map((place) => place.state)).toEqual(['waiting', 'unknown', 'waiting']);
    await q.close();
  });
});
