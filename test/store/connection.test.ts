/**
 * `connection`: an ioredis Redis or Cluster instance, or options for either; anything else is a
 * coded `CONFIG_INVALID` error, never a silent default. Duplicates keep the kind and the servers.
 * (No server is needed: clients are created with `lazyConnect` and never connect.)
 */
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { Seenn } from '../../src/index.js';
import { capturingLogger } from '../helpers/logger.js';
import { waitFor } from '../helpers/wait.js';
import {
  checkConnection,
  duplicateConnection,
  isCluster,
  openConnection,
  ownCommandConnection,
  type RedisConnection,
} from '../../src/store/connection.js';

const opened: RedisConnection[] = [];
function track<T extends RedisConnection>(client: T): T {
  opened.push(client);
  return client;
}
afterEach(() => {
  for (const client of opened.splice(0)) client.disconnect();
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('connection', () => {
  it("gives a component its own command connection, never auto-pipelined (even when the app's is), and none on a Cluster", () => {
    const errors: Error[] = [];
    const app = track(new Redis({ lazyConnect: true, enableAutoPipelining: true, port: 6391 }));
    const own = ownCommandConnection(app, (error) => errors.push(error));
    expect(own).toBeInstanceOf(Redis);
    track(own as Redis);
    expect(own).not.toBe(app);
    // ioredis keeps one auto-pipeline in flight per connection: the publisher's commits would wait in turns.
    expect((own as Redis).options.enableAutoPipelining).toBe(false);
    expect((own as Redis).options.port).toBe(6391);
    (own as Redis).emit('error', new Error('heard'));
    expect(errors.map((error) => error.message)).toEqual(['heard']);
    const cluster = track(new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true }));
    expect(ownCommandConnection(cluster, () => undefined)).toBeNull();
  });

  it('uses a given Redis or Cluster instance as is, and never owns it', () => {
    const redis = track(new Redis({ lazyConnect: true }));
    const cluster = track(new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true }));
    expect(openConnection(redis)).toEqual({ redis, owned: false });
    expect(openConnection(cluster)).toEqual({ redis: cluster, owned: false });
    expect(isCluster(cluster)).toBe(true);
    expect(isCluster(redis)).toBe(false);
  });

  it('opens a Redis from RedisOptions and a Cluster from { cluster: { nodes, options } }, both with maxRetriesPerRequest null', () => {
    const single = openConnection({ host: '127.0.0.1', port: 6390, lazyConnect: true });
    track(single.redis);
    expect(single.owned).toBe(true);
    expect(single.redis).toBeInstanceOf(Redis);
    expect((single.redis as Redis).options.maxRetriesPerRequest).toBeNull();

    const many = openConnection({
      cluster: {
        nodes: [{ host: '127.0.0.1', port: 7000 }, '127.0.0.1:7001'],
        options: { lazyConnect: true, redisOptions: { password: 'p' } },
      },
    });
    track(many.redis);
    expect(many.owned).toBe(true);
    expect(many.redis).toBeInstanceOf(Cluster);
    const cluster = many.redis as Cluster;
    expect(cluster.options.redisOptions?.maxRetriesPerRequest).toBeNull();
    expect(cluster.options.redisOptions?.password).toBe('p');
  });

  it('duplicates a Cluster with its own start-up nodes (not the options as nodes) and a Redis with its own server', () => {
    const nodes = [
      { host: '127.0.0.1', port: 7000 },
      { host: '127.0.0.1', port: 7001 },
    ];
    const cluster = track(new Cluster(nodes, { lazyConnect: true, redisOptions: { username: 'u' } }));
    const copy = track(duplicateConnection(cluster));
    expect(copy).toBeInstanceOf(Cluster);
    expect((copy as unknown as { startupNodes: unknown }).startupNodes).toEqual(nodes);
    expect((copy as Cluster).options.redisOptions).toMatchObject({ username: 'u', maxRetriesPerRequest: null });

    const redis = track(new Redis({ host: '127.0.0.1', port: 6391, db: 2, lazyConnect: true }));
    const twin = track(duplicateConnection(redis));
    expect(twin).toBeInstanceOf(Redis);
    expect((twin as Redis).options).toMatchObject({ port: 6391, db: 2, maxRetriesPerRequest: null });
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a URL string', 'redis://127.0.0.1:6379'],
    ['a number', 6379],
    ['an array', [{ host: 'a', port: 1 }]],
    ['a class instance that is no ioredis client', new Map()],
    ['cluster mixed with other fields', { cluster: { nodes: [7000] }, host: 'x' }],
    ['cluster without nodes', { cluster: { nodes: [] } }],
    ['cluster with bad nodes', { cluster: { nodes: [{ host: 1 }] } }],
    ['cluster with an unknown field', { cluster: { nodes: [7000], startupNodes: [] } }],
    ['cluster options that are not an object', { cluster: { nodes: [7000], options: 'x' } }],
  ])('refuses %s with CONFIG_INVALID', (_label, connection) => {
    expect(codeOf(() => checkConnection(connection))).toBe('CONFIG_INVALID');
    // The constructor checks before it opens anything: no client to localhost:6379 is ever made.
    expect(codeOf(() => new Seenn({ connection: connection as never }))).toBe('CONFIG_INVALID');
  });

  it('Seenn accepts a Cluster instance and closes only what it opened', async () => {
    const cluster = track(new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true }));
    const seenn = new Seenn({ connection: cluster });
    expect(seenn.context.redis).toBe(cluster);
    const copy = seenn.context.duplicate();
    expect(copy).toBeInstanceOf(Cluster);
    await seenn.close();
    expect(cluster.status).toBe('wait');
  });

  it("a connection Seenn opened reports its errors to Seenn's logger; a given one keeps only the app's listeners", async () => {
    // A port nothing listens on: every connect attempt fails with ECONNREFUSED.
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as AddressInfo;
    probe.close();
    const lines: string[] = [];
    const seenn = new Seenn({
      connection: { host: '127.0.0.1', port, retryStrategy: () => 50 },
      logger: capturingLogger(lines),
    });
    try {
      expect(seenn.context.redis.listenerCount('error')).toBeGreaterThan(0);
      await waitFor(
        () => lines.some((line) => line.includes('redis connection error') && line.includes('ECONNREFUSED')),
        {
          what: 'the refused connect to reach the logger',
        },
      );
    } finally {
      await seenn.close();
    }
    const given = track(new Redis({ lazyConnect: true }));
    const before = given.listenerCount('error');
    const other = new Seenn({ connection: given });
    expect(given.listenerCount('error')).toBe(before);
    await other.close();
  });
});
