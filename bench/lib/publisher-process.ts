/**
 * A Seenn publisher in its own process (the overhead and reconnect-storm benchmarks run it apart from
 * the worker, as production does). Forked with an IPC channel (see {@link spawnBenchPublisher}); it
 * sends `{ type: 'ready' }` once started and `{ type: 'resync', queue, jobs, durationMs }` / `{ type: 'error', message }`
 * when the publisher reports one. Env: BENCH_REDIS_URL, BENCH_PREFIX, BENCH_QUEUES (comma-separated).
 * `{ type: 'stats' }` → `{ type: 'stats', rssBytes, heapUsedBytes }`; `{ type: 'gc' }` → two full garbage
 * collections (when started with `--expose-gc`, see `nodeArgs`), then `{ type: 'gc-done' }`.
 * SIGTERM closes it; it also exits when its parent goes away. BENCH_PUBLISHER_NODE_ARGS adds Node flags
 * (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`); BENCH_PUBLISHER_OPTIONS more publisher options as JSON
 * (`publisherOptions` of {@link spawnBenchPublisher} sets it for one process).
 */
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import type { PublisherOptions } from '../../src/publisher/index.js';
import { Seenn } from '../../src/seenn.js';
import { forkTs, nextMessage } from './processes.js';

/** A publisher process started by {@link spawnBenchPublisher}. */
export interface BenchPublisher {
  child: ChildProcess;
  pid: number;
  /**
   * Re-syncs (events trimmed before they were read), the jobs they rebuilt and the ms they took, and
   * the errors the publisher reported so far.
   */
  counters: { resyncs: number; resyncJobs: number; resyncMs: number; errors: number };
}

/** Memory of a publisher process, as it reports it. */
export interface PublisherProcessStats {
  type: 'stats';
  rssBytes: number;
  heapUsedBytes: number;
}

/**
 * Forks a publisher process for `queues` and waits until it has started (at most `readyTimeoutMs`).
 * `printErrors: false` only counts the errors the publisher reports (the chaos soak causes many).
 */
export async function spawnBenchPublisher(options: {
  redisUrl: string;
  prefix: string;
  queues: readonly string[];
  publisherOptions?: Omit<PublisherOptions, 'queues' | 'describe'>;
  printErrors?: boolean;
  readyTimeoutMs?: number;
  /** More Node flags for this process (e.g. `--expose-gc`), after BENCH_PUBLISHER_NODE_ARGS. */
  nodeArgs?: readonly string[];
}): Promise<BenchPublisher> {
  const child = forkTs(
    new URL(import.meta.url),
    {
      BENCH_ROLE: 'publisher',
      BENCH_REDIS_URL: options.redisUrl,
      BENCH_PREFIX: options.prefix,
      BENCH_QUEUES: options.queues.join(','),
      ...(options.publisherOptions === undefined
        ? {}
        : { BENCH_PUBLISHER_OPTIONS: JSON.stringify(options.publisherOptions) }),
    },
    // BENCH_PUBLISHER_NODE_ARGS adds Node flags, e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the publisher.
    [...(process.env['BENCH_PUBLISHER_NODE_ARGS'] ?? '').split(' ').filter(Boolean), ...(options.nodeArgs ?? [])],
  );
  const counters = { resyncs: 0, resyncJobs: 0, resyncMs: 0, errors: 0 };
  child.on('message', (message: { type?: string; message?: string; jobs?: number; durationMs?: number }) => {
    if (message.type === 'resync') {
      counters.resyncs += 1;
      counters.resyncJobs += message.jobs ?? 0;
      counters.resyncMs += message.durationMs ?? 0;
    }
    if (message.type === 'error') {
      counters.errors += 1;
      if (options.printErrors !== false) process.stderr.write(`publisher process: ${message.message ?? ''}\n`);
    }
  });
  await nextMessage(child, 'ready', options.readyTimeoutMs ?? 30_000);
  return { child, pid: child.pid as number, counters };
}

async function run(): Promise<void> {
  const url = process.env['BENCH_REDIS_URL'];
  const prefix = process.env['BENCH_PREFIX'];
  const queues = (process.env['BENCH_QUEUES'] ?? '').split(',').filter(Boolean);
  if (!url || !prefix || queues.length === 0)
    throw new Error('publisher-process needs BENCH_REDIS_URL, BENCH_PREFIX and BENCH_QUEUES');
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  // Lost connections are retried by ioredis and reported by the publisher's own 'error' event.
  redis.on('error', () => undefined);
  const seenn = new Seenn({ connection: redis, prefix });
  // BENCH_PUBLISHER_OPTIONS: more publisher options as JSON (e.g. '{"concurrency":64,"batchSize":2000}').
  const extra = JSON.parse(process.env['BENCH_PUBLISHER_OPTIONS'] ?? '{}') as Omit<PublisherOptions, 'queues'>;
  const publisher = seenn.publisher({ ...extra, queues });
  publisher.on('resync', (info) =>
    process.send?.({ type: 'resync', queue: info.queue, jobs: info.jobs, durationMs: info.durationMs }),
  );
  publisher.on('error', (error) => process.send?.({ type: 'error', message: error.message }));
  await publisher.start();
  const collect = (global as { gc?: () => void }).gc;
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'stats') {
      const memory = process.memoryUsage();
      const reply: PublisherProcessStats = { type: 'stats', rssBytes: memory.rss, heapUsedBytes: memory.heapUsed };
      process.send?.(reply);
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
      await redis.quit();
      process.exit(0);
    })();
  });
  process.send?.({ type: 'ready' });
}

if (process.env['BENCH_ROLE'] === 'publisher' && process.send !== undefined) await run();
