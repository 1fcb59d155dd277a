/**
 * Metrics of a running Seenn: `seenn.metricsHandler()` and the admin route's `GET /metrics` over real
 * HTTP (the latter behind the admin auth), `metrics: false`, the publisher-lag gauges following a
 * stopped and restarted publisher, and the open-streams gauge following real SSE clients.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import express from 'express';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC_NAMES } from '../../src/metrics/index.js';
import { Seenn } from '../../src/seenn.js';
import { PUBLISHER_DEFAULTS } from '../../src/publisher/options.js';
import { ADMIN_TOKEN, call, envelope } from '../admin/harness.js';
import { RecordingEventSource, SECRET } from '../bridge/helpers.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { parseExposition, sample } from './helpers.js';

const QUEUE = 'metered';

interface Bed {
  seenn: Seenn;
  registry: Registry | null;
  prefix: string;
  origin: string;
  close(): Promise<void>;
}

let redis: Redis;
const beds: Bed[] = [];

/** A Seenn with its metrics handler at `/metrics`, the admin route at `/admin` and a bridge at `/v1`. */
async function startBed(metrics: 'own' | 'off'): Promise<Bed> {
  const prefix = uniquePrefix('met');
  const registry = metrics === 'own' ? new Registry() : null;
  const seenn = new Seenn({
    connection: redis,
    prefix,
    tokenSecret: SECRET,
    metrics: registry === null ? false : { registry },
  });
  const app = express();
  app.get('/metrics', seenn.metricsHandler());
  app.use('/admin', seenn.admin({ auth: { token: ADMIN_TOKEN }, queues: [QUEUE], boardPath: null }));
  app.use('/v1', seenn.bridge({ heartbeatMs: 60_000 }));
  const server = http.createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const bed: Bed = {
    seenn,
    registry,
    prefix,
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      await seenn.close();
      server.closeAllConnections();
      server.close();
      await deletePrefix(redis, prefix);
    },
  };
  beds.push(bed);
  return bed;
}

beforeAll(() => {
  redis = connect();
});

afterAll(async () => {
  await Promise.all(beds.map((bed) => bed.close()));
  await redis.quit();
});

describe('exposing metrics', () => {
  it('seenn.metricsHandler() answers Prometheus text with every seenn_* name; the registry is the one given', async () => {
    const bed = await startBed('own');
    expect(bed.seenn.metricsRegistry).toBe(bed.registry);
    const answer = await call(`${bed.origin}/metrics`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const name of Object.values(METRIC_NAMES)) expect(answer.text).toContain(`# TYPE ${name} `);
    expect(parseExposition(answer.text).get('seenn_bridge_streams')).toBe(0);
  });

  it('the admin route serves the same at GET /metrics, behind its auth', async () => {
    const bed = await startBed('own');
    const refused = await call(`${bed.origin}/admin/metrics`);
    expect(refused.status).toBe(401);
    expect(refused.text).not.toContain('seenn_');
    const answer = await call(`${bed.origin}/admin/metrics`, { token: ADMIN_TOKEN });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    for (const name of Object.values(METRIC_NAMES)) expect(answer.text).toContain(`# TYPE ${name} `);
  });

  it('metrics: false — no registry, both endpoints answer 404 NOT_FOUND, the context records nothing', async () => {
    const bed = await startBed('off');
    expect(bed.seenn.metricsRegistry).toBeNull();
    expect(bed.seenn.context.metrics.enabled).toBe(false);
    const handler = await call(`${bed.origin}/metrics`);
    expect(handler.status).toBe(404);
    expect(envelope(handler)?.code).toBe('NOT_FOUND');
    const admin = await call(`${bed.origin}/admin/metrics`, { token: ADMIN_TOKEN });
    expect(admin.status).toBe(404);
    expect(envelope(admin)?.message).toContain('metrics: false');
  });

  it('a bad metrics option is CONFIG_INVALID at construction', () => {
    expect(() => new Seenn({ connection: redis, metrics: { registry: 'nope' } as never })).toThrowError(
      expect.objectContaining({ code: 'CONFIG_INVALID' }) as Error,
    );
  });
});

describe('gauges follow what happens', () => {
  it('seenn_publisher_lag_*: grow while the queue’s lease is held elsewhere, fall to 0 once this publisher reads', async () => {
    const bed = await startBed('own');
    const registry = bed.registry as Registry;
    const keys = bed.seenn.context.keys;
    // Another (stand-in) publisher holds every partition: ours waits, the events pile up.
    const leases = Array.from({ length: PUBLISHER_DEFAULTS.partitions }, (_, partition) =>
      keys.lease(QUEUE, partition),
    );
    for (const lease of leases) await redis.set(lease, 'someone-else', 'PX', 60_000);
    const publisher = bed.seenn.publisher({ queues: [QUEUE], blockMs: 100, leaseRetryMs: 50 });
    await publisher.start();
    const queue = new Queue(QUEUE, { connection: redis, prefix: bed.prefix });
    try {
      expect(await sample(registry, METRIC_NAMES.publisherLagEntries, { queue: QUEUE })).toBe(0);
      for (let i = 0; i < 3; i += 1) await queue.add('job', { i });
      const entries = await sample(registry, METRIC_NAMES.publisherLagEntries, { queue: QUEUE });
      // BullMQ writes an `added` and a `waiting` event per job.
      expect(entries).toBeGreaterThanOrEqual(3);
      expect(await sample(registry, METRIC_NAMES.publisherLagSeconds, { queue: QUEUE })).toBeGreaterThanOrEqual(0);
      const leased = new Promise<void>((resolve) => publisher.once('lease', () => resolve()));
      await redis.del(...leases);
      await leased;
      await waitFor(async () => (await sample(registry, METRIC_NAMES.publisherLagEntries, { queue: QUEUE })) === 0, {
        what: 'the lag to fall to 0',
      });
      expect(await sample(registry, METRIC_NAMES.publisherLagSeconds, { queue: QUEUE })).toBe(0);
    } finally {
      await queue.close();
      await publisher.close();
    }
  });

  it('seenn_bridge_streams: counts open SSE streams of this process, up and down', async () => {
    const bed = await startBed('own');
    const registry = bed.registry as Registry;
    const tokens = await Promise.all(['u1', 'u2'].map((userId) => bed.seenn.tokens.issue({ userId })));
    const clients = tokens.map((token) => new RecordingEventSource(`${bed.origin}/v1/sse`, { token }));
    try {
      await waitFor(() => clients.every((client) => client.ofType('connected').length === 1), {
        what: 'both streams to connect',
      });
      expect(await sample(registry, METRIC_NAMES.bridgeStreams)).toBe(2);
      clients[0]?.close();
      await waitFor(async () => (await sample(registry, METRIC_NAMES.bridgeStreams)) === 1, {
        what: 'the gauge to drop to 1',
      });
    } finally {
      for (const client of clients) client.close();
    }
    await waitFor(async () => (await sample(registry, METRIC_NAMES.bridgeStreams)) === 0, {
      what: 'the gauge to drop to 0',
    });
  });
});
