/**
 * A manual `CLUSTER FAILOVER` mid-run on a real 3-master + 3-replica Redis Cluster: the master holding
 * the queue `{video}` hands over to its replica while jobs are half done (their processors wait at a
 * gate) and while new jobs are added and run, some of them for users whose keys sit on that same
 * master. Worker, publisher, two bridges and one SSE client per user on each run on, and every client
 * ends with exactly the entries of its user's replay stream — each change once, in order — and every
 * job's steps in order, completed once.
 */
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Worker } from 'bullmq';
import type { Cluster } from 'ioredis';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Seenn } from '../../src/index.js';
import { SeennKeys } from '../../src/store/keys.js';
import { listen } from '../helpers/http-bed.js';
import type { RedisClusterServer } from '../helpers/redis-cluster.js';
import { keySlot } from '../helpers/slot-checker.js';
import { waitFor } from '../helpers/wait.js';
import { RecordingEventSource, SECRET, type SeenEvent } from '../bridge/helpers.js';
import { openClusterBed, type ClusterBed } from './bed.js';

const QUEUE = '{video}';
/** Progress steps of every job (10 %, 20 %, …). */
const STEPS = 6;
/** Gated jobs stop after this step until the failover has happened. */
const GATE_STEP = 3;
/** Jobs per user started after the failover. */
const LATER_JOBS = 2;

let bed: ClusterBed | undefined;
let cluster: RedisClusterServer;
let redis: Cluster;
const prefix = `fo-${randomUUID().slice(0, 8)}`;
const keys = new SeennKeys(prefix, 'default');

beforeAll(async () => {
  bed = await openClusterBed({ masters: 3, replicasPerMaster: 1, readyTimeoutMs: 60_000 });
  ({ cluster, redis } = bed);
}, 90_000);

afterAll(() => bed?.close(prefix));

/** Users whose keys live on the queue's master (`together`) and on another master (`apart`). */
async function pickUsers(queueMasterPort: number): Promise<{ together: string[]; apart: string[] }> {
  const together: string[] = [];
  const apart: string[] = [];
  for (let i = 0; together.length < 2 || apart.length < 2; i += 1) {
    const user = `fo-user-${i}`;
    const onQueueMaster = (await cluster.masterPortOf(keySlot(keys.stream(user)))) === queueMasterPort;
    const bucket = onQueueMaster ? together : apart;
    if (bucket.length < 2) bucket.push(user);
  }
  return { together, apart };
}

describe('Redis Cluster failover', () => {
  it(
    'loses and repeats no client-visible event when the queue’s master fails over mid-run',
    { timeout: 120_000 },
    async () => {
      const queueSlot = keySlot(keys.bullEvents(QUEUE));
      const { together, apart } = await pickUsers(await cluster.masterPortOf(queueSlot));
      const users = [...together, ...apart];

      const seenn = new Seenn({ connection: redis, prefix, tokenSecret: SECRET });
      let openGate: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        openGate = resolve;
      });
      const worker = new Worker(
        QUEUE,
        seenn.processor(
          async (job) => {
            for (let step = 1; step <= STEPS; step += 1) {
              await job.setProgress(step * 10, { message: `step ${step}` });
              if (step === GATE_STEP && job.data['gated'] === true) await gate;
            }
            return { steps: STEPS };
          },
          { progressThrottleMs: 0 },
        ),
        { connection: redis, prefix, concurrency: users.length * (1 + LATER_JOBS) },
      );
      // Blocking commands on the old master end with UNBLOCKED when it turns replica; BullMQ retries them.
      const workerErrors: Error[] = [];
      worker.on('error', (error) => workerErrors.push(error));
      const publisher = seenn.publisher({ queues: [QUEUE], blockMs: 100 });
      const parked: unknown[] = [];
      publisher.on('parked', (event: unknown) => parked.push(event));
      await publisher.start();
      // Two bridges, each as its own process would have it (a Seenn instance on its own cluster client).
      const bridgeRedis = cluster.connect();
      const bridgeSeenn = new Seenn({ connection: bridgeRedis, prefix, tokenSecret: SECRET });
      const servers = await Promise.all(
        [seenn, bridgeSeenn].map(async (instance) => {
          const app = express();
          app.use(
            '/v1',
            instance.bridge({ heartbeatMs: 500, retryMs: 50, retryJitterMs: 50, positionIntervalMs: null }),
          );
          return (await listen(app)).server;
        }),
      );
      // One client per user on each bridge.
      const clients = new Map<string, RecordingEventSource[]>();
      try {
        for (const user of users) {
          const token = await seenn.tokens.issue({ userId: user, ttlSeconds: 600 });
          clients.set(
            user,
            servers.map(
              (server) =>
                new RecordingEventSource(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/sse`, {
                  token,
                }),
            ),
          );
        }
        const all = [...clients.values()].flat();
        const client = (user: string) => (clients.get(user) as RecordingEventSource[])[0] as RecordingEventSource;
        await waitFor(() => all.every((source) => source.ofType('connected').length > 0), {
          what: 'every stream connected',
        });

        const jobsOf = new Map<string, string[]>(users.map((user) => [user, []]));
        const start = async (user: string, gated: boolean): Promise<void> => {
          const job = await seenn.jobs.start({
            queue: QUEUE,
            userId: user,
            jobType: 'render',
            title: `render for ${user}`,
            data: { gated },
          });
          jobsOf.get(user)?.push(job.id);
        };
        const eventsOf = (user: string, jobId: string): SeenEvent[] =>
          client(user)
            .jobEvents()
            .filter((event) => event.data['id'] === jobId);
        const progressOf = (events: SeenEvent[]): number[] =>
          events
            .filter((event) => event.type === 'job.progress' && Number(event.data['progress']) > 0)
            .map((event) => Number(event.data['progress']));

        // Every user's first job runs to the gate, and every client has seen it get there.
        for (const user of users) await start(user, true);
        await waitFor(
          () => users.every((user) => progressOf(eventsOf(user, jobsOf.get(user)?.[0] ?? '')).includes(GATE_STEP * 10)),
          { what: 'every gated job at the gate', timeoutMs: 30_000 },
        );

        // The queue's master (which also holds two users' keys) hands over to its replica, while new
        // jobs are being added and run.
        const later = (async () => {
          for (let i = 0; i < LATER_JOBS; i += 1) for (const user of users) await start(user, false);
        })();
        const { oldMasterPort, newMasterPort } = await cluster.failover(queueSlot);
        expect(newMasterPort).not.toBe(oldMasterPort);
        expect(await cluster.masterPortOf(queueSlot)).toBe(newMasterPort);
        for (const user of together) expect(await cluster.masterPortOf(keySlot(keys.stream(user)))).toBe(newMasterPort);
        await later;

        // The gated jobs go on from the gate, after the failover.
        openGate();
        const allCompleted = (user: string): boolean =>
          (jobsOf.get(user) ?? []).every((id) => eventsOf(user, id).some((event) => event.type === 'job.completed'));
        await waitFor(() => users.every(allCompleted), {
          what: 'the first bridge’s clients to see every job complete',
          timeoutMs: 60_000,
        }).catch((error: unknown) => {
          const seen = users.map(
            (user) =>
              `${user}: ${(jobsOf.get(user) ?? []).map((id) => progressOf(eventsOf(user, id)).join('/')).join(' | ')}`,
          );
          throw new Error(`${String(error)}; progress seen ${seen.join('; ')}; parked ${JSON.stringify(parked)}`);
        });

        for (const user of users) {
          const stream = await seenn.context.store.readStream(user, '0-0', 10_000);
          for (const [b, source] of (clients.get(user) ?? []).entries()) {
            // Each client holds exactly the user's replay stream: every change once, in stream order.
            await waitFor(() => source.jobEvents().length >= stream.length, {
              what: `${user}'s client on bridge ${b} to catch up with the stream`,
            });
            expect(
              source.jobEvents().map((event) => event.id),
              `${user} on bridge ${b}`,
            ).toEqual(stream.map((entry) => entry.id));
            for (const id of jobsOf.get(user) ?? []) {
              const events = source.jobEvents().filter((event) => event.data['id'] === id);
              expect(progressOf(events), `${user} ${id} on bridge ${b}`).toEqual(
                Array.from({ length: STEPS }, (_, i) => (i + 1) * 10),
              );
              expect(events.filter((event) => event.type === 'job.completed')).toHaveLength(1);
              expect(events[events.length - 1]?.type).toBe('job.completed');
            }
          }
        }
        expect(parked).toEqual([]);
        expect(workerErrors.filter((error) => !error.message.startsWith('UNBLOCKED'))).toEqual([]);
      } finally {
        openGate();
        for (const source of [...clients.values()].flat()) source.close();
        for (const server of servers) {
          server.closeAllConnections();
          server.close();
        }
        await worker.close();
        await Promise.all([seenn.close(), bridgeSeenn.close()]);
        await bridgeRedis.quit();
      }
    },
  );
});
