/**
 * Seenn on a real 3-master Redis Cluster with real sharding: BullMQ's prefix is plain (`cl-…`), the
 * queues are tagged per queue (`{video}`, `{images}`, `{exports}`: one per master), so queue keys
 * spread over the masters and each user's keys sit in that user's slot. Producer, workers, publisher,
 * bridge (SSE) and reads run end to end while the slot checker computes the slot of every key of
 * every command, script and pipeline, and fails on any mix.
 */
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import type { Cluster } from 'ioredis';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Seenn } from '../../src/index.js';
import { SeennKeys } from '../../src/store/keys.js';
import { listen } from '../helpers/http-bed.js';
import type { RedisClusterServer } from '../helpers/redis-cluster.js';
import { keySlot, type SlotChecker } from '../helpers/slot-checker.js';
import { waitFor } from '../helpers/wait.js';
import { RecordingEventSource, SECRET } from '../bridge/helpers.js';
import { openClusterBed, type ClusterBed } from './bed.js';

const QUEUES = ['{video}', '{images}', '{exports}'] as const;
let bed: ClusterBed | undefined;
let cluster: RedisClusterServer;
let checker: SlotChecker;
let redis: Cluster;
const prefix = `cl-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  bed = await openClusterBed({ masters: 3, slotChecker: true });
  ({ cluster, redis } = bed);
  checker = bed.checker as SlotChecker;
}, 60_000);

afterAll(() => bed?.close(prefix));

/** Subscribers of each channel over every master (`PUBSUB SHARDNUMSUB` / `NUMSUB` answer per node). */
async function subscribers(kind: 'SHARDNUMSUB' | 'NUMSUB', channels: readonly string[]): Promise<number[]> {
  const counts = channels.map(() => 0);
  for (const node of redis.nodes('master')) {
    const reply = (await node.call('PUBSUB', kind, ...channels)) as (string | number)[];
    for (let i = 0; i < channels.length; i += 1) counts[i] = (counts[i] as number) + Number(reply[i * 2 + 1]);
  }
  return counts;
}

describe('Redis Cluster, queues tagged per queue', () => {
  it('puts the three queues on three masters, and every Seenn key of a queue in that queue slot', async () => {
    const keys = new SeennKeys(prefix, 'default');
    const masters = new Set<number>();
    for (const queue of QUEUES) {
      const slot = keySlot(keys.bullEvents(queue));
      masters.add(await cluster.masterPortOf(slot));
      for (const key of [
        keys.checkpoint(queue),
        keys.lease(queue, 0),
        keys.partitionCheckpoints(queue),
        keys.publishers(queue),
        keys.liveJobs(queue),
        keys.etaPredictions(queue),
        keys.etaPredictionTimes(queue),
        keys.etaCalibration(queue),
        `${keys.prefix}:${queue}:wait`,
      ])
        expect(keySlot(key), key).toBe(slot);
      // Redis agrees with our CRC16.
      expect(await redis.cluster('KEYSLOT', keys.checkpoint(queue))).toBe(slot);
    }
    expect(masters.size).toBe(3);
    // A single tagged prefix puts everything in one slot: it keeps working, but does not shard.
    const tagged = new SeennKeys('{bull}', 'default');
    expect(new Set(QUEUES.map((queue) => keySlot(tagged.checkpoint(queue)))).size).toBe(1);
  });

  it(
    'runs jobs, a batch and plain queue.add jobs on three masters to completion, live over SSE, with no call mixing slots',
    { timeout: 60_000 },
    async () => {
      checker.reset();
      const logged: string[] = [];
      const logger = {
        debug: () => undefined,
        info: () => undefined,
        warn: (fields: unknown, message?: string) =>
          logged.push(`warn ${message ?? ''} ${String((fields as { err?: unknown }).err ?? '')}`),
        error: (fields: unknown, message?: string) =>
          logged.push(`error ${message ?? ''} ${String((fields as { err?: unknown }).err ?? '')}`),
        child: () => logger,
      };
      const seenn = new Seenn({ connection: redis, prefix, tokenSecret: SECRET, logger });
      const workers = QUEUES.map(
        (queue) =>
          new Worker(
            queue,
            seenn.processor(async (job) => {
              await job.setProgress(50, { message: 'half way' });
              return { queue };
            }),
            { connection: redis, prefix, concurrency: 4 },
          ),
      );
      const publisher = seenn.publisher({
        queues: [...QUEUES],
        blockMs: 100,
        describe: (job) =>
          typeof job.data?.user === 'string'
            ? { userId: job.data.user as string, jobType: 'plain', title: job.name }
            : null,
      });
      const errors: unknown[] = [];
      publisher.on('error', (error: unknown) => errors.push(error));
      await publisher.start();
      const app = express();
      app.use('/v1', seenn.bridge({ heartbeatMs: 500 }));
      const { server, port } = await listen(app);
      const plain: Queue[] = [];
      const sources: RecordingEventSource[] = [];
      try {
        const users = ['ada', 'bob', 'cyd', 'dee'];
        // One SSE stream per user, opened before any job exists: every job reaches it live.
        for (const user of users) {
          const token = await seenn.tokens.issue({ userId: user });
          sources.push(new RecordingEventSource(`http://127.0.0.1:${port}/v1/sse`, { token }));
        }
        await waitFor(() => sources.every((source) => source.ofType('connected').length > 0), {
          what: 'every stream connected',
        });

        const started: { id: string; user: string }[] = [];
        const parents: string[] = [];
        for (const [i, user] of users.entries()) {
          for (const queue of QUEUES) {
            const job = await seenn.jobs.start({
              queue,
              userId: user,
              jobType: 'render',
              title: `${queue} for ${user}`,
            });
            started.push({ id: job.id, user });
          }
          // A batch: the owners of its parent and children are written at once (split per slot).
          const { parent, children } = await seenn.jobs.createBatch({
            queue: QUEUES[i % 3] as string,
            userId: user,
            jobType: 'batch',
            parentTitle: 'batch',
            childTitles: ['a', 'b', 'c'],
          });
          parents.push(parent.id);
          started.push({ id: parent.id, user }, ...children.map((child) => ({ id: child.id, user })));
        }
        // Plain queue.add jobs, described by the publisher (their owners are looked up by two ids).
        for (const queue of QUEUES) {
          const q = new Queue(queue, { connection: redis, prefix });
          plain.push(q);
          await q.add('export', { user: 'ada' });
        }

        await waitFor(
          async () => {
            const jobs = await Promise.all(started.map(({ id }) => seenn.jobs.get(id)));
            return jobs.every((job) => job?.status === 'completed');
          },
          { what: 'every started job to complete', timeoutMs: 40_000 },
        ).catch(async (error: unknown) => {
          const jobs = await Promise.all(started.map(({ id }) => seenn.jobs.get(id)));
          throw new Error(
            `${String(error)}; statuses ${jobs.map((job) => job?.status ?? 'none').join(',')}; violations ${JSON.stringify(checker.violations.slice(0, 3))}; log ${logged.slice(0, 10).join(' | ')}`,
          );
        });
        const page = await seenn.jobs.list('ada', { limit: 100 });
        await waitFor(
          async () =>
            (await seenn.jobs.list('ada', { limit: 100 })).jobs.filter(
              (job) => job.jobType === 'plain' && job.status === 'completed',
            ).length === 3,
          { what: 'the plain jobs of ada to complete', timeoutMs: 20_000 },
        );
        expect(page.jobs.length).toBeGreaterThanOrEqual(3 + 4);
        // Every user saw every one of their jobs complete, live.
        for (const [i, user] of users.entries()) {
          const mine = started.filter((job) => job.user === user).map((job) => job.id);
          const source = sources[i] as RecordingEventSource;
          await waitFor(
            () =>
              mine.every((id) =>
                source
                  .ofType('job.completed')
                  .some(
                    (event) => (event.data['job'] as { id?: string } | undefined)?.id === id || event.data['id'] === id,
                  ),
              ),
            {
              what: `${user} to see each of their jobs complete over SSE`,
              timeoutMs: 20_000,
            },
          );
        }
        for (const parentId of parents) expect((await seenn.jobs.getWithChildren(parentId))?.children).toHaveLength(3);
        // The changes came by sharded Pub/Sub: one subscriber per user on that user's shard channel,
        // none on the app-wide channel; a user's channel is dropped with their last stream.
        const keys = seenn.context.keys;
        expect(
          await subscribers(
            'SHARDNUMSUB',
            users.map((user) => keys.liveShardChannel(user)),
          ),
        ).toEqual(users.map(() => 1));
        expect(await subscribers('NUMSUB', [keys.liveChannel()])).toEqual([0]);
        sources[0]?.close();
        await waitFor(async () => (await subscribers('SHARDNUMSUB', [keys.liveShardChannel('ada')]))[0] === 0, {
          what: "ada's shard channel to be dropped",
        });
        expect(errors).toEqual([]);
        expect(checker.checked.commands).toBeGreaterThan(100);
        expect(checker.violations).toEqual([]);
      } finally {
        for (const source of sources) source.close();
        server.closeAllConnections();
        server.close();
        await Promise.all(workers.map((worker) => worker.close()));
        await Promise.all(plain.map((queue) => queue.close()));
        await seenn.close();
      }
    },
  );
});
