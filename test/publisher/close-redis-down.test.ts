/**
 * `seenn.close()` with a running publisher returns promptly while Redis is down (killed, or hung), and
 * leaves no socket or timer keeping the process alive. Exactly-once is untouched: a read whose commit
 * never completed is not checkpointed, and the next publisher re-reads it (the snapshots' source-event
 * versions make the re-applied events no-ops) — the last test checks that across the outage.
 */
import { Socket } from 'node:net';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Seenn, derivedJobId } from '../../src/index.js';
import { SeennKeys } from '../../src/store/keys.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { describeByData } from './harness-describe.js';

const QUEUE = 'close-down';
/** The failure condition: close must settle well within this (it hung until Redis was back before). */
const CLOSE_LIMIT_MS = 10_000;
let server: RedisServer | undefined;

afterEach(async () => {
  if (server !== undefined) {
    server.process.kill('SIGCONT');
    await server.stop(1_000);
    server = undefined;
  }
});

/** Resolves with how long `promise` took, or rejects when it has not settled within `limitMs`. */
async function settlesWithin(promise: Promise<unknown>, limitMs: number): Promise<number> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${limitMs} ms`)), limitMs);
  });
  try {
    await Promise.race([promise, limit]);
    return Date.now() - started;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * How many sockets to `port` keep the event loop alive. A dropped connection to a hung Redis (no FIN
 * comes back) is destroyed by ioredis after its `disconnectTimeout` (2 s by default), hence the 5 s
 * allowed below. (`process._getActiveHandles` is undocumented but stable; `getActiveResourcesInfo`
 * only gives names, which cannot tell this test's sockets from others.)
 */
function socketsTo(port: number): number {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter((handle) => handle instanceof Socket && !handle.destroyed && handle.remotePort === port).length;
}

/**
 * Closes the test's own `queue` and waits until its socket is gone. Redis answers the QUIT and only then
 * closes the connection: stopped (SIGSTOP) in between, it would leave that socket open and make the
 * test blame Seenn for it.
 */
async function closeQueue({ queue, queueConnection }: { queue: Queue; queueConnection: Redis }): Promise<void> {
  await queue.close();
  await queueConnection.quit();
  await waitFor(() => queueConnection.stream.destroyed, { what: "the test queue's socket to close" });
}

/** A Seenn instance that opens its own connection, and a publisher on QUEUE reading jobs added to it. */
async function runningPublisher(
  redis: RedisServer,
): Promise<{ seenn: Seenn; queue: Queue; queueConnection: Redis; ids: string[] }> {
  const seenn = new Seenn({
    connection: { host: '127.0.0.1', port: redis.port, retryStrategy: () => 50 },
  });
  const publisher = seenn.publisher({ queues: [QUEUE], describe: describeByData, blockMs: 200, leaseMs: 2_000 });
  await publisher.start();
  // The test's own connection (BullMQ leaves a given one open), so that the test can see its socket close.
  const queueConnection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue(QUEUE, { connection: queueConnection });
  const first = await queue.add('first', { userId: 'ulla', title: 'First' });
  await waitFor(async () => (await seenn.jobs.get(derivedJobId(QUEUE, first.id as string))) !== null, {
    what: 'the publisher to apply the first job',
  });
  // More events in flight while Redis goes away.
  const more = await queue.addBulk(
    Array.from({ length: 200 }, (_, i) => ({ name: 'more', data: { userId: 'ulla', title: `${i}` } })),
  );
  const ids = [first, ...more].map((job) => derivedJobId(QUEUE, job.id as string));
  return { seenn, queue, queueConnection, ids };
}

describe('seenn.close() with a running publisher while Redis is down', () => {
  it('returns promptly when redis-server was killed, and leaves no socket open', { timeout: 30_000 }, async () => {
    server = await startRedisServer();
    const running = await runningPublisher(server);
    await closeQueue(running);
    const { seenn, ids } = running;
    server.process.kill('SIGKILL');
    await server.stop();
    const { port } = server;
    server = undefined;
    // A read pending while Redis is away (as a request in flight would be; the publisher's lease
    // renewals queue the same way): it waits in ioredis's offline queue, where a QUIT would wait behind it.
    // (ioredis leaves a command queued offline on a connection dropped while it reconnects unsettled:
    // no handle keeps the process alive for it, but it never rejects.)
    seenn.jobs.get(ids[0] as string).catch(() => undefined);
    const ms = await settlesWithin(seenn.close(), CLOSE_LIMIT_MS);
    expect(ms).toBeLessThan(CLOSE_LIMIT_MS);
    await waitFor(() => socketsTo(port) === 0, { what: 'every socket Seenn opened to be closed', timeoutMs: 5_000 });
  });

  it('returns promptly when redis-server hangs (SIGSTOP), and leaves no socket open', { timeout: 30_000 }, async () => {
    server = await startRedisServer();
    const running = await runningPublisher(server);
    await closeQueue(running);
    const { seenn } = running;
    server.process.kill('SIGSTOP');
    const { port } = server;
    const ms = await settlesWithin(seenn.close(), CLOSE_LIMIT_MS);
    expect(ms).toBeLessThan(CLOSE_LIMIT_MS);
    await waitFor(() => socketsTo(port) === 0, { what: 'every socket Seenn opened to be closed', timeoutMs: 5_000 });
  });

  it(
    'a read cut short by close is read again by the next publisher: every job once in the replay stream',
    { timeout: 60_000 },
    async () => {
      server = await startRedisServer();
      const running = await runningPublisher(server);
      await closeQueue(running);
      const { seenn, ids } = running;
      server.process.kill('SIGSTOP');
      await settlesWithin(seenn.close(), CLOSE_LIMIT_MS);
      server.process.kill('SIGCONT');

      const next = new Seenn({ connection: { host: '127.0.0.1', port: server.port } });
      await next.publisher({ queues: [QUEUE], describe: describeByData, blockMs: 200, leaseMs: 2_000 }).start();
      await waitFor(
        async () => {
          const jobs = await Promise.all(ids.map((id) => next.jobs.get(id)));
          return jobs.every((job) => job?.status === 'queued');
        },
        { what: "the next publisher to apply every job (once the first one's leases expired)", timeoutMs: 30_000 },
      );
      const redis = new Redis(server.url);
      const entries = await redis.xrange(new SeennKeys('bull', 'default').stream('ulla'), '-', '+');
      await redis.quit();
      const perJob = new Map<string, number>();
      for (const [, fields] of entries) {
        const data = fields[fields.indexOf('d') + 1] as string;
        const { id } = JSON.parse(data) as { id: string };
        perJob.set(id, (perJob.get(id) ?? 0) + 1);
      }
      // Each job only was added: one change each, none lost, none written twice.
      expect(ids.map((id) => perJob.get(id) ?? 0)).toEqual(ids.map(() => 1));
      expect(entries).toHaveLength(ids.length);
      await next.close();
    },
  );
});
