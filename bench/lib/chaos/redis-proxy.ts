/**
 * A TCP proxy in front of Redis, in its own process, that every process of the chaos soak connects
 * through. It forwards bytes both ways and, on command over IPC:
 * - `{ type: 'stall', ms }`: stops moving bytes both ways for `ms` (connections stay open, new ones
 *   are accepted but wait too), like a Redis that hangs or a network that drops packets →
 *   `{ type: 'stalled' }` at once;
 * - `{ type: 'drop' }`: destroys every connection (both sides) → `{ type: 'dropped', connections }`.
 * When Redis is down the upstream connect fails and the client side is closed, as a real Redis
 * restart looks to a client. Sends `{ type: 'ready', port }` once listening on `127.0.0.1`. Env:
 * BENCH_UPSTREAM_PORT. Exits when its parent goes away.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { forkTs, nextMessage, request } from '../processes.js';

/** The proxy process, as its parent drives it. */
export interface RedisProxy {
  child: ChildProcess;
  port: number;
  /** Stalls every connection for `ms` (resolves when the stall has begun). */
  stall(ms: number): Promise<void>;
  /** Drops every connection; resolves how many pairs were dropped. */
  drop(): Promise<number>;
}

/** Forks the proxy process in front of the Redis on `upstreamPort`. */
export async function spawnRedisProxy(upstreamPort: number): Promise<RedisProxy> {
  const child = forkTs(new URL(import.meta.url), {
    BENCH_ROLE: 'redis-proxy',
    BENCH_UPSTREAM_PORT: String(upstreamPort),
  });
  const { port } = await nextMessage<{ type: 'ready'; port: number }>(child, 'ready', 30_000);
  return {
    child,
    port,
    async stall(ms) {
      await request(child, { type: 'stall', ms }, 'stalled', 10_000);
    },
    async drop() {
      return (await request<{ type: 'dropped'; connections: number }>(child, { type: 'drop' }, 'dropped', 10_000))
        .connections;
    },
  };
}

/** One client connection and its upstream. */
interface Pair {
  client: net.Socket;
  upstream: net.Socket;
}

async function serve(): Promise<void> {
  const upstreamPort = Number(process.env['BENCH_UPSTREAM_PORT']);
  if (!Number.isInteger(upstreamPort) || upstreamPort <= 0) throw new Error('redis-proxy needs BENCH_UPSTREAM_PORT');
  const pairs = new Set<Pair>();
  let stalledUntil = 0;
  let stallTimer: NodeJS.Timeout | undefined;

  const stalled = (): boolean => Date.now() < stalledUntil;
  /** Moves `from`'s bytes to `to`, holding them while stalled and while `to` is full. */
  const forward = (from: net.Socket, to: net.Socket): void => {
    from.on('data', (data: Buffer) => {
      if (!to.write(data) || stalled()) from.pause();
    });
    to.on('drain', () => {
      if (!stalled()) from.resume();
    });
  };
  const resumeAll = (): void => {
    for (const pair of pairs) {
      if (!pair.client.writableNeedDrain) pair.upstream.resume();
      if (!pair.upstream.writableNeedDrain) pair.client.resume();
    }
  };

  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: upstreamPort });
    const pair: Pair = { client, upstream };
    pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    if (stalled()) {
      client.pause();
      upstream.pause();
    }
    forward(client, upstream);
    forward(upstream, client);
    const close = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  server.listen({ port: 0, host: '127.0.0.1', backlog: 1024 });
  await once(server, 'listening');

  process.on('message', (message: { type?: string; ms?: number }) => {
    if (message.type === 'stall') {
      stalledUntil = Math.max(stalledUntil, Date.now() + (message.ms ?? 0));
      for (const pair of pairs) {
        pair.client.pause();
        pair.upstream.pause();
      }
      clearTimeout(stallTimer);
      stallTimer = setTimeout(resumeAll, stalledUntil - Date.now());
      process.send?.({ type: 'stalled' });
    } else if (message.type === 'drop') {
      const connections = pairs.size;
      for (const pair of [...pairs]) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      pairs.clear();
      process.send?.({ type: 'dropped', connections });
    }
  });
  process.once('disconnect', () => process.exit(0));
  const address = server.address();
  process.send?.({ type: 'ready', port: typeof address === 'object' && address !== null ? address.port : 0 });
}

if (process.env['BENCH_ROLE'] === 'redis-proxy' && process.send !== undefined) await serve();
