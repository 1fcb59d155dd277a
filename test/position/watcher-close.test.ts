/**
 * `PositionWatcher.close()` (and so a bridge's and `seenn.close()`) returns while a tick waits on a
 * Redis that hangs (SIGSTOP: the socket stays open, nothing answers), and that tick emits nothing
 * (no `position`, no `tick`) when Redis answers again after the close.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Seenn } from '../../src/index.js';
import { PositionWatcher, type PositionUpdate } from '../../src/position/index.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { nextEvent, waitFor } from '../helpers/wait.js';

/** The failure condition: close must settle well within this. */
const CLOSE_LIMIT_MS = 8_000;
let server: RedisServer | undefined;

afterAll(async () => {
  server?.process.kill('SIGCONT');
  await server?.stop(1_000);
});

/**
 * Bytes the Redis on `serverPort` has not read yet from the client at `clientPort` (the kernel's
 * receive queue of that connection, `/proc/net/tcp`), or 0 when there is no such connection.
 */
function unreadBytes(serverPort: number, clientPort: number): number {
  const hex = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const [, local, remote, , queues] = line.trim().split(/\s+/);
    if (local?.endsWith(`:${hex(serverPort)}`) && remote?.endsWith(`:${hex(clientPort)}`))
      return parseInt((queues ?? '0:0').split(':')[1] ?? '0', 16);
  }
  return 0;
}

describe('PositionWatcher.close() while Redis hangs', () => {
  it('settles while a tick waits on Redis, and nothing is emitted after it', { timeout: 40_000 }, async () => {
    server = await startRedisServer();
    const port = Number(new URL(server.url).port);
    const redis = new Redis(server.url, { maxRetriesPerRequest: null });
    const seenn = new Seenn({ connection: redis, prefix: 'hang' });
    const job = await seenn.jobs.start({ queue: 'hang', userId: 'u1', jobType: 'render', title: 'Watched' });
    const watcher = new PositionWatcher(seenn.context, { positionIntervalMs: 10 });
    const updates: PositionUpdate[] = [];
    let ticks = 0;
    watcher.on('tick', () => (ticks += 1));
    const first = nextEvent<[PositionUpdate]>(watcher, 'position');
    watcher.on('position', (update) => updates.push(update));
    watcher.watch('u1', job.id);
    expect((await first)[0].job.queue).toMatchObject({ position: 1 });
    // The job is looked up again every 10 ms: the next tick's commands wait in the stopped Redis.
    server.process.kill('SIGSTOP');
    const clientPort = (redis as unknown as { stream: { localPort: number } }).stream.localPort;
    await waitFor(() => unreadBytes(port, clientPort) > 0, {
      what: "a tick's command to wait, unread, in the stopped Redis",
    });
    const seen = { updates: updates.length, ticks };
    let timer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      watcher.close().then(() => 'closed'),
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('still waiting'), CLOSE_LIMIT_MS);
      }),
    ]);
    clearTimeout(timer);
    expect(settled).toBe('closed');

    // Redis answers again: the cut-short tick finishes unseen. A PING sent now is answered after it
    // (one connection, in order), and a watcher still running would have ticked again by then.
    server.process.kill('SIGCONT');
    await redis.ping();
    await waitFor(() => unreadBytes(port, clientPort) === 0, { what: 'Redis to read everything sent' });
    await redis.ping();
    expect({ updates: updates.length, ticks }).toEqual(seen);
    await seenn.close();
    await redis.quit();
  });
});
