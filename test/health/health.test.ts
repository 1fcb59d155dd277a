/**
 * Health probes over real HTTP: liveness always answers; readiness names Redis, each bridge and each
 * publisher (telling a stopped publisher from a standby and a reading one), and turns 503 — saying which part failed — when its own Redis server is stopped. The
 * bridge registry lists every live bridge with its open streams, drops a closed bridge at once and
 * a dead one (no more refreshes) after its TTL, and the admin route shows it. A bridge closes at once
 * while Redis is down.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeRegistration, readBridges, type HealthCheck, type HealthReport } from '../../src/health/index.js';
import { silentLogger } from '../../src/logger.js';
import { Seenn } from '../../src/seenn.js';
import { BridgeRegistryStore } from '../../src/store/bridge-registry.js';
import { ADMIN_TOKEN, call } from '../admin/harness.js';
import { RecordingEventSource, SECRET } from '../bridge/helpers.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { nextEvent, waitFor } from '../helpers/wait.js';
import { PUBLISHER_DEFAULTS } from '../../src/publisher/options.js';

const QUEUE = 'healthy';

interface Bed {
  seenn: Seenn;
  origin: string;
  close(): Promise<void>;
}

/** A Seenn on `redis` with probes at /livez and /readyz, a bridge at /v1, the admin at /admin. */
async function startBed(redis: Redis, prefix: string, withPublisher = true): Promise<Bed> {
  const seenn = new Seenn({ connection: redis, prefix, tokenSecret: SECRET, metrics: false });
  const app = express();
  app.get('/livez', seenn.healthHandler({ probe: 'liveness' }));
  app.get('/readyz', seenn.healthHandler());
  app.use('/v1', seenn.bridge({ heartbeatMs: 60_000 }));
  app.use('/admin', seenn.admin({ auth: { token: ADMIN_TOKEN }, queues: [QUEUE], boardPath: null }));
  if (withPublisher) await seenn.publisher({ queues: [QUEUE], blockMs: 100, leaseRetryMs: 50 }).start();
  const server = http.createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    seenn,
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      await seenn.close();
      server.closeAllConnections();
      server.close();
    },
  };
}

const report = async (url: string): Promise<{ status: number; body: HealthReport }> => {
  const answer = await call(url);
  return { status: answer.status, body: answer.body as unknown as HealthReport };
};
const check = (body: HealthReport, name: HealthCheck['name']): HealthCheck | undefined =>
  body.checks.find((entry) => entry.name === name);

describe('health probes', () => {
  let redis: Redis;
  let prefix: string;
  let bed: Bed;

  beforeAll(async () => {
    redis = connect();
    prefix = uniquePrefix('hl');
    bed = await startBed(redis, prefix);
  });

  afterAll(async () => {
    await bed.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('liveness answers 200 with no I/O', async () => {
    const { status, body } = await report(`${bed.origin}/livez`);
    expect(status).toBe(200);
    expect(body).toEqual({ status: 'ok', probe: 'liveness', checks: [] });
  });

  it('readiness: Redis, the bridge (no stream yet, so no subscription needed) and the publisher holding its lease', async () => {
    await waitFor(
      async () =>
        (
          check((await report(`${bed.origin}/readyz`)).body, 'publisher') as
            { queues?: Record<string, string> } | undefined
        )?.queues?.[QUEUE] === 'reading',
      { what: 'the publisher to hold its lease' },
    );
    const { status, body } = await report(`${bed.origin}/readyz`);
    expect(status).toBe(200);
    expect(body.status).toBe('ok');
    expect(body.probe).toBe('readiness');
    expect(check(body, 'redis')).toMatchObject({ ok: true, latencyMs: expect.any(Number) as number });
    expect(check(body, 'bridge')).toMatchObject({ ok: true, subscribed: false, streams: 0 });
    expect(check(body, 'publisher')).toEqual({ name: 'publisher', ok: true, queues: { [QUEUE]: 'reading' } });
  });

  it('with a stream open the bridge reports its subscription up', async () => {
    const client = new RecordingEventSource(`${bed.origin}/v1/sse`, {
      token: await bed.seenn.tokens.issue({ userId: 'u1' }),
    });
    try {
      await waitFor(() => client.ofType('connected').length === 1, { what: 'the stream to open' });
      const { body } = await waitFor(
        async () => {
          const answer = await report(`${bed.origin}/readyz`);
          return (check(answer.body, 'bridge') as { subscribed?: boolean } | undefined)?.subscribed === true
            ? answer
            : null;
        },
        { what: 'the subscription to be confirmed' },
      );
      expect(check(body, 'bridge')).toMatchObject({ ok: true, subscribed: true, streams: 1 });
    } finally {
      client.close();
    }
  });

  it('bad options are CONFIG_INVALID', () => {
    expect(() => bed.seenn.healthHandler({ probe: 'startup' as never })).toThrowError(
      expect.objectContaining({ code: 'CONFIG_INVALID' }) as Error,
    );
  });
});

describe('publisher readiness: stopped, standby, reading', () => {
  let redis: Redis;
  let prefix: string;
  let seenn: Seenn;
  let origin: string;
  let server: http.Server;

  beforeAll(async () => {
    redis = connect();
    prefix = uniquePrefix('hlp');
    seenn = new Seenn({ connection: redis, prefix, metrics: false });
    const app = express();
    app.get('/readyz', seenn.healthHandler());
    server = http.createServer(app);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await seenn.close();
    server.closeAllConnections();
    server.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  const publisherCheck = async (): Promise<{ status: number; publisher: HealthCheck | undefined }> => {
    const { status, body } = await report(`${origin}/readyz`);
    return { status, publisher: check(body, 'publisher') };
  };

  it('not started: 503, stopped; started while another holds the lease: 200, standby; lease free: reading; closed: 503, stopped', async () => {
    const { keys } = seenn.context;
    const publisher = seenn.publisher({ queues: [QUEUE], blockMs: 100, leaseRetryMs: 50 });
    expect(await publisherCheck()).toEqual({
      status: 503,
      publisher: {
        name: 'publisher',
        ok: false,
        queues: { [QUEUE]: 'stopped' },
        error: expect.stringContaining('not started') as string,
      },
    });

    // Another (stand-in) publisher holds every partition of the queue: this one stands by, and is ready.
    const leases = Array.from({ length: PUBLISHER_DEFAULTS.partitions }, (_, partition) =>
      keys.lease(QUEUE, partition),
    );
    for (const lease of leases) await redis.set(lease, 'someone-else', 'PX', 60_000);
    await publisher.start();
    expect(await publisherCheck()).toEqual({
      status: 200,
      publisher: { name: 'publisher', ok: true, queues: { [QUEUE]: 'standby' } },
    });

    const leased = nextEvent(publisher, 'lease', { filter: (info: { held: boolean }) => info.held });
    await redis.del(...leases);
    await leased;
    expect(await publisherCheck()).toEqual({
      status: 200,
      publisher: { name: 'publisher', ok: true, queues: { [QUEUE]: 'reading' } },
    });

    await publisher.close();
    expect(await publisherCheck()).toEqual({
      status: 503,
      publisher: {
        name: 'publisher',
        ok: false,
        queues: { [QUEUE]: 'stopped' },
        error: expect.stringContaining('closed') as string,
      },
    });
    // Started again, it reads again.
    await publisher.start();
    await waitFor(
      async () =>
        ((await publisherCheck()).publisher as { queues?: Record<string, string> } | undefined)?.queues?.[QUEUE] ===
        'reading',
      { what: 'the restarted publisher to read' },
    );
    await publisher.close();
  });
});

describe('readiness when Redis is gone', () => {
  let server: RedisServer;
  let redis: Redis;
  let bed: Bed;

  beforeAll(async () => {
    server = await startRedisServer();
    redis = new Redis(server.url, { maxRetriesPerRequest: null });
    redis.on('error', () => undefined);
    bed = await startBed(redis, uniquePrefix('hl'), false);
  });

  afterAll(async () => {
    // Back up on the same port, so everything closes cleanly.
    server = await startRedisServer({ port: server.port });
    await bed.close();
    redis.disconnect();
    await server.stop();
  });

  it('answers 503 naming Redis, and the bridge whose live subscription dropped', async () => {
    const client = new RecordingEventSource(`${bed.origin}/v1/sse`, {
      token: await bed.seenn.tokens.issue({ userId: 'u1' }),
    });
    try {
      await waitFor(
        async () =>
          (check((await report(`${bed.origin}/readyz`)).body, 'bridge') as { subscribed?: boolean } | undefined)
            ?.subscribed === true,
        { what: 'the subscription' },
      );
      await server.stop();
      const { status, body } = await waitFor(
        async () => {
          const answer = await report(`${bed.origin}/readyz`);
          return answer.status === 503 && check(answer.body, 'bridge')?.ok === false ? answer : null;
        },
        { what: 'readiness to fail' },
      );
      expect(status).toBe(503);
      expect(body.status).toBe('unavailable');
      expect(check(body, 'redis')).toMatchObject({ ok: false, error: expect.any(String) as string });
      expect(check(body, 'bridge')).toMatchObject({
        ok: false,
        subscribed: false,
        error: expect.stringContaining('live subscription') as string,
      });
      // Liveness does not depend on Redis.
      expect((await report(`${bed.origin}/livez`)).status).toBe(200);
    } finally {
      client.close();
    }
  });

  it('closes a Seenn with a bridge at once while Redis is still down (no wait for the registry entry)', async () => {
    expect(redis.status).not.toBe('ready');
    const other = new Seenn({ connection: redis, prefix: uniquePrefix('hl'), tokenSecret: SECRET, metrics: false });
    other.bridge({ heartbeatMs: 60_000 });
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('the bridge registry', () => {
  let redis: Redis;
  let prefix: string;
  const beds: Bed[] = [];

  beforeAll(async () => {
    redis = connect();
    prefix = uniquePrefix('reg');
    beds.push(await startBed(redis, prefix, false), await startBed(redis, prefix, false));
  });

  afterAll(async () => {
    await Promise.all(beds.map((bed) => bed.close()));
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('lists every live bridge of the app in one hash key, with open streams; the admin route shows them', async () => {
    const [first, second] = beds as [Bed, Bed];
    const keys = first.seenn.context.keys;
    const listed = await waitFor(
      async () => {
        const bridges = await readBridges(redis, keys);
        return bridges.length === 2 ? bridges : null;
      },
      { what: 'both bridges to register' },
    );
    expect(await redis.type(keys.bridges())).toBe('hash');
    for (const bridge of listed) {
      expect(bridge).toMatchObject({ host: expect.any(String) as string, pid: process.pid, streams: 0 });
      expect(Date.parse(bridge.startedAt)).toBeLessThanOrEqual(Date.parse(bridge.seenAt));
    }
    const client = new RecordingEventSource(`${second.origin}/v1/sse`, {
      token: await second.seenn.tokens.issue({ userId: 'u2' }),
    });
    try {
      await waitFor(() => client.ofType('connected').length === 1, { what: 'the stream to open' });
      // The entry is refreshed every heartbeat (5 s by default); the admin view reads the registry.
      const answer = await waitFor(
        async () => {
          const view = await call(`${first.origin}/admin/api/bridges`, { token: ADMIN_TOKEN });
          const bridges = view.body['bridges'] as { streams: number }[];
          return bridges.some((bridge) => bridge.streams === 1) ? bridges : null;
        },
        { what: 'the open stream to show', timeoutMs: 12_000, intervalMs: 250 },
      );
      expect(answer.map((bridge) => bridge.streams).sort()).toEqual([0, 1]);
    } finally {
      client.close();
    }
    expect((await call(`${first.origin}/admin/api/bridges`)).status).toBe(401);
  });

  it('a closed bridge leaves at once; a dead one (no refresh) drops out after its TTL', async () => {
    const keys = (beds[0] as Bed).seenn.context.keys;
    await (beds.pop() as Bed).close();
    expect(await readBridges(redis, keys)).toHaveLength(1);
    const registry = new BridgeRegistryStore(redis, keys);
    const dead = new BridgeRegistration(registry, () => 0, silentLogger, { heartbeatMs: 60_000, ttlMs: 300 });
    await dead.refresh();
    expect((await readBridges(redis, keys)).map((bridge) => bridge.id)).toContain(dead.id);
    await waitFor(async () => !(await readBridges(redis, keys)).some((bridge) => bridge.id === dead.id), {
      what: 'the dead bridge to expire',
    });
    // The next refresh of a live bridge also deletes the expired entry from the hash.
    const live = new BridgeRegistration(registry, () => 0, silentLogger);
    await live.refresh();
    expect(await redis.hexists(keys.bridges(), dead.id)).toBe(0);
    await live.stop();
  });
});
