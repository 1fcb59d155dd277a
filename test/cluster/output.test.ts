/**
 * Job output on a real 3-master Redis Cluster: workers of queues tagged per queue append output, the
 * bridge serves it live (SSE, resumed) and over REST, and the slot checker finds no command, script
 * or pipeline mixing slots — a job's output keys sit in its user's slot beside its snapshot.
 */
import { randomUUID } from 'node:crypto';
import { Worker } from 'bullmq';
import type { Cluster } from 'ioredis';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Seenn } from '../../src/index.js';
import { listen } from '../helpers/http-bed.js';
import { keySlot, type SlotChecker } from '../helpers/slot-checker.js';
import { waitFor } from '../helpers/wait.js';
import { getJson, RecordingEventSource, SECRET } from '../bridge/helpers.js';
import { openClusterBed, type ClusterBed } from './bed.js';

const QUEUES = ['{video}', '{images}'] as const;
let bed: ClusterBed | undefined;
let checker: SlotChecker;
let redis: Cluster;
const prefix = `clo-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  bed = await openClusterBed({ masters: 3, slotChecker: true });
  ({ redis } = bed);
  checker = bed.checker as SlotChecker;
}, 60_000);

afterAll(() => bed?.close(prefix));

describe('job output on Redis Cluster', () => {
  it(
    'writes, serves live and over REST, with every output key in its user slot and no call mixing slots',
    { timeout: 60_000 },
    async () => {
      checker.reset();
      const seenn = new Seenn({ connection: redis, prefix, tokenSecret: SECRET });
      const workers = QUEUES.map(
        (queue) =>
          new Worker(
            queue,
            seenn.processor(async (job) => {
              for (let i = 0; i < 30; i += 1) await job.appendOutput(`${queue}-${i}`);
              await job.appendOutput({ done: true }, { stream: 'log' });
              return {};
            }),
            { connection: redis, prefix, concurrency: 4 },
          ),
      );
      const publisher = seenn.publisher({ queues: [...QUEUES], blockMs: 100 });
      await publisher.start();
      const app = express();
      app.use('/v1', seenn.bridge({ heartbeatMs: 500 }));
      const { server, port } = await listen(app);
      const sources: RecordingEventSource[] = [];
      try {
        const users = ['ada', 'bob', 'cyd'];
        const jobs: { id: string; user: string; queue: string }[] = [];
        for (const user of users) {
          for (const queue of QUEUES) {
            const job = await seenn.jobs.start({ queue, userId: user, jobType: 'gen', title: `${queue} for ${user}` });
            jobs.push({ id: job.id, user, queue });
            const token = await seenn.tokens.issue({ userId: user });
            sources.push(
              new RecordingEventSource(`http://127.0.0.1:${port}/v1/sse?jobId=${job.id}&output=output`, { token }),
            );
          }
        }
        await waitFor(
          async () =>
            (await Promise.all(jobs.map(({ id }) => seenn.jobs.get(id)))).every((job) => job?.status === 'completed'),
          { what: 'every job to complete', timeoutMs: 40_000 },
        );
        for (const [i, { id, user, queue }] of jobs.entries()) {
          const source = sources[i] as RecordingEventSource;
          await waitFor(() => source.ofType('job.output').length === 30, {
            what: `the output of ${id} over SSE`,
            timeoutMs: 20_000,
          });
          expect(source.ofType('job.output').map((event) => [event.data['seq'], event.data['chunk']])).toEqual(
            Array.from({ length: 30 }, (_, n) => [n, `${queue}-${n}`]),
          );
          const token = await seenn.tokens.issue({ userId: user });
          const log = await getJson(`http://127.0.0.1:${port}/v1/jobs/${id}/output?stream=log`, token);
          expect(log.body).toEqual({ chunks: [{ seq: 0, chunk: { done: true } }], done: true });
          const { keys } = seenn.context;
          expect(keySlot(keys.outputStream(user, id, 'output'))).toBe(keySlot(keys.job(user, id)));
          expect(keySlot(keys.output(user, id))).toBe(keySlot(keys.job(user, id)));
        }
        expect(checker.checked.commands).toBeGreaterThan(100);
        expect(checker.violations).toEqual([]);
      } finally {
        for (const source of sources) source.close();
        server.closeAllConnections();
        server.close();
        await Promise.all(workers.map((worker) => worker.close()));
        await seenn.close();
      }
    },
  );
});
