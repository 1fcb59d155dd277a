/**
 * A Seenn bridge in its own process, for the connection and reconnect-storm benchmarks: Express on
 * `127.0.0.1` (port `BENCH_PORT`, or a free one) with the bridge at `/v1`. Forked with an IPC channel
 * (see {@link spawnBenchBridge}); it answers:
 * - `{ type: 'stats' }` → `{ type: 'stats', rssBytes, heapUsedBytes, externalBytes, cpuUs, streams, hubMessages }`
 *   (`cpuUs`: `process.cpuUsage()` user + system so far, µs);
 * - `{ type: 'gc' }` → two full garbage collections, then `{ type: 'gc-done' }`;
 * - `{ type: 'heap-snapshot', path }` → a V8 heap snapshot written to `path`, then `{ type: 'heap-snapshot-done', path }`.
 * Env: BENCH_REDIS_URL, BENCH_PREFIX, BENCH_SECRET, BENCH_BRIDGE_OPTIONS (JSON), BENCH_PORT; the parent's
 * BENCH_BRIDGE_NODE_ARGS adds Node flags to the bridge process (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`);
 * the parent's BENCH_ATTACH=1 serves the bridge's paths ahead of Express (`bridge.attach(server)`). BENCH_BACKLOG sets the listen backlog.
 * SIGTERM closes it; it also exits when its parent goes away (the IPC channel closes).
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeHeapSnapshot } from 'node:v8';
import express from 'express';
import { Redis } from 'ioredis';
import { Seenn } from '../../src/seenn.js';
import { forkTs, nextMessage } from './processes.js';

/** The bridge's listen backlog: BENCH_BACKLOG, else 16,384 (the kernel caps it at `net.core.somaxconn`; raise that too, see bench/README issue 15). */
export const LISTEN_BACKLOG = Number(process.env['BENCH_BACKLOG'] ?? 16_384);

/** A bridge process started by {@link spawnBenchBridge}. */
export interface BenchBridge {
  child: ChildProcess;
  pid: number;
  port: number;
}

/** Stats a bridge process reports. */
export interface BridgeProcessStats {
  type: 'stats';
  rssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  cpuUs: number;
  streams: number;
  hubMessages: number;
}

/** Forks a bridge process (with `--expose-gc`) and waits until it listens. */
export async function spawnBenchBridge(options: {
  redisUrl: string;
  prefix: string;
  secret: string;
  bridgeOptions: Record<string, unknown>;
  port?: number;
}): Promise<BenchBridge> {
  const child = forkTs(
    new URL(import.meta.url),
    {
      BENCH_ROLE: 'bridge',
      BENCH_REDIS_URL: options.redisUrl,
      BENCH_PREFIX: options.prefix,
      BENCH_SECRET: options.secret,
      BENCH_BRIDGE_OPTIONS: JSON.stringify(options.bridgeOptions),
      BENCH_PORT: String(options.port ?? 0),
    },
    // BENCH_BRIDGE_NODE_ARGS adds Node flags, e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the bridge.
    ['--expose-gc', ...(process.env['BENCH_BRIDGE_NODE_ARGS'] ?? '').split(' ').filter(Boolean)],
  );
  const ready = await nextMessage<{ type: 'ready'; port: number }>(child, 'ready', 30_000);
  return { child, pid: child.pid as number, port: ready.port };
}

async function serve(): Promise<void> {
  const url = process.env['BENCH_REDIS_URL'];
  const prefix = process.env['BENCH_PREFIX'];
  const secret = process.env['BENCH_SECRET'];
  if (!url || !prefix || !secret)
    throw new Error('bridge-process needs BENCH_REDIS_URL, BENCH_PREFIX and BENCH_SECRET');
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  // Lost connections are retried by ioredis (the chaos soak restarts Redis under the bridge).
  redis.on('error', () => undefined);
  const seenn = new Seenn({ connection: redis, prefix, tokenSecret: secret });
  const app = express();
  const router = seenn.bridge(
    JSON.parse(process.env['BENCH_BRIDGE_OPTIONS'] ?? '{}') as Parameters<Seenn['bridge']>[0],
  );
  app.use('/v1', router);
  const server = http.createServer(app);
  // BENCH_ATTACH=1: the bridge's paths are served ahead of Express (`bridge.attach`, issue 15).
  if (process.env['BENCH_ATTACH'] === '1') router.bridge.attach(server, { basePath: '/v1' });
  server.listen({ port: Number(process.env['BENCH_PORT'] ?? 0), host: '127.0.0.1', backlog: LISTEN_BACKLOG });
  await once(server, 'listening');

  const collect = (global as { gc?: () => void }).gc;
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'stats') {
      const memory = process.memoryUsage();
      const cpu = process.cpuUsage();
      const stats = router.bridge.stats;
      const reply: BridgeProcessStats = {
        type: 'stats',
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        externalBytes: memory.external,
        cpuUs: cpu.user + cpu.system,
        streams: stats.streams,
        hubMessages: stats.hub.messages,
      };
      process.send?.(reply);
    } else if (message.type === 'heap-snapshot') {
      const path = writeHeapSnapshot((message as { path?: string }).path);
      process.send?.({ type: 'heap-snapshot-done', path });
    } else if (message.type === 'gc') {
      collect?.();
      collect?.();
      process.send?.({ type: 'gc-done' });
    }
  });
  process.once('disconnect', () => process.exit(0));
  process.once('SIGTERM', () => {
    void (async () => {
      await seenn.close();
      server.closeAllConnections();
      server.close();
      await redis.quit();
      process.exit(0);
    })();
  });
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port });
}

if (process.env['BENCH_ROLE'] === 'bridge' && process.send !== undefined) await serve();
