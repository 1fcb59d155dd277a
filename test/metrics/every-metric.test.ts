/**
 * Every registered seenn_* metric moves when its event happens, end to end: a real publisher, a
 * bridge with real SSE clients, a BullMQ worker wrapped by `seenn.processor`, all on the harness
 * Redis, scraped through `seenn.metricsHandler()` over real HTTP and read back from the Prometheus
 * text. The test walks every name in `METRIC_NAMES`, so a metric registered later without being
 * moved fails here.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue, Worker } from 'bullmq';
import express from 'express';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derivedJobId } from '../../src/index.js';
import { METRIC_NAMES } from '../../src/metrics/index.js';
import type { DescribeFn } from '../../src/publisher/options.js';
import { Seenn } from '../../src/seenn.js';
import { call } from '../admin/harness.js';
import { RecordingEventSource, SECRET } from '../bridge/helpers.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';
import { nextEvent, waitFor } from '../helpers/wait.js';
import { describeByData } from '../publisher/harness-describe.js';
import { parseExposition } from './helpers.js';
import { PUBLISHER_DEFAULTS } from '../../src/publisher/options.js';

const QUEUE = 'every-metric';
const HISTOGRAMS: ReadonlySet<string> = new Set([
  METRIC_NAMES.storeCommitDuration,
  METRIC_NAMES.positionLookupDuration,
]);

/** One metric's figure in a scrape: the sum of its series (a histogram's observation count); absent is 0. */
function total(samples: Map<string, number>, name: string): number {
  const series = HISTOGRAMS.has(name) ? `${name}_count` : name;
  let sum = 0;
  for (const [key, value] of samples) if (key === series || key.startsWith(`${series}{`)) sum += value;
  return sum;
}

// Plain jobs are described by their data, except one whose describe throws (a publisher error).
const describeJob: DescribeFn = (job) => {
  if (job.name === 'undescribable') throw new Error('describe fails for this job on purpose');
  return describeByData(job);
};

let redis: Redis;
let seenn: Seenn;
let server: http.Server;
let origin: string;
let prefix: string;
let worker: Worker | undefined;
let queue: Queue;

beforeAll(async () => {
  redis = connect();
  prefix = uniquePrefix('every');
  seenn = new Seenn({ connection: redis, prefix, tokenSecret: SECRET, metrics: { registry: new Registry() } });
  const app = express();
  app.get('/metrics', seenn.metricsHandler());
  app.use('/v1', seenn.bridge({ heartbeatMs: 60_000 }));
  server = http.createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  queue = new Queue(QUEUE, { connection: redis, prefix });
});

afterAll(async () => {
  await worker?.close();
  await queue.close();
  await seenn.close();
  server.closeAllConnections();
  server.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

const scrape = async (): Promise<Map<string, number>> => {
  const answer = await call(`${origin}/metrics`);
  expect(answer.status).toBe(200);
  return parseExposition(answer.text);
};

describe('every registered metric moves', () => {
  it(
    'publisher, store, positions and bridge each move their metrics, read over real HTTP',
    { timeout: 60_000 },
    async () => {
      const { keys } = seenn.context;
      const publisher = seenn.publisher({ queues: [QUEUE], describe: describeJob, blockMs: 100, leaseRetryMs: 50 });
      const scrapes: Map<string, number>[] = [];
      const before = await scrape();

      // A stream, a job started while no worker runs (a store commit), read back queued (a position lookup).
      const token = await seenn.tokens.issue({ userId: 'u1' });
      const first = new RecordingEventSource(`${origin}/v1/sse`, { token });
      await waitFor(() => first.ofType('connected').length === 1, { what: 'the stream to open' });
      const job = await seenn.jobs.start({ queue: QUEUE, userId: 'u1', jobType: 'render', title: 'Metered' });
      expect((await seenn.jobs.get(job.id))?.queue?.position).toBe(1);
      // Refused credentials: none (401), another user's list (403).
      expect((await call(`${origin}/v1/jobs`)).status).toBe(401);
      expect((await call(`${origin}/v1/jobs?userId=someone-else`, { token })).status).toBe(403);
      // The publisher's checkpoint names an entry BullMQ no longer has: its first read re-syncs, and
      // meanwhile the job's events wait unread (lag).
      await redis.set(keys.checkpoint(QUEUE), '1-0');
      const waiting = await scrape();
      scrapes.push(waiting);
      expect(total(waiting, METRIC_NAMES.bridgeStreams)).toBe(1);
      expect(total(waiting, METRIC_NAMES.publisherLagEntries)).toBeGreaterThan(0);
      expect(total(waiting, METRIC_NAMES.publisherLeases)).toBe(0);

      const resynced = nextEvent(publisher, 'resync', { timeoutMs: 15_000 });
      await publisher.start();
      await resynced;
      await waitFor(async () => total(await scrape(), METRIC_NAMES.publisherLeases) === PUBLISHER_DEFAULTS.partitions, {
        what: 'the leases gauge to show every partition held',
      });

      // A job whose snapshot key is not a hash is parked; a job whose describe throws is a publisher error.
      await redis.set(keys.job('u1', derivedJobId(QUEUE, 'poison')), 'not a snapshot hash');
      const parked = nextEvent(publisher, 'parked', { timeoutMs: 20_000 });
      const failed = nextEvent(publisher, 'error', { timeoutMs: 20_000 });
      await queue.add('poison', { userId: 'u1', title: 'Poisoned' }, { jobId: 'poison' });
      await queue.add('undescribable', { userId: 'u1' });
      await Promise.all([parked, failed]);

      // The worker runs the job: batches of events applied, job events sent on the stream.
      worker = new Worker(
        QUEUE,
        seenn.processor(async (running) => {
          await running.setProgress(50, { message: 'half way' });
          return { ok: true };
        }),
        { connection: connect(), prefix },
      );
      await waitFor(() => first.events.some((event) => event.type === 'job.completed' && event.data['id'] === job.id), {
        what: 'job.completed on the stream',
        timeoutMs: 20_000,
      });
      // A reconnect with the last id seen is recovered by replay; then both streams end (client).
      const lastId = [...first.events].reverse().find((event) => event.id !== '')?.id;
      expect(lastId).toBeDefined();
      first.close();
      const second = new RecordingEventSource(`${origin}/v1/sse`, { token, lastEventId: lastId as string });
      await waitFor(() => second.ofType('connected').length === 1, { what: 'the reconnect' });
      expect(second.ofType('connected')[0]?.data['recovered']).toBe(true);
      second.close();
      const after = await waitFor(
        async () => {
          const samples = await scrape();
          // The publisher may still be reading the poisoned and undescribable jobs' last events when the
          // streams close (they do not wait for it): its lag is checked once it has read them all.
          const caughtUp = samples.get(`${METRIC_NAMES.publisherLagEntries}{queue="${QUEUE}"}`) === 0;
          return total(samples, METRIC_NAMES.bridgeStreams) === 0 &&
            (samples.get(`${METRIC_NAMES.bridgeDisconnects}{reason="client"}`) ?? 0) >= 2 &&
            caughtUp
            ? samples
            : null;
        },
        { what: 'both streams to be counted closed and the publisher to have read every event' },
      );
      scrapes.push(after);

      // Every registered name moved from its value before.
      const unmoved = Object.values(METRIC_NAMES).filter((name) =>
        scrapes.every((later) => total(later, name) === total(before, name)),
      );
      expect(unmoved).toEqual([]);
      // And each by what happened.
      const grew = (name: string): number => total(after, name) - total(before, name);
      expect(grew(METRIC_NAMES.publisherEvents)).toBeGreaterThan(0);
      expect(after.get(`${METRIC_NAMES.publisherEvents}{queue="${QUEUE}",event="completed"}`)).toBeGreaterThan(0);
      expect(after.get(`${METRIC_NAMES.publisherResyncs}{queue="${QUEUE}"}`)).toBe(1);
      // The poisoned job is parked again with each later read of its events (active, completed).
      expect(after.get(`${METRIC_NAMES.publisherParked}{queue="${QUEUE}"}`)).toBeGreaterThanOrEqual(1);
      expect(after.get(`${METRIC_NAMES.publisherErrors}{queue="${QUEUE}"}`)).toBeGreaterThanOrEqual(1);
      expect(after.get(`${METRIC_NAMES.publisherLeases}{queue="${QUEUE}"}`)).toBe(PUBLISHER_DEFAULTS.partitions);
      expect(after.get(`${METRIC_NAMES.publisherLagEntries}{queue="${QUEUE}"}`)).toBe(0);
      expect(grew(METRIC_NAMES.storeCommitDuration)).toBeGreaterThanOrEqual(3);
      expect(grew(METRIC_NAMES.positionLookupDuration)).toBeGreaterThanOrEqual(1);
      for (const event of ['connected', 'job.progress', 'job.completed'])
        expect(after.get(`${METRIC_NAMES.bridgeEventsSent}{event="${event}"}`), event).toBeGreaterThanOrEqual(1);
      expect(after.get(`${METRIC_NAMES.bridgeEventsSent}{event="connected"}`)).toBe(2);
      expect(after.get(`${METRIC_NAMES.bridgeReconnects}{recovered="true"}`)).toBe(1);
      expect(after.get(`${METRIC_NAMES.bridgeDisconnects}{reason="client"}`)).toBe(2);
      expect(after.get(`${METRIC_NAMES.bridgeAuthFailures}{status="401"}`)).toBe(1);
      expect(after.get(`${METRIC_NAMES.bridgeAuthFailures}{status="403"}`)).toBe(1);
    },
  );
});
