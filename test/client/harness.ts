/**
 * A real stack for client tests: Redis (the test harness's), `seenn.jobs.start`, a BullMQ worker
 * wrapped with `seenn.processor` whose steps the test releases one by one, the publisher, and the
 * bridge on an Express server on port 0. A gate in front of `/v1/sse` can make the stream answer 503
 * (down) or 404 (missing), and every request to the stream and to `GET /v1/jobs/:id` is recorded.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'bullmq';
import express from 'express';
import type { Redis } from 'ioredis';
import { SeennClient } from '../../src/client/index.js';
import { Seenn } from '../../src/index.js';
import type { SeennJob } from '../../src/model/job.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';

/** The HS256 secret of the test Seenn. */
const SECRET = 'client-test-secret-client-test-secret-0123';

/** The queue the harness's worker serves. */
export const QUEUE = 'client-test';

/** What the gate in front of `/v1/sse` does. */
export type StreamGate = 'open' | 'down' | 'missing';

/** One request that reached the stream route (before the gate). */
export interface StreamRequest {
  atMs: number;
  lastEventIdHeader: string | undefined;
  lastEventIdQuery: string | undefined;
  authorization: string | undefined;
  /** The request's path and query. */
  url: string;
}

/** The running stack. */
export interface ClientHarness {
  seenn: Seenn;
  redis: Redis;
  /** `http://127.0.0.1:<port>/v1` */
  baseUrl: string;
  gate: StreamGate;
  readonly streamRequests: StreamRequest[];
  /** `GET /v1/jobs/:id` requests per job id. */
  readonly jobReads: Map<string, number>;
  /** A token for `userId`. */
  token(userId: string): Promise<string>;
  /** Starts a job of `steps` steps; the worker runs step n once {@link allow} reached n. */
  startJob(userId: string, title: string, steps: number): Promise<SeennJob>;
  /** Starts a batch whose children (in the harness's queue) have `steps` steps each. */
  startBatch(
    userId: string,
    title: string,
    childTitles: string[],
    steps: number,
  ): Promise<{ parent: SeennJob; children: SeennJob[] }>;
  /** Lets the worker run the job's steps up to `step` (each step is one `setProgress`). */
  allow(jobId: string, step: number): void;
  /** Destroys every open HTTP connection (event streams included), as a crashing proxy would. */
  dropConnections(): void;
  /** The ids of the user's replay stream, oldest first. */
  streamIds(userId: string): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Starts the stack. `heartbeatMs` is the bridge's heartbeat; `cors` answers browsers' cross-origin
 * checks (a page served from another origin than the bridge needs them, as in a DOM test).
 */
export async function startHarness(options: { heartbeatMs?: number; cors?: boolean } = {}): Promise<ClientHarness> {
  const prefix = uniquePrefix('client');
  const redis = connect();
  const seenn = new Seenn({ connection: redis, prefix, tokenSecret: SECRET });
  const allowed = new Map<string, number>();
  const waiters = new Map<string, Array<() => void>>();
  const wake = (jobId: string): void => {
    for (const resolve of waiters.get(jobId) ?? []) resolve();
    waiters.delete(jobId);
  };
  const until = async (jobId: string, step: number): Promise<void> => {
    while ((allowed.get(jobId) ?? 0) < step) {
      await new Promise<void>((resolve) => {
        const list = waiters.get(jobId) ?? [];
        list.push(resolve);
        waiters.set(jobId, list);
      });
    }
  };
  const worker = new Worker(
    QUEUE,
    seenn.processor(
      async (job) => {
        const { steps } = job.data as { steps: number };
        for (let step = 1; step <= steps; step += 1) {
          await until(String(job.id), step);
          await job.setProgress((step / steps) * 100, {
            message: `step ${step}`,
            stage: { name: `step-${step}`, current: step, total: steps },
          });
        }
        return { steps };
      },
      { progressThrottleMs: 0 },
    ),
    { connection: redis, prefix, concurrency: 10 },
  );
  const publisher = seenn.publisher({ queues: [QUEUE] });
  await publisher.start();

  const streamRequests: StreamRequest[] = [];
  const jobReads = new Map<string, number>();
  const state = { gate: 'open' as StreamGate };
  const app = express();
  if (options.cors === true) {
    app.use((req, res, next) => {
      res.set('Access-Control-Allow-Origin', req.get('origin') ?? '*');
      res.set('Access-Control-Allow-Headers', 'Authorization, Last-Event-ID, Cache-Control, Accept');
      if (req.method === 'OPTIONS') res.status(204).end();
      else next();
    });
  }
  app.use('/v1/sse', (req, res, next) => {
    const query = req.query['lastEventId'];
    streamRequests.push({
      atMs: performance.now(),
      lastEventIdHeader: req.get('last-event-id'),
      lastEventIdQuery: typeof query === 'string' ? query : undefined,
      authorization: req.get('authorization'),
      url: req.originalUrl,
    });
    if (state.gate === 'down')
      res.status(503).json({ error: { code: 'INTERNAL_ERROR', message: 'down for the test', details: {} } });
    else if (state.gate === 'missing')
      res.status(404).json({ error: { code: 'NOT_FOUND', message: 'no stream here', details: {} } });
    else next();
  });
  app.get('/v1/jobs/:id', (req, _res, next) => {
    jobReads.set(req.params.id, (jobReads.get(req.params.id) ?? 0) + 1);
    next();
  });
  app.use('/v1', seenn.bridge({ heartbeatMs: options.heartbeatMs ?? 5_000 }));
  const server = http.createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    seenn,
    redis,
    baseUrl: `http://127.0.0.1:${port}/v1`,
    get gate() {
      return state.gate;
    },
    set gate(value: StreamGate) {
      state.gate = value;
    },
    streamRequests,
    jobReads,
    token: (userId) => seenn.tokens.issue({ userId, ttlSeconds: 300 }),
    startJob: (userId, title, steps) =>
      seenn.jobs.start({ queue: QUEUE, userId, jobType: 'test', title, data: { steps } }),
    startBatch: (userId, title, childTitles, steps) =>
      seenn.jobs.createBatch({
        queue: QUEUE,
        userId,
        jobType: 'test-batch',
        parentTitle: title,
        children: childTitles.map((childTitle) => ({ title: childTitle, data: { steps } })),
      }),
    allow(jobId, step) {
      allowed.set(jobId, Math.max(allowed.get(jobId) ?? 0, step));
      wake(jobId);
    },
    dropConnections: () => server.closeAllConnections(),
    async streamIds(userId) {
      const entries = await redis.xrange(seenn.context.keys.stream(userId), '-', '+');
      return entries.map(([id]) => id);
    },
    async close() {
      for (const jobId of waiters.keys()) allowed.set(jobId, Number.POSITIVE_INFINITY);
      for (const jobId of [...waiters.keys()]) wake(jobId);
      server.closeAllConnections();
      server.close();
      await worker.close(true);
      await seenn.close();
      await deletePrefix(redis, prefix);
      await redis.quit();
    },
  };
}

/**
 * Clients of the harness's bridge for the hook tests (fast reconnects), each closed by `closeAll`
 * (call it in `afterEach`).
 */
export function hookClients(h: () => ClientHarness): { clientFor(user: string): SeennClient; closeAll(): void } {
  const clients: SeennClient[] = [];
  return {
    clientFor(user) {
      const harness = h();
      const client = new SeennClient({
        baseUrl: harness.baseUrl,
        token: () => harness.token(user),
        reconnectBaseMs: 20,
        reconnectMaxMs: 200,
      });
      clients.push(client);
      return client;
    },
    closeAll() {
      for (const client of clients.splice(0)) client.close();
    },
  };
}
