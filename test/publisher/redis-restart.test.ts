/**
 * Invariant 6: the publisher's loop survives a Redis restart: it never crashes the process and
 * carries on once Redis is back.
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Seenn, derivedJobId } from '../../src/index.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { describeByData } from './harness-describe.js';

const QUEUE = 'restart';
let server: RedisServer | undefined;

afterAll(async () => {
  await server?.stop();
});

describe('publisher across a Redis restart', () => {
  it('keeps running and publishes jobs added after Redis comes back', { timeout: 60_000 }, async () => {
    server = await startRedisServer();
    const { port } = server;
    const connect = (url: string): Redis =>
      new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 50 }).on('error', () => undefined);
    const connection = connect(server.url);
    const seenn = new Seenn({ connection });
    const publisher = seenn.publisher({
      queues: [QUEUE],
      describe: describeByData,
      blockMs: 100,
      leaseMs: 1_000,
      errorBackoffMs: 50,
    });
    await publisher.start();
    const queue = new Queue(QUEUE, { connection });
    const worker = new Worker(QUEUE, async () => 'ok', { connection: connect(server.url) });

    const before = await queue.add('before', { userId: 'rita', title: 'Before' });
    await waitFor(
      async () => (await seenn.jobs.get(derivedJobId(QUEUE, before.id as string)))?.status === 'completed',
      { what: 'the first job' },
    );

    await server.stop();
    server = await startRedisServer({ port });

    // The restarted Redis is empty (no persistence): the job below is the first of a new history.
    const after = await queue.add('after', { userId: 'rita', title: 'After' });
    const done = await waitFor(
      async () => {
        const job = await seenn.jobs.get(derivedJobId(QUEUE, after.id as string));
        return job?.status === 'completed' ? job : null;
      },
      { what: 'the job added after the restart', timeoutMs: 30_000 },
    );
    expect(done.result).toEqual({ data: { value: 'ok' } });

    await worker.close();
    await queue.close();
    await seenn.close();
    await connection.quit();
  });

  it('closes at once while Redis is down (the leases expire by themselves)', { timeout: 60_000 }, async () => {
    server ??= await startRedisServer();
    const { port } = server;
    const connection = new Redis(server.url, { maxRetriesPerRequest: null, retryStrategy: () => 50 }).on(
      'error',
      () => undefined,
    );
    const seenn = new Seenn({ connection });
    const publisher = seenn.publisher({ queues: [QUEUE], blockMs: 100, leaseMs: 1_000, errorBackoffMs: 50 });
    const held = new Promise<void>((resolve) => publisher.once('lease', () => resolve()));
    await publisher.start();
    await held;
    await server.stop();
    await waitFor(() => connection.status !== 'ready', { what: 'the connection to notice Redis is gone' });
    // Resolves without Redis: it does not wait for the loop's queued commands.
    await publisher.close();
    await seenn.close();
    connection.disconnect();
    server = await startRedisServer({ port });
  });
});
